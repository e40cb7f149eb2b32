"""The chaos faults of the simulated providers, seen at the raw HTTP level."""

from __future__ import annotations

import json
import time

import pytest
import requests

from cortex.simulated import Fault, SimulatedOllama, SimulatedOpenAI

KEY = "sk-chaos-key-000000000001"
BODY = {
    "model": "gpt-4o-mini",
    "stream": True,
    "messages": [{"role": "user", "content": "one two three four"}],
}


@pytest.fixture
def upstream():
    with SimulatedOpenAI("chaos", keys=(KEY,), chunk_delay=0.0) as server:
        yield server


def post(server, body=BODY, timeout=10):
    return requests.post(
        server.base_url + "/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=timeout,
    )


def data_lines(response):
    return [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]


def test_a_bare_rate_limit_has_no_retry_after_header(upstream):
    upstream.set_fault(Fault.RATE_LIMIT_BARE)
    response = post(upstream)
    assert response.status_code == 429
    assert "Retry-After" not in response.headers
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


def test_a_malformed_chunk_sits_among_good_ones(upstream):
    upstream.set_fault(Fault.MALFORMED_CHUNK)
    lines = data_lines(post(upstream))
    broken = [line for line in lines if line != "[DONE]" and not _parses(line)]
    assert len(broken) == 1
    assert lines[-1] == "[DONE]"


def test_a_stream_without_its_sentinel_ends_after_the_content_and_its_finish_reason(upstream):
    upstream.set_fault(Fault.NO_SENTINEL)
    lines = data_lines(post(upstream))
    assert "[DONE]" not in lines
    assert any('"content"' in line for line in lines)
    assert '"finish_reason":"stop"' in lines[-1]


def test_a_stream_that_ends_early_closes_cleanly_after_two_chunks_with_no_end_signal(upstream):
    upstream.set_fault(Fault.ENDS_EARLY)
    response = post(upstream)
    lines = data_lines(response)
    assert response.status_code == 200
    assert [json.loads(line)["choices"][0]["delta"]["content"] for line in lines] == [
        "",
        "Hello",
        " from",
    ]
    assert "[DONE]" not in lines
    assert not any('"finish_reason":"' in line for line in lines)


def test_a_slow_first_byte_answers_after_the_delay(upstream):
    upstream.slow_first_byte = 0.3
    upstream.set_fault(Fault.SLOW_FIRST_BYTE)
    started = time.monotonic()
    assert post(upstream).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_random_faults_follow_their_rates_reproducibly(upstream):
    upstream.set_random_faults({Fault.SERVER_ERROR: 0.5}, seed=3)
    first = [post(upstream, {**BODY, "stream": False}).status_code for _ in range(40)]
    upstream.set_random_faults({Fault.SERVER_ERROR: 0.5}, seed=3)
    second = [post(upstream, {**BODY, "stream": False}).status_code for _ in range(40)]
    assert first == second
    assert 8 <= first.count(500) <= 32


def test_random_rates_above_one_are_refused(upstream):
    with pytest.raises(ValueError, match="add up to at most 1"):
        upstream.set_random_faults({Fault.SERVER_ERROR: 0.7, Fault.HANG: 0.5})


def test_ollama_frames_its_malformed_chunk_as_a_bad_json_line():
    with SimulatedOllama("local", chunk_delay=0.0) as server:
        server.set_fault(Fault.MALFORMED_CHUNK)
        body = {"model": "llama3.1:8b", "messages": [{"role": "user", "content": "hi there"}]}
        lines = requests.post(
            server.base_url + "/api/chat", json=body, timeout=10
        ).text.splitlines()
    assert sum(not _parses(line) for line in lines) == 1


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def test_a_drip_feed_answers_at_once_then_sends_a_byte_at_a_time_without_end(upstream):
    upstream.drip_interval = 0.01
    upstream.set_fault(Fault.DRIP_FEED, probes=True, chat=False)
    with requests.get(
        upstream.base_url + "/models",
        headers={"Authorization": f"Bearer {KEY}"},
        stream=True,
        timeout=5,
    ) as response:
        assert response.status_code == 200
        pieces = response.iter_content(chunk_size=1)
        received = [next(pieces) for _ in range(5)]
    assert received == [b" "] * 5
    assert post(upstream).status_code == 200
