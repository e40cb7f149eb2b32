"""The Anthropic Messages API, inbound: the official ``anthropic`` SDK against the real daemon.

For Anthropic, OpenAI and Gemini workers (one daemon per type, from ``provider_matrix``)
the SDK creates and streams messages through Cortex: text, the stream helpers, a tool-use
round trip, a system prompt, an image, token counting, a failover before the first byte
and a mid-stream failure that the SDK raises from Anthropic's ``error`` event. An
Anthropic worker receives the client's body as it was sent, but for ``model`` and
``stream``. Gateway keys are accepted as ``x-api-key`` or a bearer token, and every error
on these paths comes in Anthropic's envelope.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
import requests
from anthropic.types import MessageParam, ToolParam
from daemon_harness import PRIMARY_KEYS, CortexProcess, providers_json
from provider_matrix import CASES, Matrix, running_matrix

from cortex.simulated import Fault, SimulatedAnthropic, SimulatedOpenAI

TYPES = ("anthropic", "openai", "gemini")
WEATHER: ToolParam = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
ASK: list[MessageParam] = [{"role": "user", "content": "What is the weather in Paris"}]
PIXEL = base64.b64encode(bytes.fromhex("89504e470d0a1a0a0000000d49484452")).decode()
GATEWAY_KEY = "cortex-gateway-key-0000001"
Pair = tuple[SimulatedAnthropic, SimulatedAnthropic, CortexProcess]


@pytest.fixture(scope="module", params=TYPES)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Matrix]:
    """One daemon per upstream type, shared by that type's tests."""
    log_dir = tmp_path_factory.mktemp(f"anthropic-in-{request.param}")
    with running_matrix(CASES[request.param], log_dir) as matrix:
        yield matrix


@pytest.fixture
def matrix(served: Matrix) -> Iterator[Matrix]:
    """The daemon, settled before and after each test."""
    served.settle()
    yield served
    served.settle()


@pytest.fixture
def client(matrix: Matrix) -> Iterator[anthropic.Anthropic]:
    """The official Anthropic SDK, pointed at Cortex."""
    with anthropic.Anthropic(
        base_url=matrix.daemon.url, api_key="unused", max_retries=0, timeout=20
    ) as sdk:
        yield sdk


def wait_for(found: Callable[[], list[Any]], timeout: float = 5.0) -> list[Any]:
    """What ``found`` returns once it is not empty (access lines follow the last byte)."""
    deadline = time.monotonic() + timeout
    while not (result := found()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert result, "nothing found in time"
    return result


def sent(matrix: Matrix) -> dict[str, Any]:
    """The body of the one generation request the primary upstream received."""
    chats = matrix.chats(matrix.primary)
    assert len(chats) == 1, chats
    body: dict[str, Any] = chats[0].body
    return body


def test_create_answers_with_an_anthropic_message(
    matrix: Matrix, client: anthropic.Anthropic
) -> None:
    raw = client.messages.with_raw_response.create(
        model="auto", max_tokens=200, messages=[{"role": "user", "content": "Say hello"}]
    )
    message = raw.parse()

    assert message.id.startswith("msg_")
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.stop_reason == "end_turn"
    [block] = message.content
    assert block.type == "text"
    assert "Say hello" in block.text
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens > 0
    assert raw.headers["X-Cortex-Worker"] == matrix.primary_worker
    assert raw.headers["request-id"]


def test_the_stream_helpers_read_text_and_the_final_message(
    matrix: Matrix, client: anthropic.Anthropic
) -> None:
    with client.messages.stream(
        model="auto", max_tokens=200, messages=[{"role": "user", "content": "Say hello"}]
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()

    assert len(pieces) > 1
    [block] = final.content
    assert block.type == "text"
    assert block.text == "".join(pieces)
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0
    assert sent(matrix)


def test_a_tool_use_round_trip_calls_the_tool_then_reads_its_result(
    matrix: Matrix, client: anthropic.Anthropic
) -> None:
    first = client.messages.create(model="auto", max_tokens=200, messages=ASK, tools=[WEATHER])

    assert first.stop_reason == "tool_use"
    [call] = [block for block in first.content if block.type == "tool_use"]
    assert call.name == "get_weather"
    assert call.input == {"city": "Paris"}
    matrix.settle()

    second = client.messages.create(
        model="auto",
        max_tokens=200,
        tools=[WEATHER],
        messages=[
            *ASK,
            {"role": "assistant", "content": [block.model_dump() for block in first.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18 C"}],
            },
        ],
    )

    assert second.stop_reason == "end_turn"
    assert second.content[0].type == "text"
    assert "18 C" in second.content[0].text


def test_a_streamed_tool_call_is_assembled_by_the_sdk(
    matrix: Matrix, client: anthropic.Anthropic
) -> None:
    with client.messages.stream(
        model="auto",
        max_tokens=200,
        messages=ASK,
        tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather"},
    ) as stream:
        final = stream.get_final_message()

    assert final.stop_reason == "tool_use"
    [call] = [block for block in final.content if block.type == "tool_use"]
    assert call.id
    assert call.input == {"city": "Paris"}
    assert sent(matrix)


def test_the_system_prompt_reaches_the_upstream(
    matrix: Matrix, client: anthropic.Anthropic
) -> None:
    client.messages.create(
        model="auto",
        max_tokens=200,
        system=[{"type": "text", "text": "You are terse."}],
        messages=[{"role": "user", "content": "hi"}],
    )

    body = sent(matrix)
    if matrix.case.type == "anthropic":
        assert body["system"] == [{"type": "text", "text": "You are terse."}]
    elif matrix.case.type == "gemini":
        assert body["systemInstruction"]["parts"][0]["text"] == "You are terse."
    else:
        assert body["messages"][0] == {"role": "system", "content": "You are terse."}


def test_an_image_reaches_the_model(matrix: Matrix, client: anthropic.Anthropic) -> None:
    answer = client.messages.create(
        model="auto",
        max_tokens=200,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PIXEL},
                    },
                ],
            }
        ],
    )

    assert answer.content[0].type == "text"
    assert "(saw 1 image)" in answer.content[0].text
    assert PIXEL in json.dumps(sent(matrix))


