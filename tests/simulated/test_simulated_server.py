"""The shared server machinery, seen at the raw HTTP level (httpx, bounded timeouts)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping

import httpx
import pytest

import cortex.simulated
from cortex.simulated import Fault, SimulatedOpenAI, SimulatedServer

KEY = "sk-sim-key-1"
AUTH = {"Authorization": f"Bearer {KEY}"}
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
STREAM_BODY = {**BODY, "stream": True}


def post(
    http: httpx.Client, server: SimulatedOpenAI, body: Mapping[str, object], key: str = KEY
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    return http.post(f"{server.base_url}/chat/completions", json=body, headers=headers)


def test_every_exported_name_exists() -> None:
    for name in cortex.simulated.__all__:
        assert hasattr(cortex.simulated, name), name


def test_port_and_urls_follow_the_bound_port(openai_server: SimulatedOpenAI) -> None:
    assert openai_server.port > 0
    assert openai_server.url == f"http://127.0.0.1:{openai_server.port}"
    assert openai_server.base_url == f"{openai_server.url}/v1"


def test_port_is_unavailable_after_stop() -> None:
    server = SimulatedOpenAI().start()
    server.stop()
    server.stop()  # stopping twice is harmless
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.port


def test_starting_twice_is_an_error(openai_server: SimulatedOpenAI) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        openai_server.start()


def test_a_stopped_server_can_start_again(http: httpx.Client) -> None:
    server = SimulatedOpenAI()
    for _ in range(2):
        with server:
            assert post(http, server, BODY).status_code == 200


def test_a_taken_port_fails_start_with_a_runtime_error(openai_server: SimulatedOpenAI) -> None:
    with pytest.raises(RuntimeError, match="failed to start"):
        SimulatedOpenAI(port=openai_server.port).start()


def test_stream_is_server_sent_events_ending_in_done(
    openai_server: SimulatedOpenAI, http: httpx.Client
) -> None:
    response = post(http, openai_server, STREAM_BODY)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line for line in response.text.split("\n\n") if line]
    assert all(event.startswith("data: ") for event in events)
    assert events[-1] == "data: [DONE]"


def test_drop_mid_stream_sends_two_chunks_then_cuts_the_connection(
    openai_server: SimulatedOpenAI,
) -> None:
    openai_server.set_fault(Fault.DROP_MID_STREAM)
    received = bytearray()

    def read_all() -> None:
        url = f"{openai_server.base_url}/chat/completions"
        with httpx.stream("POST", url, json=STREAM_BODY, headers=AUTH, timeout=5) as response:
            for chunk in response.iter_bytes():
                received.extend(chunk)

    with pytest.raises(httpx.RemoteProtocolError):
        read_all()
    text = received.decode()
    assert text.count('"content":"Hello"') == 1
    assert text.count('"content":" from"') == 1
    assert "[DONE]" not in text
    assert 'finish_reason":"stop' not in text


def test_drop_on_a_non_streaming_request_sends_no_response(
    openai_server: SimulatedOpenAI, http: httpx.Client
) -> None:
    openai_server.set_fault(Fault.DROP_MID_STREAM)
    with pytest.raises(httpx.RemoteProtocolError):
        post(http, openai_server, BODY)


def test_ends_early_on_a_non_streaming_request_sends_half_a_body_and_ends_cleanly(
    openai_server: SimulatedOpenAI, http: httpx.Client
) -> None:
    whole = post(http, openai_server, BODY).content
    openai_server.set_fault(Fault.ENDS_EARLY)
    response = post(http, openai_server, BODY)
    assert response.status_code == 200
    assert 0 < len(response.content) < len(whole)
    assert whole.startswith(response.content[:12])
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_empty_stream_is_a_200_with_no_content(
    openai_server: SimulatedOpenAI, http: httpx.Client
) -> None:
    openai_server.set_fault(Fault.EMPTY_STREAM)
    response = post(http, openai_server, STREAM_BODY)
    assert response.status_code == 200
    assert '"content":"H' not in response.text
    assert response.text.endswith("data: [DONE]\n\n")


def test_empty_stream_on_a_non_streaming_request_is_a_200_with_an_empty_body(
    openai_server: SimulatedOpenAI, http: httpx.Client
) -> None:
    openai_server.set_fault(Fault.EMPTY_STREAM)
    response = post(http, openai_server, BODY)
    assert (response.status_code, response.content) == (200, b"")


def test_hang_answers_nothing_and_stop_is_still_prompt(http: httpx.Client) -> None:
    server = SimulatedOpenAI().start()
    server.set_fault(Fault.HANG)
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            post(http, server, BODY)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    waiting = threading.Thread(target=call)
    waiting.start()
    server.wait_for_requests(1, timeout=5)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server.base_url}/chat/completions", json=BODY, headers=AUTH, timeout=0.2)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1.0
    waiting.join(5)
    assert not waiting.is_alive()
    assert isinstance(outcome[0], httpx.RemoteProtocolError)


def test_hang_on_a_streaming_request_sends_not_even_headers(
    openai_server: SimulatedOpenAI, http: httpx.Client
) -> None:
    openai_server.set_fault(Fault.HANG, times=1)
    url = f"{openai_server.base_url}/chat/completions"
    with pytest.raises(httpx.ReadTimeout):
        http.post(url, json=STREAM_BODY, headers=AUTH, timeout=0.2)
    assert post(http, openai_server, STREAM_BODY).status_code == 200


def test_stop_cuts_a_slow_stream_short() -> None:
    server = SimulatedOpenAI(chunk_delay=10).start()
    with httpx.stream(
        "POST", f"{server.base_url}/chat/completions", json=STREAM_BODY, headers=AUTH, timeout=5
    ) as response:
        chunks = response.iter_bytes()
        assert b"Hello" in next(chunks) + next(chunks)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2.0
        with pytest.raises(httpx.RemoteProtocolError):
            list(chunks)


def test_rate_limit_every_limits_only_the_chosen_key(
    openai_server: SimulatedOpenAI, http: httpx.Client
) -> None:
    openai_server.set_rate_limit_every(2, key="sk-sim-key-2", retry_after=0.5)
    first = [post(http, openai_server, BODY, key="sk-sim-key-1").status_code for _ in range(4)]
    second = [post(http, openai_server, BODY, key="sk-sim-key-2") for _ in range(4)]
    assert first == [200] * 4
    assert [r.status_code for r in second] == [200, 429, 200, 429]
    assert second[1].headers["retry-after"] == "0.5"


def test_a_key_specific_fault_spares_the_other_keys(
    openai_server: SimulatedOpenAI, http: httpx.Client
) -> None:
    openai_server.set_fault(Fault.QUOTA, key="sk-sim-key-2")
    assert post(http, openai_server, BODY, key="sk-sim-key-1").status_code == 200
    assert post(http, openai_server, BODY, key="sk-sim-key-2").json()["error"]["code"] == (
        "insufficient_quota"
    )


def test_faults_spare_model_listing_unless_probes_is_set(
    openai_server: SimulatedOpenAI, http: httpx.Client
) -> None:
    openai_server.set_fault(Fault.SERVER_ERROR)
    assert http.get(f"{openai_server.base_url}/models", headers=AUTH).status_code == 200
    openai_server.set_fault(Fault.SERVER_ERROR, probes=True)
    assert http.get(f"{openai_server.base_url}/models", headers=AUTH).status_code == 500


def test_a_body_that_is_not_json_is_a_400(
    openai_server: SimulatedOpenAI, http: httpx.Client
) -> None:
    response = http.post(
        f"{openai_server.base_url}/chat/completions", content=b"{nope", headers=AUTH
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_the_request_log_keeps_every_request_until_reset(
    openai_server: SimulatedOpenAI, http: httpx.Client
) -> None:
    post(http, openai_server, BODY)
    http.get(f"{openai_server.base_url}/models?limit=1", headers={"Authorization": "Bearer x"})
    first, second = openai_server.requests
    assert (first.path, first.body, first.api_key) == ("/v1/chat/completions", BODY, KEY)
    assert (second.method, second.query, second.api_key, second.body) == (
        "GET",
        {"limit": "1"},
        "x",
        None,
    )
    openai_server.set_fault(Fault.HANG)
    openai_server.reset()
    assert openai_server.requests == []
    assert post(http, openai_server, BODY).status_code == 200


def test_wait_for_requests_gives_up_after_its_timeout(openai_server: SimulatedOpenAI) -> None:
    with pytest.raises(TimeoutError, match="0 of 1"):
        openai_server.wait_for_requests(1, timeout=0.05)


def test_the_base_class_is_abstract() -> None:
    with pytest.raises(TypeError):
        SimulatedServer(name="x", keys=(), models=())  # type: ignore[abstract]


UNKNOWN_KEY = "tok_live_echo_0123456789abcdef"


@pytest.mark.parametrize(
    ("fixture", "path", "header", "message_at"),
    [
        ("openai_server", "/v1/models", ("Authorization", "Bearer "), ("error", "message")),
        ("anthropic_server", "/v1/models", ("x-api-key", ""), ("error", "message")),
        ("gemini_server", "/v1beta/models", ("x-goog-api-key", ""), ("error", "message")),
        ("cohere_server", "/v1/models", ("Authorization", "Bearer "), ("message",)),
        ("ollama_server", "/api/tags", ("Authorization", "Bearer "), ("error",)),
    ],
)
@pytest.mark.parametrize("fault", [Fault.NONE, Fault.SERVER_ERROR, Fault.UNAUTHORIZED])
def test_echo_key_puts_the_presented_key_in_the_error_message_of_each_format(
    request: pytest.FixtureRequest,
    http: httpx.Client,
    fixture: str,
    path: str,
    header: tuple[str, str],
    message_at: tuple[str, ...],
    fault: Fault,
) -> None:
    server: SimulatedServer = request.getfixturevalue(fixture)
    if fault is Fault.NONE and not server.keys:
        pytest.skip("a keyless server refuses no key")
    # Fault.NONE: an unknown key, refused as invalid; otherwise a valid key and the fault.
    key = UNKNOWN_KEY if fault is Fault.NONE else (sorted(server.keys) or [UNKNOWN_KEY])[0]
    server.echo_key = True
    server.set_fault(fault, probes=True)

    response = http.get(server.url + path, headers={header[0]: header[1] + key})

    assert response.status_code >= 400
    message = response.json()
    for step in message_at:
        message = message[step]
    assert message.endswith(f" (API key: {key})")


def test_echo_key_also_reaches_the_in_stream_error(
    openai_server: SimulatedOpenAI, http: httpx.Client
) -> None:
    openai_server.echo_key = True
    openai_server.set_fault(Fault.STREAM_ERROR)

    response = post(http, openai_server, STREAM_BODY)

    assert f"(API key: {KEY})" in response.text


def test_without_echo_key_no_error_carries_the_key(
    openai_server: SimulatedOpenAI, http: httpx.Client
) -> None:
    openai_server.set_fault(Fault.SERVER_ERROR)

    assert KEY not in post(http, openai_server, BODY).text


@pytest.mark.parametrize("probe", [False, True])
def test_the_redirect_fault_answers_307_to_the_same_path_elsewhere(
    openai_server: SimulatedOpenAI, http: httpx.Client, probe: bool
) -> None:
    openai_server.redirect_to = "http://127.0.0.1:9"
    openai_server.set_fault(Fault.REDIRECT, probes=probe)

    if probe:
        response = http.get(f"{openai_server.base_url}/models?x=1", headers=AUTH)
    else:
        response = post(http, openai_server, BODY)

    assert response.status_code == 307
    path = "/v1/models?x=1" if probe else "/v1/chat/completions"
    assert response.headers["Location"] == "http://127.0.0.1:9" + path
