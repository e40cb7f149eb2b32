"""SimulatedCohere, checked with the official cohere SDK as the client."""

from __future__ import annotations

from collections.abc import Iterator

import cohere
import pytest
from cohere.core.api_error import ApiError

from cortex.simulated import Fault, SimulatedCohere

KEY = "co-sim-key-1"
MODEL = "command-a-03-2025"
HELLO: list[cohere.ChatMessageV2] = [cohere.UserChatMessageV2(content="summarise this page")]
EXPECTED = "Hello from cohere! You said: summarise this page"
NO_RETRY: cohere.RequestOptions = {"max_retries": 0}


@pytest.fixture(scope="module")
def client(cohere_module: SimulatedCohere) -> Iterator[cohere.ClientV2]:
    with cohere.ClientV2(api_key=KEY, base_url=cohere_module.base_url, timeout=5) as client:
        yield client


def test_chat_returns_text_usage_and_finish_reason(client: cohere.ClientV2) -> None:
    response = client.chat(model=MODEL, messages=HELLO, request_options=NO_RETRY)
    assert response.message.content is not None
    [content] = response.message.content
    assert isinstance(content, cohere.TextAssistantMessageResponseContentItem)
    assert content.text == EXPECTED
    assert response.finish_reason == "COMPLETE"
    assert response.usage is not None
    assert response.usage.tokens is not None
    assert (response.usage.tokens.input_tokens, response.usage.tokens.output_tokens) == (3, 8)


def test_chat_stream_sends_every_event_type_in_order(client: cohere.ClientV2) -> None:
    events = list(client.chat_stream(model=MODEL, messages=HELLO, request_options=NO_RETRY))
    kinds = [e.type for e in events]
    assert kinds == ["message-start", "content-start"] + ["content-delta"] * 8 + [
        "content-end",
        "message-end",
    ]
    text = "".join(
        e.delta.message.content.text or ""
        for e in events
        if e.type == "content-delta" and e.delta and e.delta.message and e.delta.message.content
    )
    assert text == EXPECTED
    end = events[-1]
    assert end.type == "message-end"
    assert end.delta is not None
    assert end.delta.finish_reason == "COMPLETE"
    assert end.delta.usage is not None
    assert end.delta.usage.billed_units is not None
    assert end.delta.usage.billed_units.output_tokens == 8


def test_max_tokens_finishes_with_max_tokens(client: cohere.ClientV2) -> None:
    response = client.chat(model=MODEL, messages=HELLO, max_tokens=1, request_options=NO_RETRY)
    assert response.finish_reason == "MAX_TOKENS"


def test_models_list_returns_every_model(client: cohere.ClientV2) -> None:
    assert [m.name for m in client.models.list().models] == [
        "command-a-03-2025",
        "command-r7b-12-2024",
    ]


def test_unknown_key_is_unauthorized(cohere_server: SimulatedCohere) -> None:
    with (
        cohere.ClientV2(api_key="bad", base_url=cohere_server.base_url, timeout=5) as bad,
        pytest.raises(cohere.UnauthorizedError) as caught,
    ):
        bad.chat(model=MODEL, messages=HELLO, request_options=NO_RETRY)
    assert caught.value.body == {"message": "invalid api token"}


def test_unknown_model_is_not_found(client: cohere.ClientV2) -> None:
    with pytest.raises(cohere.NotFoundError):
        client.chat(model="command-z", messages=HELLO, request_options=NO_RETRY)


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        (Fault.RATE_LIMIT, cohere.TooManyRequestsError, 429),
        (Fault.QUOTA, ApiError, 402),
        (Fault.UNAUTHORIZED, cohere.UnauthorizedError, 401),
        (Fault.SERVER_ERROR, cohere.InternalServerError, 500),
        (Fault.OVERLOADED, cohere.ServiceUnavailableError, 503),
        (Fault.BAD_REQUEST, cohere.BadRequestError, 400),
    ],
)
def test_status_faults_raise_the_sdk_error_for_their_status(
    cohere_server: SimulatedCohere,
    client: cohere.ClientV2,
    fault: Fault,
    error: type[ApiError],
    status: int,
) -> None:
    cohere_server.set_fault(fault, retry_after=2)
    with pytest.raises(error) as caught:
        client.chat(model=MODEL, messages=HELLO, request_options=NO_RETRY)
    assert caught.value.status_code == status
    if fault is Fault.RATE_LIMIT:
        assert caught.value.headers is not None
        assert caught.value.headers["retry-after"] == "2"


FIRST_TWO_PIECES = ["message-start", "content-start", "content-delta", "content-delta"]


def test_stream_error_fault_ends_with_finish_reason_error(
    cohere_server: SimulatedCohere, client: cohere.ClientV2
) -> None:
    cohere_server.set_fault(Fault.STREAM_ERROR)
    events = list(client.chat_stream(model=MODEL, messages=HELLO, request_options=NO_RETRY))
    assert [e.type for e in events] == [*FIRST_TWO_PIECES, "message-end"]
    end = events[-1]
    assert end.type == "message-end"
    assert end.delta is not None
    assert end.delta.finish_reason == "ERROR"


def test_ends_early_closes_the_stream_cleanly_without_message_end(
    cohere_server: SimulatedCohere, client: cohere.ClientV2
) -> None:
    cohere_server.set_fault(Fault.ENDS_EARLY)
    events = list(client.chat_stream(model=MODEL, messages=HELLO, request_options=NO_RETRY))
    assert [e.type for e in events] == FIRST_TWO_PIECES