def test_count_tokens_estimates_without_asking_any_upstream(
    matrix: Matrix, client: anthropic.Anthropic
) -> None:
    counted = client.messages.count_tokens(
        model="auto", system="be brief", messages=ASK, tools=[WEATHER]
    )

    assert counted.input_tokens > 0
    assert matrix.chats(matrix.primary) == []
    assert matrix.chats(matrix.backup) == []


def test_a_failing_first_worker_fails_over_before_the_first_byte(
    matrix: Matrix, client: anthropic.Anthropic
) -> None:
    matrix.primary.set_fault(Fault.OVERLOADED, times=1)
    with client.messages.with_streaming_response.create(
        model="auto", max_tokens=200, messages=[{"role": "user", "content": "hi"}], stream=True
    ) as raw:
        worker = raw.headers["X-Cortex-Worker"]
        events = [line for line in raw.iter_lines() if line.startswith("event: ")]

    assert worker == matrix.backup_worker
    assert events[0] == "event: message_start"
    assert events[-2:] == ["event: message_delta", "event: message_stop"]


def test_a_stream_broken_midway_with_no_way_to_continue_ends_in_an_error_event(
    matrix: Matrix, client: anthropic.Anthropic
) -> None:
    for server in (matrix.primary, matrix.backup):
        server.set_fault(Fault.STREAM_ERROR)
    pieces: list[str] = []
    with (
        matrix.slow_stream(),
        pytest.raises(anthropic.APIStatusError) as raised,
        client.messages.stream(
            model="auto", max_tokens=200, messages=[{"role": "user", "content": "Say hello"}]
        ) as stream,
    ):
        pieces.extend(stream.text_stream)

    assert pieces
    assert raised.value.status_code == 200
    body = raised.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"]["type"] in {"overloaded_error", "api_error"}


def test_a_deterministic_answer_is_cached_logged_and_counted_as_for_chat_completions(
    matrix: Matrix, client: anthropic.Anthropic
) -> None:
    def ask() -> Any:
        return client.messages.with_raw_response.create(
            model="auto",
            max_tokens=100,
            messages=[{"role": "user", "content": "Cache me"}],
            extra_body={"temperature": 0},
        )

    first, second = ask(), ask()

    assert (first.headers["X-Cortex-Cache"], second.headers["X-Cortex-Cache"]) == ("miss", "hit")
    assert second.parse().content == first.parse().content
    assert len(matrix.chats(matrix.primary)) == 1
    request_id = second.headers["request-id"]
    line = wait_for(
        lambda: [e for e in matrix.daemon.events("request") if e.get("request_id") == request_id]
    )[0]
    assert (line["path"], line["status"], line["worker"]) == (
        "/v1/messages",
        200,
        matrix.primary_worker,
    )
    metrics = matrix.daemon.get("/metrics").text
    assert 'endpoint="/v1/messages"' in metrics


