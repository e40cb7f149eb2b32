"""SimulatedAnthropic, checked with the official anthropic SDK as the client."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import pytest

from cortex.simulated import Fault, SimulatedAnthropic

KEY = "sk-ant-sim-key-1"
MODEL = "claude-sonnet-4-6"
HELLO: list[anthropic.types.MessageParam] = [{"role": "user", "content": "tell me a joke"}]
EXPECTED = "Hello from anthropic! You said: tell me a joke"


@pytest.fixture(scope="module")
def client(anthropic_module: SimulatedAnthropic) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=anthropic_module.base_url, api_key=KEY, max_retries=0, timeout=5
    ) as client:
        yield client


def test_create_returns_the_message_with_usage(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model=MODEL, max_tokens=100, system="be brief", messages=HELLO)
    assert message.content[0].type == "text"
    assert message.content[0].text == EXPECTED
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (6, 9)


def test_stream_rebuilds_the_same_message(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(texts) == EXPECTED
    assert len(texts) == 9
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (4, 9)


def test_raw_stream_has_every_named_event_in_order(
    anthropic_server: SimulatedAnthropic, http: httpx.Client
) -> None:
    response = http.post(
        f"{anthropic_server.url}/v1/messages",
        json={"model": MODEL, "max_tokens": 2, "messages": HELLO, "stream": True},
        headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
    )
    names = [line[7:] for line in response.text.splitlines() if line.startswith("event: ")]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert '"stop_reason":"max_tokens"' in response.text


def test_missing_version_header_is_a_400(
    anthropic_server: SimulatedAnthropic, http: httpx.Client
) -> None:
    response = http.get(f"{anthropic_server.url}/v1/models", headers={"x-api-key": KEY}, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "anthropic-version: header is required"


def test_models_list_returns_every_model(client: anthropic.Anthropic) -> None:
    assert [m.id for m in client.models.list()] == ["claude-sonnet-4-6", "claude-haiku-4-5"]


def test_unknown_key_is_an_authentication_error(anthropic_server: SimulatedAnthropic) -> None:
    with (
        anthropic.Anthropic(
            base_url=anthropic_server.base_url, api_key="nope", max_retries=0
        ) as bad,
        pytest.raises(anthropic.AuthenticationError) as caught,
    ):
        bad.models.list()
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
        "request_id": caught.value.request_id,
    }


def test_unknown_model_is_a_not_found_error(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError, match="model: claude-9"):
        client.messages.create(model="claude-9", max_tokens=10, messages=HELLO)


@pytest.mark.parametrize(
    ("fault", "error", "status", "error_type"),
    [
        (Fault.RATE_LIMIT, anthropic.RateLimitError, 429, "rate_limit_error"),
        (Fault.QUOTA, anthropic.BadRequestError, 400, "invalid_request_error"),
        (Fault.UNAUTHORIZED, anthropic.AuthenticationError, 401, "authentication_error"),
        (Fault.SERVER_ERROR, anthropic.InternalServerError, 500, "api_error"),
        (Fault.OVERLOADED, anthropic.InternalServerError, 529, "overloaded_error"),
        (Fault.BAD_REQUEST, anthropic.BadRequestError, 400, "invalid_request_error"),
    ],
)
def test_status_faults_raise_the_sdk_error_for_their_status(
    anthropic_server: SimulatedAnthropic,
    client: anthropic.Anthropic,
    fault: Fault,
    error: type[anthropic.APIStatusError],
    status: int,
    error_type: str,
) -> None:
    anthropic_server.set_fault(fault, retry_after=3)
    with pytest.raises(error) as caught:
        client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert caught.value.status_code == status
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == error_type
    if fault is Fault.RATE_LIMIT:
        assert caught.value.response.headers["retry-after"] == "3"


def test_stream_error_fault_is_an_in_stream_overloaded_error(
    anthropic_server: SimulatedAnthropic, client: anthropic.Anthropic
) -> None:
    anthropic_server.set_fault(Fault.STREAM_ERROR)
    texts: list[str] = []
    with (
        client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO) as stream,
        pytest.raises(anthropic.APIStatusError) as caught,
    ):
        texts.extend(stream.text_stream)
    assert texts == ["Hello", " from"]
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "overloaded_error"


def test_ends_early_closes_the_stream_cleanly_without_a_stop_reason(
    anthropic_server: SimulatedAnthropic, client: anthropic.Anthropic
) -> None:
    anthropic_server.set_fault(Fault.ENDS_EARLY)
    events = list(client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, stream=True))
    texts = [
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    ]
    assert texts == ["Hello", " from"]
    assert not {"message_delta", "message_stop"} & {e.type for e in events}


def test_no_sentinel_sends_the_stop_reason_but_not_message_stop(
    anthropic_server: SimulatedAnthropic, client: anthropic.Anthropic
) -> None:
    anthropic_server.set_fault(Fault.NO_SENTINEL)
    events = list(client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, stream=True))
    deltas = [e for e in events if e.type == "message_delta"]
    assert [d.delta.stop_reason for d in deltas] == ["end_turn"]
    assert events[-1].type == "message_delta"


def test_empty_stream_is_a_well_formed_message_without_text(
    anthropic_server: SimulatedAnthropic, client: anthropic.Anthropic
) -> None:
    anthropic_server.set_fault(Fault.EMPTY_STREAM)
    with client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO) as stream:
        assert list(stream.text_stream) == []
        assert stream.get_final_message().usage.output_tokens == 0


def test_request_log_shows_how_the_sdk_authenticates(
    anthropic_server: SimulatedAnthropic, client: anthropic.Anthropic
) -> None:
    client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    [request] = anthropic_server.requests
    assert request.api_key == KEY
    assert "anthropic-version" in request.headers
    assert request.body["max_tokens"] == 10
