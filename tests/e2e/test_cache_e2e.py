"""The response cache through a real daemon: hits cost zero upstream calls, visibly.

Two daemons serve the module (one in front of a fast upstream, one in front of a slow
one); every test asks its own question, so tests never share cache entries.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import openai
import pytest
import requests
import sseclient
from cache_harness import (
    WAIT,
    cache_stats,
    chat_requests,
    deterministic,
    messages,
    openai_client,
    settled,
    start_daemon,
)
from daemon_harness import PRIMARY_KEYS, CortexProcess

from cortex.simulated import Fault, SimulatedOpenAI
from cortex.simulated.content import default_reply


@pytest.fixture(scope="module")
def primary() -> Iterator[SimulatedOpenAI]:
    with SimulatedOpenAI("primary", keys=PRIMARY_KEYS, chunk_delay=0.0) as server:
        yield server


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, primary) -> Iterator[CortexProcess]:
    process = start_daemon(tmp_path_factory, primary)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def slow_primary() -> Iterator[SimulatedOpenAI]:
    """An upstream slow enough that a request overlaps the next, or fails after its first token."""
    with SimulatedOpenAI("primary", keys=PRIMARY_KEYS, chunk_delay=0.02) as server:
        yield server


@pytest.fixture(scope="module")
def slow_daemon(tmp_path_factory, slow_primary) -> Iterator[CortexProcess]:
    process = start_daemon(tmp_path_factory, slow_primary)
    yield process
    process.stop()


@pytest.fixture
def sdk(daemon) -> Iterator[openai.OpenAI]:
    with openai_client(daemon) as client:
        yield client


@pytest.fixture
def prompt(request) -> str:
    """A question of this test's own, so no other test's answer is in the cache."""
    return f"What is the capital of France? ({request.node.name})"


def create(sdk, prompt, **extra):
    return sdk.chat.completions.with_raw_response.create(
        model="auto", messages=messages(prompt), temperature=0, **extra
    )


def stream_text(raw):
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return chunks, text


def api_chat(daemon, body, headers=None):
    """POST /api/chat and return (response headers, [(event, data), ...])."""
    response = daemon.post("/api/chat", json=body, headers=headers or {}, stream=True)
    assert response.status_code == 200
    events = [(e.event, json.loads(e.data)) for e in sseclient.SSEClient(response).events()]
    return response.headers, events


def test_a_repeated_request_is_served_from_the_cache_without_an_upstream_call(sdk, primary, prompt):
    first = create(sdk, prompt)
    second = create(sdk, prompt)

    assert first.headers["x-cortex-cache"] == "miss"
    assert second.headers["x-cortex-cache"] == "hit"
    assert second.headers["x-cortex-worker"] == first.headers["x-cortex-worker"] == "primary"
    one, two = first.parse(), second.parse()
    assert two.choices[0].message.content == one.choices[0].message.content
    assert "capital of France" in two.choices[0].message.content
    assert two.choices[0].finish_reason == one.choices[0].finish_reason == "stop"
    assert two.usage == one.usage
    assert two.model == one.model
    assert len(chat_requests(primary, prompt)) == 1


def test_a_streamed_hit_is_replayed_as_a_normal_stream_with_usage(sdk, primary, prompt):
    options = {"stream": True, "stream_options": {"include_usage": True}}
    live_chunks, live_text = stream_text(create(sdk, prompt, **options))
    replay = create(sdk, prompt, **options)
    replay_chunks, replay_text = stream_text(replay)

    assert replay.headers["x-cortex-cache"] == "hit"
    assert replay.headers["x-cortex-worker"] == "primary"
    assert replay_text == live_text
    assert "capital of France" in replay_text
    assert len(replay_chunks) == len(live_chunks)
    assert [c.choices[0].finish_reason for c in replay_chunks if c.choices][-1] == "stop"
    assert replay_chunks[-1].usage == live_chunks[-1].usage
    assert len(chat_requests(primary, prompt)) == 1


def test_a_streamed_answer_serves_a_later_non_streaming_request(sdk, primary, prompt):
    _, streamed = stream_text(create(sdk, prompt, stream=True))
    whole = create(sdk, prompt)

    assert whole.headers["x-cortex-cache"] == "hit"
    assert whole.parse().choices[0].message.content == streamed
    assert len(chat_requests(primary, prompt)) == 1


def test_a_different_question_misses(sdk, primary, prompt):
    create(sdk, prompt)
    other = create(sdk, prompt + " And of Spain?")
    assert other.headers["x-cortex-cache"] == "miss"
    assert len(chat_requests(primary, prompt)) == 2


def test_a_request_without_temperature_zero_bypasses_the_cache(sdk, primary, prompt):
    for _ in range(2):
        raw = sdk.chat.completions.with_raw_response.create(model="auto", messages=messages(prompt))
        assert raw.headers["x-cortex-cache"] == "bypass"
    assert len(chat_requests(primary, prompt)) == 2


def test_stats_count_hits_misses_and_entries(sdk, daemon, prompt):
    before = settled(daemon)  # an earlier test's answer may still be on its way in
    for _ in range(3):
        create(sdk, prompt)

    def counted(stats):
        return stats["hits"] - before["hits"] == 2 and stats["misses"] - before["misses"] == 1

    stats = cache_stats(daemon, until=counted)
    assert counted(stats)
    assert stats["enabled"] is True
    assert stats["entries"] == before["entries"] + 1
    assert stats["bytes"] > before["bytes"]
    assert stats["hit_ratio"] == pytest.approx(
        stats["hits"] / (stats["hits"] + stats["misses"]), abs=1e-4
    )


def test_api_chat_replays_a_hit_with_the_same_events(daemon, primary, prompt):
    live_headers, live = api_chat(daemon, deterministic(prompt))
    hit_headers, hit = api_chat(daemon, deterministic(prompt))

    assert (live_headers["X-Cortex-Cache"], hit_headers["X-Cortex-Cache"]) == ("miss", "hit")
    assert hit_headers["X-Cortex-Worker"] == "primary"
    assert hit == live
    assert hit[-1][0] == "done"
    assert hit[-1][1]["worker"] == "primary"
    assert hit[-1][1]["usage"]["completion_tokens"] > 0
    assert len(chat_requests(primary, prompt)) == 1


def test_api_chat_cache_false_neither_reads_nor_writes_the_cache(daemon, primary, prompt):
    api_chat(daemon, deterministic(prompt))
    headers, _ = api_chat(daemon, {**deterministic(prompt), "cache": False})
    assert headers["X-Cortex-Cache"] == "bypass"
    assert len(chat_requests(primary, prompt)) == 2


def test_a_cache_field_that_is_not_a_boolean_is_a_bad_request(daemon, prompt):
    response = daemon.post("/api/chat", json={**deterministic(prompt), "cache": "no"})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "'cache' must be of type boolean"


def test_no_cache_goes_upstream_and_refreshes_the_entry(sdk, primary, prompt):
    create(sdk, prompt)
    fresh = create(sdk, prompt, extra_headers={"Cache-Control": "no-cache"})
    after = create(sdk, prompt)

    assert fresh.headers["x-cortex-cache"] == "miss"
    assert after.headers["x-cortex-cache"] == "hit"
    assert len(chat_requests(primary, prompt)) == 2


def test_no_store_keeps_the_answer_out_of_the_cache(sdk, primary, prompt):
    first = create(sdk, prompt, extra_headers={"Cache-Control": "no-store"})
    second = create(sdk, prompt)

    assert (first.headers["x-cortex-cache"], second.headers["x-cortex-cache"]) == ("miss", "miss")
    assert len(chat_requests(primary, prompt)) == 2


def test_no_store_still_reads_a_cached_answer(sdk, primary, prompt):
    create(sdk, prompt)
    hit = create(sdk, prompt, extra_headers={"Cache-Control": "no-store"})
    assert hit.headers["x-cortex-cache"] == "hit"
    assert len(chat_requests(primary, prompt)) == 1


@pytest.mark.parametrize("fault", [Fault.DROP_MID_STREAM, Fault.STREAM_ERROR, Fault.ENDS_EARLY])
def test_a_stream_that_fails_midway_is_never_cached(slow_daemon, slow_primary, prompt, fault):
    slow_primary.set_fault(fault, times=1)
    _, broken = api_chat(slow_daemon, deterministic(prompt))
    assert broken[-1][0] == "error"

    retry_headers, retried = api_chat(slow_daemon, deterministic(prompt))
    hit_headers, _ = api_chat(slow_daemon, deterministic(prompt))

    assert retry_headers["X-Cortex-Cache"] == "miss"
    assert retried[-1][0] == "done"
    assert hit_headers["X-Cortex-Cache"] == "hit"
    assert len(chat_requests(slow_primary, prompt)) == 2


def test_a_plain_answer_that_ends_before_its_end_signal_is_neither_served_nor_cached(
    slow_daemon, slow_primary, prompt
):
    slow_primary.set_fault(Fault.ENDS_EARLY, times=1)
    broken = slow_daemon.post("/v1/chat/completions", json=deterministic(prompt))

    retried = slow_daemon.post("/v1/chat/completions", json=deterministic(prompt))
    hit = slow_daemon.post("/v1/chat/completions", json=deterministic(prompt))

    assert broken.status_code == 502
    assert "ended before the answer was complete" in broken.text
    whole = default_reply("primary", prompt)
    assert retried.headers["X-Cortex-Cache"] == "miss"
    assert retried.json()["choices"][0]["message"]["content"] == whole
    assert hit.headers["X-Cortex-Cache"] == "hit"
    assert hit.json()["choices"][0]["message"]["content"] == whole


@pytest.fixture
def long_reply(slow_primary) -> Iterator[str]:
    """A reply long enough (about a second) that later requests surely overlap it."""
    slow_primary.reply = " ".join(f"word{i}" for i in range(50))
    yield slow_primary.reply
    slow_primary.reply = None


def test_a_client_leaving_mid_answer_cancels_it_and_nothing_is_stored(
    slow_daemon, slow_primary, long_reply, prompt
):
    with requests.post(
        slow_daemon.url + "/v1/chat/completions",
        json={**deterministic(prompt), "stream": True},
        stream=True,
        timeout=WAIT,
    ) as response:
        assert response.headers["X-Cortex-Cache"] == "miss"
        next(response.iter_lines())
    deadline = time.monotonic() + WAIT
    while cache_stats(slow_daemon)["in_flight"]:
        assert time.monotonic() < deadline, "the abandoned answer was never cancelled"
        time.sleep(0.01)

    again = slow_daemon.post("/v1/chat/completions", json=deterministic(prompt))
    assert again.headers["X-Cortex-Cache"] == "miss"
    assert len(chat_requests(slow_primary, prompt)) == 2


def answer_text(response: requests.Response, *, streamed: bool) -> str:
    if not streamed:
        return response.json()["choices"][0]["message"]["content"]
    chunks = [
        json.loads(e.data) for e in sseclient.SSEClient(response).events() if e.data != "[DONE]"
    ]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


@pytest.mark.parametrize("streamed", [True, False], ids=["streaming", "non_streaming"])
def test_identical_requests_in_flight_share_one_upstream_request(
    slow_daemon, slow_primary, long_reply, prompt, streamed
):
    # The daemon is shared: an earlier test's answer may still be on its way into the cache.
    before = settled(slow_daemon)
    results: list[tuple[str, str, str]] = []
    lock = threading.Lock()

    def ask() -> None:
        response = requests.post(
            slow_daemon.url + "/v1/chat/completions",
            json={**deterministic(prompt), "stream": streamed},
            stream=streamed,
            timeout=WAIT,
        )
        text = answer_text(response, streamed=streamed)
        with lock:
            results.append(
                (response.headers["X-Cortex-Cache"], response.headers["X-Cortex-Worker"], text)
            )

    first = threading.Thread(target=ask)
    first.start()
    deadline = time.monotonic() + WAIT
    while not chat_requests(slow_primary, prompt):
        assert time.monotonic() < deadline, "the first request never reached the upstream"
        time.sleep(0.005)
    followers = [threading.Thread(target=ask) for _ in range(3)]
    for thread in followers:
        thread.start()
    for thread in [first, *followers]:
        thread.join(WAIT)

    assert sorted(status for status, _, _ in results) == ["coalesced"] * 3 + ["miss"], results
    assert {worker for _, worker, _ in results} == {"primary"}
    assert {text for _, _, text in results} == {long_reply}
    assert len(chat_requests(slow_primary, prompt)) == 1
    stats = cache_stats(
        slow_daemon,
        until=lambda s: s["coalesced"] - before["coalesced"] == 3 and s["in_flight"] == 0,
    )
    assert stats["coalesced"] - before["coalesced"] == 3
    assert stats["entries"] == before["entries"] + 1


def test_nondeterministic_requests_are_cached_when_configured(tmp_path_factory, primary, prompt):
    daemon = start_daemon(tmp_path_factory, primary, CORTEX_CACHE_NONDETERMINISTIC="1")
    try:
        body = {"messages": messages(prompt), "temperature": 0.9}
        statuses = [
            daemon.post("/v1/chat/completions", json=body).headers["X-Cortex-Cache"]
            for _ in range(2)
        ]
    finally:
        daemon.stop()
    assert statuses == ["miss", "hit"]


def test_the_cache_can_be_turned_off(tmp_path_factory, primary, prompt):
    daemon = start_daemon(tmp_path_factory, primary, CORTEX_CACHE_ENABLED="false")
    try:
        responses = [
            daemon.post("/v1/chat/completions", json=deterministic(prompt)) for _ in range(2)
        ]
        enabled = daemon.get("/api/stats").json()["cache"]["enabled"]
    finally:
        daemon.stop()
    assert all("X-Cortex-Cache" not in r.headers for r in responses)
    assert len(chat_requests(primary, prompt)) == 2
    assert enabled is False
