"""SimulatedOpenAI, checked with the official openai SDK as the client."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from cortex.simulated import Fault, SimulatedOpenAI

OPENAI_KEY = "sk-sim-key-1"  # the first default key
HELLO: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "what is the capital of France"}
]
EXPECTED = "Hello from openai! You said: what is the capital of France"


@pytest.fixture(scope="module")
def client(openai_module: SimulatedOpenAI) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=openai_module.base_url, api_key=OPENAI_KEY, max_retries=0, timeout=5
    ) as client:
        yield client


def test_non_streaming_reply_carries_text_and_usage(client: openai.OpenAI) -> None:
    result = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert result.object == "chat.completion"
    assert result.model == "gpt-4o-mini"
    assert result.choices[0].message.content == EXPECTED
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (6, 11)
    assert result.usage.total_tokens == 17


def test_streaming_reply_arrives_word_by_word_with_usage_last(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=HELLO,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks[1:] if c.choices]
    assert "".join(p or "" for p in pieces) == EXPECTED
    assert len([p for p in pieces if p]) == 11
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 11
    assert all(c.usage is None for c in chunks[:-1])


def test_streaming_without_include_usage_sends_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True))
    assert all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_max_completion_tokens_cuts_the_reply_with_finish_reason_length(
    client: openai.OpenAI,
) -> None:
    result = client.chat.completions.create(
        model="gpt-4o-mini", messages=HELLO, max_completion_tokens=3
    )
    assert result.choices[0].message.content == "Hello from openai!"
    assert result.choices[0].finish_reason == "length"


def test_configured_reply_replaces_the_greeting(
    openai_server: SimulatedOpenAI, client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openai_server, "reply", "Fixed answer.")
    result = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert result.choices[0].message.content == "Fixed answer."


def test_models_list_returns_every_configured_model(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["gpt-4o-mini", "gpt-4o"]
    assert client.models.retrieve("gpt-4o").owned_by == "openai"


def test_unknown_model_is_a_404_model_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-9", messages=HELLO)
    assert caught.value.code == "model_not_found"
    assert "The model `gpt-9` does not exist" in caught.value.message


def test_unknown_key_is_a_401_invalid_api_key(openai_server: SimulatedOpenAI) -> None:
    with (
        openai.OpenAI(
            base_url=openai_server.base_url, api_key="sk-wrong-123456", max_retries=0
        ) as client,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        client.models.list()
    assert caught.value.code == "invalid_api_key"
    assert "Incorrect API key provided: sk-wr****3456" in caught.value.message


def test_rate_limit_fault_is_a_429_with_retry_after(
    openai_server: SimulatedOpenAI, client: openai.OpenAI
) -> None:
    openai_server.set_fault(Fault.RATE_LIMIT, retry_after=7)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["retry-after"] == "7"
    assert "Please try again in 7s" in caught.value.message


def test_quota_fault_is_a_429_insufficient_quota(
    openai_server: SimulatedOpenAI, client: openai.OpenAI
) -> None:
    openai_server.set_fault(Fault.QUOTA)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert caught.value.code == "insufficient_quota"
    assert caught.value.type == "insufficient_quota"
    assert "retry-after" not in caught.value.response.headers


@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        (Fault.UNAUTHORIZED, openai.AuthenticationError, "Incorrect API key provided"),
        (Fault.SERVER_ERROR, openai.InternalServerError, "The server had an error"),
        (Fault.OVERLOADED, openai.InternalServerError, "currently overloaded"),
        (Fault.BAD_REQUEST, openai.BadRequestError, "Invalid request."),
    ],
)
def test_status_faults_raise_the_sdk_error_for_their_status(
    openai_server: SimulatedOpenAI,
    client: openai.OpenAI,
    fault: Fault,
    error: type[openai.APIStatusError],
    message: str,
) -> None:
    openai_server.set_fault(fault, times=1)
    with pytest.raises(error) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert message in caught.value.message
    assert client.chat.completions.create(model="gpt-4o-mini", messages=HELLO).choices


def test_overloaded_fault_is_a_503(openai_server: SimulatedOpenAI, client: openai.OpenAI) -> None:
    openai_server.set_fault(Fault.OVERLOADED)
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert caught.value.status_code == 503


def test_stream_error_fault_raises_api_error_after_some_content(
    openai_server: SimulatedOpenAI, client: openai.OpenAI
) -> None:
    openai_server.set_fault(Fault.STREAM_ERROR)
    received: list[str] = []
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True)
    with pytest.raises(openai.APIError, match="overloaded"):
        received.extend(c.choices[0].delta.content or "" for c in stream)
    assert "".join(received) == "Hello from"


def test_drop_mid_stream_surfaces_as_a_connection_error(
    openai_server: SimulatedOpenAI, client: openai.OpenAI
) -> None:
    openai_server.set_fault(Fault.DROP_MID_STREAM)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True)
    with pytest.raises(openai.APIConnectionError):
        list(stream)


def test_ends_early_closes_the_stream_cleanly_after_two_chunks_without_a_finish_reason(
    openai_server: SimulatedOpenAI, client: openai.OpenAI
) -> None:
    openai_server.set_fault(Fault.ENDS_EARLY)
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True))
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert texts == ["Hello", " from"]
    assert all(c.choices[0].finish_reason is None for c in chunks if c.choices)


def test_no_sentinel_sends_the_finish_reason_but_not_done(
    openai_server: SimulatedOpenAI, client: openai.OpenAI
) -> None:
    openai_server.set_fault(Fault.NO_SENTINEL)
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == EXPECTED
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_hang_times_out_the_client(openai_server: SimulatedOpenAI, client: openai.OpenAI) -> None:
    openai_server.set_fault(Fault.HANG)
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.3).chat.completions.create(
            model="gpt-4o-mini", messages=HELLO
        )


def test_request_log_records_bearer_key_and_body(
    openai_server: SimulatedOpenAI, client: openai.OpenAI
) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, temperature=0.5)
    [request] = openai_server.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.api_key == OPENAI_KEY
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert request.body["temperature"] == 0.5


def test_a_prompt_beyond_the_context_window_is_the_sdk_s_context_length_error(
    openai_server: SimulatedOpenAI, client: openai.OpenAI
) -> None:
    openai_server.context_window = 3
    try:
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    finally:
        openai_server.context_window = None
    assert caught.value.code == "context_length_exceeded"
    assert "maximum context length is 3 tokens" in caught.value.message