def test_an_anthropic_worker_receives_the_body_unchanged_and_others_a_translation(
    matrix: Matrix, client: anthropic.Anthropic
) -> None:
    params: dict[str, Any] = {
        "max_tokens": 300,
        "system": "You are terse.",
        "messages": [*ASK, {"role": "assistant", "content": "Let me"}],
        "stop_sequences": ["END"],
        "metadata": {"user_id": "user-7"},
        "tools": [WEATHER],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    }
    client.messages.create(model="auto", extra_body={"temperature": 0.5, "top_k": 7}, **params)

    body = sent(matrix)
    if matrix.case.type == "anthropic":
        assert body.pop("model") == matrix.case.model
        assert body.pop("stream") is True
        assert body == {**params, "temperature": 0.5, "top_k": 7}
    elif matrix.case.type == "gemini":
        config = body["generationConfig"]
        assert (config["stopSequences"], config["temperature"], config["topK"]) == (["END"], 0.5, 7)
        assert body["systemInstruction"]["parts"][0]["text"] == "You are terse."
    else:
        assert (body["stop"], body["temperature"], body["top_k"]) == (["END"], 0.5, 7)
        assert (body["user"], body["parallel_tool_calls"]) == ("user-7", False)
        assert body["tools"][0]["function"]["parameters"] == WEATHER["input_schema"]


def test_thinking_reaches_every_upstream_and_streams_back_as_a_thinking_block(
    matrix: Matrix, client: anthropic.Anthropic
) -> None:
    with client.messages.stream(
        model="auto",
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "Say hello"}],
    ) as stream:
        final = stream.get_final_message()

    body = sent(matrix)
    if matrix.case.type == "anthropic":
        assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
        assert [block.type for block in final.content] == ["thinking", "text"]
        assert final.content[0].thinking  # type: ignore[union-attr]
    elif matrix.case.type == "gemini":
        assert body["generationConfig"]["thinkingConfig"]
    else:
        assert body["reasoning_effort"] == "low"
    assert final.content[-1].type == "text"


def test_a_document_goes_to_anthropic_workers_only_and_elsewhere_is_refused_by_name(
    matrix: Matrix, client: anthropic.Anthropic
) -> None:
    document = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "The sky is green."},
    }
    content: Any = [document, {"type": "text", "text": "What colour is the sky"}]
    messages: list[MessageParam] = [{"role": "user", "content": content}]

    if matrix.case.type == "anthropic":
        client.messages.create(model="auto", max_tokens=100, messages=messages)
        assert sent(matrix)["messages"][0]["content"][0] == document
    else:
        with pytest.raises(anthropic.BadRequestError, match="document blocks"):
            client.messages.create(model="auto", max_tokens=100, messages=messages)
        assert matrix.chats(matrix.primary) == []


