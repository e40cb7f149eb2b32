"""An answer is complete only when the provider said so, and a continued one reads as one answer.

Through a real daemon: an upstream whose body ends cleanly in the middle of an answer (no
finish reason, no ``[DONE]``) is a failure of that worker, never a success; a stream broken
off and continued on another worker reports the prompt once, every token the client
received, and every worker that wrote part of it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import sseclient
from daemon_harness import PRIMARY_KEYS, CortexProcess, providers_json
from prometheus_client.parser import text_string_to_metric_families

from cortex.simulated import Fault, SimulatedOpenAI

INCOMPLETE = "ended before the answer was complete"
QUESTION = "Hello there friend"
HELLO = {"messages": [{"role": "user", "content": QUESTION}]}
BACKUP_REPLY = f"Hello from backup! You said: {QUESTION}"
SLOW = 0.05  # seconds between chunks: the first token reaches Cortex before the fault


@pytest.fixture
def primary() -> Iterator[SimulatedOpenAI]:
    """The first-choice upstream, slow enough that Cortex commits to it before it breaks."""
    with SimulatedOpenAI("primary", keys=PRIMARY_KEYS, chunk_delay=SLOW) as server:
        yield server


def providers(primary: SimulatedOpenAI, backup: SimulatedOpenAI | None = None, **extra: Any) -> str:
    """``CORTEX_PROVIDERS`` for the upstreams; the backup may continue broken answers."""
    entries = json.loads(providers_json(primary, backup))
    if backup is not None:
        entries["backup"].update(supports_prefill=True, **extra)
    return json.dumps(entries)


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := predicate():
            return found
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def openai_chunks(response: requests.Response) -> list[dict[str, Any]]:
    return [
        json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: {")
    ]


def api_chat_events(daemon: CortexProcess, body: dict[str, Any]) -> list[tuple[str, Any]]:
    response = daemon.post("/api/chat", json=body, stream=True)
    assert response.status_code == 200
    return [(e.event, json.loads(e.data)) for e in sseclient.SSEClient(response).events()]


def access_line(daemon: CortexProcess, request_id: str) -> dict[str, Any]:
    """The request's access line; it is written just after the last byte is sent."""
    return wait_until(
        lambda: next(
            (e for e in daemon.events("request") if e.get("request_id") == request_id), None
        )
    )


def metric(daemon: CortexProcess, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(daemon.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def test_a_stream_that_ends_early_is_an_error_event_not_a_finished_answer(cortex_daemon, primary):
    primary.set_fault(Fault.ENDS_EARLY)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers(primary)})

    response = daemon.post("/v1/chat/completions", json={**HELLO, "stream": True})

    chunks = openai_chunks(response)
    errors = [c["error"] for c in chunks if "error" in c]
    assert [(e["type"], e["code"]) for e in errors] == [("upstream_error", "upstream_error")]
    assert INCOMPLETE in errors[0]["message"]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if "choices" in c)
    assert text == "Hello from"
    assert not [c for c in chunks if "choices" in c and c["choices"][0]["finish_reason"]]


def test_an_api_chat_stream_that_ends_early_ends_with_an_error_instead_of_done(
    cortex_daemon, primary
):
    primary.set_fault(Fault.ENDS_EARLY)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers(primary)})

    events = api_chat_events(daemon, HELLO)

    assert [name for name, _ in events] == ["message", "message", "error"]
    error = events[-1][1]
    assert (error["worker"], error["error"]["code"]) == ("primary", "upstream_error")
    assert INCOMPLETE in error["error"]["message"]


def test_a_plain_request_whose_answer_ends_early_is_served_whole_by_the_next_worker(
    cortex_daemon, primary, backup
):
    primary.set_fault(Fault.ENDS_EARLY)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers(primary, backup)})

    response = daemon.post("/v1/chat/completions", json=HELLO)

    assert response.status_code == 200
    assert response.headers["X-Cortex-Worker"] == "backup"
    choice = response.json()["choices"][0]
    assert (choice["message"]["content"], choice["finish_reason"]) == (BACKUP_REPLY, "stop")


def test_a_plain_answer_that_ends_early_with_nowhere_to_go_is_a_502_naming_why(
    cortex_daemon, primary
):
    primary.set_fault(Fault.ENDS_EARLY)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers(primary)})

    response = daemon.post("/v1/chat/completions", json=HELLO)

    assert response.status_code == 502
    [attempt] = response.json()["error"]["attempts"]
    assert (attempt["worker"], attempt["reason"]) == ("primary", "upstream_error")
    assert INCOMPLETE in attempt["message"]


