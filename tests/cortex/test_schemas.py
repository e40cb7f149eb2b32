"""Unit tests for request-body validation: every bad field is a 400 that names it."""

from __future__ import annotations

from typing import Any

import pytest

from actors.board import Board
from actors.planning import RoutingStrategy
from actors.workers import WorkerConfig
from cortex.chat import ChatRequest, Message
from cortex.errors import BadRequest, NotFound
from cortex.http.schemas import ChatCall, parse_chat, parse_json_object, pin_provider

USER = {"role": "user", "content": "hi"}


def chat(**fields: Any) -> dict[str, Any]:
    return {"messages": [USER], **fields}


# --- parse_json_object --------------------------------------------------------------


def test_a_json_object_body_is_decoded() -> None:
    assert parse_json_object(b'{"a": [1, 2]}') == {"a": [1, 2]}


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{", id="truncated"),
        pytest.param(b"\xff\xfe\xfa", id="not utf-8"),
        pytest.param(b"[" * 100_000, id="nested too deep"),
        pytest.param(b'{"n": ' + b"1" * 5000 + b"}", id="int over the digit limit"),
    ],
)
def test_a_body_that_is_not_json_is_a_bad_request(raw: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_json_object(raw)
    assert caught.value.code == "invalid_json"
    assert caught.value.message.startswith("request body is not valid JSON")


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"3", b"null"])
def test_a_json_body_that_is_not_an_object_is_a_bad_request(raw: bytes) -> None:
    with pytest.raises(BadRequest, match="must be a JSON object"):
        parse_json_object(raw)


# --- parse_chat: bad bodies ---------------------------------------------------------

BAD_BODIES: list[Any] = [
    pytest.param({}, "'messages' must be a non-empty array", id="messages missing"),
    pytest.param({"messages": []}, "'messages' must be a non-empty array", id="messages empty"),
    pytest.param({"messages": "hi"}, "'messages' must be a non-empty array", id="messages str"),
    pytest.param({"messages": ["hi"]}, "'messages[0]' must be an object", id="message not obj"),
    pytest.param(
        {"messages": [USER, {"role": "robot", "content": "x"}]},
        "'messages[1].role' must be one of",
        id="unknown role",
    ),
    pytest.param(
        {"messages": [{"content": "x"}]}, "'messages[0].role' must be one of", id="role missing"
    ),
    pytest.param(
        {"messages": [{"role": ["user"], "content": "x"}]},
        "'messages[0].role' must be one of",
        id="role unhashable",
    ),
    pytest.param(
        {"messages": [{"role": "user"}]},
        "'messages[0].content' must be a string or an array of content parts",
        id="content missing",
    ),
    pytest.param(
        {"messages": [{"role": "user", "content": 5}]},
        "'messages[0].content' must be a string or an array of content parts",
        id="content number",
    ),
    pytest.param(
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
        "'messages[0].content[0].image_url.url' must be a data: URL or an http(s) URL",
        id="image part without url",
    ),
    pytest.param(
        {"messages": [{"role": "user", "content": ["plain"]}]},
        "'messages[0].content' supports text and image_url parts; part 0 is a string",
        id="part not obj",
    ),
    pytest.param(
        {"messages": [{"role": "user", "content": [{"type": "text", "text": 3}]}]},
        "'messages[0].content[0].text' must be a string",
        id="text part without text",
    ),
    pytest.param(chat(temperature=2.5), "'temperature' must be between 0 and 2", id="temp high"),
    pytest.param(chat(temperature=-0.1), "'temperature' must be between 0 and 2", id="temp low"),
    pytest.param(chat(temperature="1"), "'temperature' must be a number", id="temp str"),
    pytest.param(chat(temperature=True), "'temperature' must be a number", id="temp bool"),
    pytest.param(chat(temperature=float("nan")), "'temperature' must be a number", id="temp nan"),
    pytest.param(
        chat(temperature=10**400), "'temperature' must be between 0 and 2", id="temp huge int"
    ),
    pytest.param(chat(top_p=1.5), "'top_p' must be between 0 and 1", id="top_p high"),
    pytest.param(chat(top_p=[1]), "'top_p' must be a number", id="top_p list"),
    pytest.param(chat(max_tokens=0), "'max_tokens' must be at least 1", id="max_tokens 0"),
    pytest.param(chat(max_tokens=-5), "'max_tokens' must be at least 1", id="max_tokens neg"),
    pytest.param(chat(max_tokens=1.5), "'max_tokens' must be of type integer", id="max float"),
    pytest.param(chat(max_tokens=True), "'max_tokens' must be of type integer", id="max bool"),
    pytest.param(
        chat(max_completion_tokens=0),
        "'max_completion_tokens' must be at least 1",
        id="max_completion_tokens 0",
    ),
    pytest.param(chat(stop=5), "'stop' must be a string or a list", id="stop number"),
    pytest.param(chat(stop=["a", 1]), "'stop' must be a string or a list", id="stop mixed"),
    pytest.param(chat(stop=list("abcde")), "'stop' must be a string or a list", id="stop 5"),
    pytest.param(chat(n=9), "'n' must be between 1 and 8", id="n 9"),
    pytest.param(chat(n=0), "'n' must be between 1 and 8", id="n 0"),
    pytest.param(chat(n=True), "'n' must be of type integer", id="n bool"),
    pytest.param(chat(stream="yes"), "'stream' must be of type boolean", id="stream str"),
    pytest.param(chat(stream=1), "'stream' must be of type boolean", id="stream int"),
    pytest.param(
        chat(stream_options=[]), "'stream_options' must be of type object", id="options list"
    ),
    pytest.param(
        chat(stream_options={"include_usage": "yes"}),
        "'stream_options.include_usage' must be a boolean",
        id="include_usage str",
    ),
    pytest.param(
        chat(strategy="fastest-please"), "'strategy' must be one of", id="strategy unknown"
    ),
    pytest.param(chat(strategy=1), "'strategy' must be of type string", id="strategy int"),
    pytest.param(chat(model=4), "'model' must be of type string", id="model int"),
    pytest.param(chat(provider=["a"]), "'provider' must be of type string", id="provider list"),
]