def test_errors_come_in_anthropics_envelope(matrix: Matrix, client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(
            model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    refused = requests.post(
        matrix.daemon.url + "/v1/messages",
        json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )

    assert missing.value.body["type"] == "error"  # type: ignore[index]
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    assert refused.status_code == 400
    assert refused.json()["type"] == "error"
    assert refused.json()["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in refused.json()["error"]["message"]
    assert refused.headers["request-id"]


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[CortexProcess]:
    """A daemon with a gateway key, in front of one OpenAI-type upstream."""
    with SimulatedOpenAI("primary", keys=PRIMARY_KEYS, chunk_delay=0.0) as primary:
        env = {
            "CORTEX_PROVIDERS": providers_json(primary),
            "CORTEX_API_KEYS": GATEWAY_KEY,
            "HEALTH_CHECK_INTERVAL": "300",
        }
        daemon = CortexProcess(env, tmp_path / "cortex-keyed.log")
        try:
            yield daemon.wait_ready()
        finally:
            daemon.stop()


@pytest.mark.parametrize("credential", ["api_key", "auth_token"])
def test_the_gateway_key_is_taken_from_x_api_key_or_a_bearer_token(
    keyed: CortexProcess, credential: str
) -> None:
    with anthropic.Anthropic(
        base_url=keyed.url, max_retries=0, timeout=20, **{credential: GATEWAY_KEY}
    ) as sdk:
        answer = sdk.messages.create(
            model="auto", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )

    assert answer.content[0].type == "text"


def test_a_wrong_gateway_key_is_an_anthropic_authentication_error(keyed: CortexProcess) -> None:
    with (
        anthropic.Anthropic(base_url=keyed.url, api_key="wrong", max_retries=0) as sdk,
        pytest.raises(anthropic.AuthenticationError) as refused,
    ):
        sdk.messages.create(
            model="auto", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )
    plain = requests.post(
        keyed.url + "/v1/messages",
        headers={
            "x-api-key": GATEWAY_KEY,
            "anthropic-version": "2023-06-01",
            "anthropic-beta": "interleaved-thinking-2025-05-14",
        },
        json={"model": "auto", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]},
        timeout=20,
    )

    assert refused.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    assert plain.status_code == 200
    assert plain.json()["type"] == "message"


@pytest.fixture
def anthropic_pair(
    tmp_path: Path,
) -> Iterator[tuple[SimulatedAnthropic, SimulatedAnthropic, CortexProcess]]:
    """Two Anthropic workers; the backup may continue a broken answer (``supports_prefill``)."""
    model = "claude-sonnet-4-6"
    with (
        SimulatedAnthropic("first", chunk_delay=0.05) as first,
        SimulatedAnthropic("second", chunk_delay=0.0) as second,
    ):
        entries = {
            name: {
                "type": "anthropic",
                "base_url": server.base_url,
                "api_keys": [SimulatedAnthropic.default_keys[0]],
                "models": [model],
                "priority": priority,
                "supports_prefill": name == "second",
            }
            for priority, (name, server) in enumerate((("first", first), ("second", second)), 1)
        }
        env = {"CORTEX_PROVIDERS": json.dumps(entries), "HEALTH_CHECK_INTERVAL": "300"}
        daemon = CortexProcess(env, tmp_path / "cortex-pair.log")
        try:
            yield first, second, daemon.wait_ready()
        finally:
            daemon.stop()


def test_a_continuation_sends_the_next_anthropic_worker_the_translated_prefill(
    anthropic_pair: Pair,
) -> None:
    first, second, daemon = anthropic_pair
    first.set_fault(Fault.STREAM_ERROR, times=1)
    with (
        anthropic.Anthropic(
            base_url=daemon.url, api_key="unused", max_retries=0, timeout=20
        ) as sdk,
        sdk.messages.stream(
            model="auto", max_tokens=200, messages=[{"role": "user", "content": "Say hello"}]
        ) as stream,
    ):
        final = stream.get_final_message()

    assert final.stop_reason == "end_turn"
    [continued] = [r.body for r in second.requests if r.method == "POST"]
    prefill = continued["messages"][-1]
    assert prefill["role"] == "assistant"
    assert final.content[0].type == "text"
    assert final.content[0].text.startswith(prefill["content"])


def test_a_body_over_the_limit_is_an_anthropic_request_too_large(
    cortex_daemon: Any, primary: SimulatedOpenAI
) -> None:
    daemon = cortex_daemon(
        {"CORTEX_PROVIDERS": providers_json(primary), "CORTEX_MAX_BODY_BYTES": "4096"}
    )
    hello = {"model": "auto", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}

    refused = daemon.post("/v1/messages", json={**hello, "system": "x" * 8192})

    assert refused.status_code == 413
    assert refused.json()["type"] == "error"
    assert refused.json()["error"]["type"] == "request_too_large"
    assert daemon.post("/v1/messages", json=hello).json()["type"] == "message"


def test_a_thinking_tool_loop_carries_the_thinking_signature_back_to_an_anthropic_worker(
    matrix: Matrix, client: anthropic.Anthropic
) -> None:
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    with client.messages.stream(
        model="auto", max_tokens=2048, thinking=thinking, tools=[WEATHER], messages=ASK
    ) as stream:
        first = stream.get_final_message()
    kinds = [block.type for block in first.content]
    assert kinds[-1] == "tool_use"
    call = first.content[-1]
    assert call.type == "tool_use"
    matrix.primary.reset()

    history: list[MessageParam] = [
        *ASK,
        {"role": "assistant", "content": [block.model_dump() for block in first.content]},  # type: ignore[misc]
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18 C"}],
        },
    ]
    second = client.messages.create(
        model="auto", max_tokens=2048, thinking=thinking, tools=[WEATHER], messages=history
    )

    assert second.content[-1].type == "text"
    if matrix.case.type == "anthropic":
        signed = first.content[0]
        assert signed.type == "thinking"
        assert signed.signature  # from the upstream's signature_delta, passed through
        echoed = sent(matrix)["messages"][1]["content"][0]
        assert (echoed["type"], echoed["signature"]) == ("thinking", signed.signature)