def test_answers_that_end_early_count_against_the_workers_breaker(cortex_daemon, primary, backup):
    primary.set_fault(Fault.ENDS_EARLY)
    daemon = cortex_daemon(
        {
            "CORTEX_PROVIDERS": providers(primary, backup),
            "CORTEX_BREAKER_FAILURES": "2",
            "CORTEX_BREAKER_COOLDOWN": "600",
        }
    )

    for _ in range(2):
        assert daemon.post("/v1/chat/completions", json=HELLO).headers["X-Cortex-Worker"] == (
            "backup"
        )

    def breaker() -> str:
        listing = daemon.get("/api/workers").json()["workers"]
        return {w["name"]: w["breaker"] for w in listing}["primary"]

    wait_until(lambda: breaker() == "open")
    assert daemon.get("/api/stats").json()["workers"]["primary"]["keys"][0]["failures"] >= 1


def test_a_stream_that_ends_early_is_continued_by_a_prefill_capable_worker(
    cortex_daemon, primary, backup
):
    primary.set_fault(Fault.ENDS_EARLY)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers(primary, backup)})

    response = daemon.post("/v1/chat/completions", json={**HELLO, "stream": True})

    chunks = openai_chunks(response)
    assert not [c for c in chunks if "error" in c]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Hello from" + BACKUP_REPLY
    assert response.text.rstrip().endswith("data: [DONE]")


# --- a continued answer reads as one answer ----------------------------------------------


@pytest.fixture
def continuing(cortex_daemon, primary, backup) -> CortexProcess:
    """A daemon whose primary breaks every stream after two chunks and whose backup continues.

    The client receives 2 chunks from the primary and the backup's 8; the backup is sent
    the 3-word question plus the 2 delivered words, so it reports 5 prompt tokens.
    """
    primary.set_fault(Fault.DROP_MID_STREAM)
    return cortex_daemon({"CORTEX_PROVIDERS": providers(primary, backup)})


def test_a_continued_stream_counts_the_prompt_once_and_every_delivered_token(continuing):
    body = {**HELLO, "stream": True, "stream_options": {"include_usage": True}}

    chunks = openai_chunks(continuing.post("/v1/chat/completions", json=body))

    assert chunks[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 10, "total_tokens": 13}
    texts = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert len(texts) == 10
    assert [c["model"] for c in texts] == ["gpt-4o-mini"] * 2 + ["llama-3.1-8b-instant"] * 8


def test_a_continued_api_chat_answer_names_every_worker_in_its_done_event(continuing):
    events = api_chat_events(continuing, HELLO)

    name, done = events[-1]
    assert name == "done"
    assert (done["worker"], done["workers"]) == ("primary", ["primary", "backup"])
    assert done["finish_reason"] == "stop"
    assert done["usage"] == {"prompt_tokens": 3, "completion_tokens": 10, "total_tokens": 13}


def test_a_continued_answer_names_every_worker_in_the_access_log(continuing):
    continuing.post(
        "/v1/chat/completions", json={**HELLO, "stream": True}, headers={"X-Request-ID": "cont-1"}
    )

    line = access_line(continuing, "cont-1")

    assert (line["worker"], line["workers"]) == ("primary", ["primary", "backup"])
    assert (line["tokens_in"], line["tokens_out"], line["outcome"]) == (3, 10, "completed")


def test_a_continued_answer_is_counted_for_each_worker_that_wrote_part_of_it(continuing):
    continuing.post("/v1/chat/completions", json={**HELLO, "stream": True})

    first = {"worker": "primary", "model": "gpt-4o-mini"}
    then = {"worker": "backup", "model": "llama-3.1-8b-instant"}
    assert metric(continuing, "cortex_answers_total", **first, outcome="failed") == 1
    assert metric(continuing, "cortex_answers_total", **then, outcome="completed") == 1
    assert metric(continuing, "cortex_tokens_total", **first, direction="in") == 3
    assert metric(continuing, "cortex_tokens_total", **first, direction="out") == 2
    assert metric(continuing, "cortex_tokens_total", **then, direction="in") == 0
    assert metric(continuing, "cortex_tokens_total", **then, direction="out") == 8
    ttft = "cortex_time_to_first_token_seconds_count"
    assert metric(continuing, ttft, worker="backup") == 1