@pytest.mark.parametrize(("body", "message"), BAD_BODIES)
def test_a_bad_chat_body_is_a_bad_request_naming_the_field(
    body: dict[str, Any], message: str
) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_chat(body, default_stream=False)
    assert caught.value.message.startswith(message)
    assert caught.value.status == 400


# --- parse_chat: good bodies --------------------------------------------------------


def test_a_minimal_body_gives_a_request_with_defaults() -> None:
    assert parse_chat(chat(), default_stream=False) == ChatCall(
        request=ChatRequest(messages=(Message("user", "hi"),)),
        stream=False,
        include_usage=False,
        strategy=None,
    )


def test_every_field_reaches_the_request() -> None:
    call = parse_chat(
        chat(
            model="groq/llama",
            temperature=0,
            top_p=1,
            max_tokens=64,
            stop="END",
            n=1,
            stream=True,
            stream_options={"include_usage": True},
            strategy="local_first",
            provider="groq",
        ),
        default_stream=False,
    )
    assert call.request == ChatRequest(
        messages=(Message("user", "hi"),),
        model="groq/llama",
        pin="groq",
        temperature=0.0,
        top_p=1.0,
        max_tokens=64,
        stop=("END",),
    )
    assert (call.stream, call.include_usage) == (True, True)
    assert call.strategy is RoutingStrategy.LOCAL_FIRST


def test_stream_defaults_to_the_endpoint_default() -> None:
    assert parse_chat(chat(), default_stream=True).stream is True


def test_null_fields_count_as_absent() -> None:
    call = parse_chat(
        chat(stream=None, temperature=None, max_tokens=None, stop=None, model=None),
        default_stream=True,
    )
    assert call.request == ChatRequest(messages=(Message("user", "hi"),))
    assert call.stream is True


