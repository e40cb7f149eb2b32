"""The spend ledger through the real daemon: exact to the token, durable, never invented."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time
import uuid

import requests
from admin_harness import wait_until
from daemon_harness import run_cortex
from tenant_harness import PRICE, chat, chats_served, create_key, priced_env

from cortex.simulated import SimulatedOpenAI


def sse_usage(response: requests.Response) -> tuple[int, int]:
    """The usage in an OpenAI stream's chunks or in ``/api/chat``'s ``done`` event."""
    for line in response.text.splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        usage = json.loads(line[6:]).get("usage")
        if usage:
            return usage["prompt_tokens"], usage["completion_tokens"]
    raise AssertionError("no usage in the stream")


def test_the_spend_report_matches_the_usage_the_upstream_reported_to_the_token(
    cortex_daemon, primary
):
    cortex = cortex_daemon(priced_env(primary))
    created = create_key(cortex, team="search")
    key, auth = created["key"], {"Authorization": f"Bearer {created['key']}"}
    reported: list[tuple[int, int]] = []
    for n in range(3):
        usage = chat(cortex, key, words=f"whole answer number {n} please").json()["usage"]
        reported.append((usage["prompt_tokens"], usage["completion_tokens"]))
    for n in range(2):
        body = {
            "messages": [{"role": "user", "content": f"streamed answer {n}"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        reported.append(sse_usage(cortex.post("/v1/chat/completions", json=body, headers=auth)))
    body = {"messages": [{"role": "user", "content": "the original stream"}]}
    reported.append(sse_usage(cortex.post("/api/chat", json=body, headers=auth)))
    anthropic = {"model": "gpt-4o-mini", "max_tokens": 50, "messages": body["messages"]}
    usage = cortex.post("/v1/messages", json=anthropic, headers=auth).json()["usage"]
    reported.append((usage["input_tokens"], usage["output_tokens"]))

    spend = wait_until(
        lambda: (
            (s := cortex.get("/api/spend").json())["by_key"].get(created["id"], {}).get("requests")
            == len(reported)
            and s
        )
    )
    mine = spend["by_key"][created["id"]]
    tokens_in, tokens_out = sum(r[0] for r in reported), sum(r[1] for r in reported)

    assert (mine["tokens_in"], mine["tokens_out"]) == (tokens_in, tokens_out)
    assert abs(mine["cost"] - (tokens_in + tokens_out) * PRICE / 1e6) < 1e-9
    assert mine["team"] == "search"
    assert mine["by_worker"]["primary"]["requests"] == len(reported)
    assert mine["by_model"]["gpt-4o-mini"]["tokens_out"] == tokens_out
    assert sum(d["tokens_in"] for d in mine["by_day"].values()) == tokens_in
    assert spend["ledger"]["overflow"] == 0


def test_the_cli_and_the_metrics_report_the_same_spend(cortex_daemon, primary, tmp_path):
    db = str(tmp_path / "shared.db")
    cortex = cortex_daemon(priced_env(primary, db))
    created = create_key(cortex, rpm=100)
    usage = chat(cortex, created["key"]).json()["usage"]
    wait_until(lambda: cortex.get("/api/spend").json()["ledger"]["written"] == 1)

    done = run_cortex("spend", "--db", db)
    metrics = cortex.get("/metrics").text

    assert done.returncode == 0, done.stderr
    mine = json.loads(done.stdout)["by_key"][created["id"]]
    assert mine["tokens_in"] == usage["prompt_tokens"]
    assert f'cortex_gateway_key_requests_total{{key="{created["id"]}"}} 1.0' in metrics
    assert created["key"] not in metrics


def test_a_request_the_upstream_never_served_costs_nothing(cortex_daemon, primary):
    cortex = cortex_daemon(priced_env(primary))
    key = create_key(cortex, models=["gpt-4o-mini"], rpm=2)["key"]

    forbidden = chat(cortex, key, model="other")
    served = [chat(cortex, key, words=f"q {n}", model="gpt-4o-mini") for n in range(3)]
    wait_until(lambda: cortex.get("/api/spend").json()["ledger"]["written"] == 2)
    spend = cortex.get("/api/spend").json()

    assert forbidden.status_code == 403
    assert [s.status_code for s in served] == [200, 200, 429]
    assert [k["requests"] for k in spend["by_key"].values()] == [2]


def load(cortex, key: str, answered: dict[str, float], sent: set[str], stop: threading.Event):
    """Send chats one after another until ``stop``; note when each answer arrived."""
    session = requests.Session()
    while not stop.is_set():
        request_id = uuid.uuid4().hex
        sent.add(request_id)
        body = {"messages": [{"role": "user", "content": f"load {request_id}"}]}
        headers = {"Authorization": f"Bearer {key}", "X-Request-ID": request_id}
        try:
            response = session.post(
                cortex.url + "/v1/chat/completions", json=body, headers=headers, timeout=10
            )
        except requests.RequestException:
            return
        if response.status_code == 200:
            answered[request_id] = time.monotonic()


def test_kill_9_mid_load_loses_no_answer_older_than_a_second_and_invents_none(
    cortex_daemon, primary: SimulatedOpenAI, tmp_path
):
    db = tmp_path / "shared.db"
    cortex = cortex_daemon(priced_env(primary, str(db)))
    key = create_key(cortex)["key"]
    answered: dict[str, float] = {}
    sent: set[str] = set()
    stop = threading.Event()
    threads = [
        threading.Thread(target=load, args=(cortex, key, answered, sent, stop)) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    # Under load for two seconds, so answers a second older than the kill exist.
    wait_until(lambda: answered and min(answered.values()) <= time.monotonic() - 2.0, timeout=30)
    cortex.proc.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    cortex.proc.wait(10)
    stop.set()
    for thread in threads:
        thread.join(15)

    conn = sqlite3.connect(db)
    recorded = {row[0] for row in conn.execute("SELECT request_id FROM spend")}
    conn.close()
    old_enough = {rid for rid, at in answered.items() if at <= killed - 1.0}

    assert old_enough
    assert old_enough <= recorded
    assert recorded <= sent
    assert len(recorded) <= chats_served(primary)


def test_embeddings_are_limited_and_counted_like_chats(cortex_daemon, primary):
    cortex = cortex_daemon(priced_env(primary))
    created = create_key(cortex, rpm=1, models=["text-embedding-*"])
    auth = {"Authorization": f"Bearer {created['key']}"}
    body = {"model": "text-embedding-3-small", "input": ["one two three", "four five"]}

    first = cortex.post("/v1/embeddings", json=body, headers=auth)
    second = cortex.post("/v1/embeddings", json=body, headers=auth)
    spend = wait_until(lambda: cortex.get("/api/spend").json()["by_key"].get(created["id"]))

    assert first.status_code == 200, first.text
    assert second.status_code == 429
    assert spend["tokens_in"] == first.json()["usage"]["prompt_tokens"]
    assert spend["by_model"].keys() == {"text-embedding-3-small"}