def test_max_completion_tokens_is_accepted_for_max_tokens() -> None:
    assert parse_chat(chat(max_completion_tokens=9), default_stream=False).request.max_tokens == 9


def test_a_stop_list_becomes_a_tuple() -> None:
    assert parse_chat(chat(stop=["a", "b"]), default_stream=False).request.stop == ("a", "b")


def test_text_parts_are_joined_into_one_content_string() -> None:
    content = [{"type": "text", "text": "Hello, "}, {"type": "text", "text": "world"}]
    call = parse_chat({"messages": [{"role": "user", "content": content}]}, default_stream=False)
    assert call.request.messages == (Message("user", "Hello, world"),)


def test_every_openai_role_is_accepted() -> None:
    roles = ["system", "developer", "user", "assistant", "tool"]
    body = {"messages": [{"role": r, "content": r, "tool_call_id": "call_1"} for r in roles]}
    call = parse_chat(body, default_stream=False)
    assert call.request.messages[-1].tool_call_id == "call_1"
    assert call.request.ignored == ()
    assert [m.role for m in call.request.messages] == roles


def test_empty_model_and_provider_strings_mean_automatic() -> None:
    call = parse_chat(chat(model="", provider="", strategy=""), default_stream=False)
    assert (call.request.model, call.request.pin, call.strategy) == (None, None, None)


def test_a_conversation_longer_than_the_limit_is_refused_before_its_messages_are_read():
    body = chat(messages=[{"role": "user", "content": "hi"}] * 3 + ["not even a message"])
    with pytest.raises(BadRequest) as caught:
        parse_chat(body, default_stream=False, max_messages=3)
    assert caught.value.code == "too_many_messages"
    assert caught.value.message == "a request may carry at most 3 messages, got 4"


@pytest.mark.parametrize(
    ("model", "pinned"),
    [(None, None), ("auto", None), ("llama-3.3-70b", "llama-3.3-70b")],
)
def test_a_provider_pin_with_no_model_or_auto_means_the_workers_default(
    model: str | None, pinned: str | None
) -> None:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}], "provider": "groq"}
    if model is not None:
        body["model"] = model

    call = pin_provider(parse_chat(body, default_stream=False), groq_board())

    assert (call.request.pin, call.request.model) == ("groq", pinned)


def groq_board() -> Board:
    board = Board()
    board.put_config(WorkerConfig("groq", "groq", "http://127.0.0.1:9", ("k",)))
    return board


@pytest.mark.parametrize(
    ("fields", "pin", "model"),
    [
        pytest.param({"model": "groq/llama3"}, "groq", "llama3", id="worker/model"),
        pytest.param({"model": "groq/"}, "groq", None, id="worker/ is its default"),
        pytest.param({"model": "groq/auto"}, "groq", None, id="worker/auto is its default"),
        pytest.param({"model": "groq/meta/l-3"}, "groq", "meta/l-3", id="first slash only"),
        pytest.param({"model": "meta/l-3"}, None, "meta/l-3", id="no such worker: a name"),
        pytest.param({"model": "fast/x"}, None, "fast/x", id="a route named like a pin"),
        pytest.param({"model": "llama3"}, None, "llama3", id="bare model"),
        pytest.param({}, None, None, id="no model"),
        pytest.param({"provider": "groq", "model": "a/b"}, "groq", "a/b", id="field wins"),
    ],
)
def test_the_pin_leaves_the_edge_as_its_own_field(
    fields: dict[str, str], pin: str | None, model: str | None
) -> None:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}], **fields}
    board = groq_board()
    board.put_config(WorkerConfig("fast", "groq", "http://127.0.0.1:9", ("k",)))

    call = pin_provider(parse_chat(body, default_stream=False), board, routes={"fast/x"})

    assert (call.request.pin, call.request.model) == (pin, model)


def test_a_provider_field_naming_no_worker_is_a_404() -> None:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}], "provider": "nope"}
    with pytest.raises(NotFound) as caught:
        pin_provider(parse_chat(body, default_stream=False), groq_board())
    assert caught.value.code == "unknown_worker"
