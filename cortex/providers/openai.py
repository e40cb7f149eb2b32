"""OpenAI Chat Completions, also spoken by Groq, xAI and Ollama's ``/v1`` layer.

The worker's ``base_url`` already ends in the API version (``https://api.openai.com/v1``,
``https://api.groq.com/openai/v1``, ``https://api.x.ai/v1``), so the adapter only appends
``/chat/completions`` and ``/models``. Streams are SSE ``data:`` lines of
``chat.completion.chunk`` objects ending with ``data: [DONE]``; usage arrives in an extra
chunk only because the adapter always asks for it with ``stream_options.include_usage``
(Groq also puts it in ``x_groq.usage``). Usage is held back and emitted once at the end,
so a server that reports it in both places is not counted twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from actors.outcomes import ErrorKind, UpstreamFailure, kind_for_status
from actors.wire import HttpCall
from cortex.chat import (
    ChatRequest,
    Finished,
    ImagePart,
    Message,
    ReasoningDelta,
    ResponseFormat,
    StreamEvent,
    StreamFailed,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    Usage,
)
from cortex.providers.base import Target
from cortex.providers.capabilities import TUNING_OPTIONS, Carries, Fit, fit
from cortex.providers.payload import (
    JsonObject,
    code_text,
    error_object,
    failed,
    first,
    http_failure,
    names,
    obj,
    parse_object,
    require,
    seq,
    string,
    usage_from,
)
from cortex.providers.sse import RawSseFrames
from cortex.providers.stream import JsonStreamDecoder

# In-stream errors carry no HTTP status; their code or type says what happened.
_KIND_BY_CODE = {
    "insufficient_quota": ErrorKind.QUOTA_EXHAUSTED,
    "rate_limit_exceeded": ErrorKind.RATE_LIMITED,
    "invalid_api_key": ErrorKind.INVALID_KEY,
    "context_length_exceeded": ErrorKind.BAD_REQUEST,
}


def bearer_headers(api_key: str | None) -> dict[str, str]:
    """``Authorization: Bearer`` when there is a key; nothing for keyless local servers."""
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


@dataclass(frozen=True, slots=True)
class OpenAIEndpoints:
    """Where one OpenAI-compatible API takes its calls and its key.

    Most compatible servers differ from OpenAI only in their base URL; Azure OpenAI also
    puts the model (its deployment) in the path, takes the key in an ``api-key`` header
    and needs an ``api-version`` query on every call.

    Attributes:
        chat_path: appended to the base URL for chat; ``{model}`` is the model, quoted.
        models_path: appended to the base URL to list models (the health probe).
        embeddings_path: appended to the base URL for embeddings, like ``chat_path``.
        auth_header: the header that carries the key.
        auth_prefix: written before the key in that header (``"Bearer "``).
        query: fixed query parameters of every call.
    """

    chat_path: str = "/chat/completions"
    models_path: str = "/models"
    embeddings_path: str = "/embeddings"
    auth_header: str = "Authorization"
    auth_prefix: str = "Bearer "
    query: tuple[tuple[str, str], ...] = ()

    def url(self, base_url: str, path: str, model: str = "") -> str:
        """The full URL of ``path`` under ``base_url``, with the fixed query."""
        url = base_url.rstrip("/") + path.format(model=quote(model, safe=""))
        return f"{url}?{urlencode(self.query)}" if self.query else url

    def headers(self, api_key: str | None) -> dict[str, str]:
        """The auth header when there is a key; nothing for keyless servers."""
        return {self.auth_header: f"{self.auth_prefix}{api_key}"} if api_key else {}


UNRELAYED = frozenset({"logprobs", "top_logprobs", "modalities", "audio"})
"""Options whose output (log probabilities, audio) Cortex does not relay: asking for them
upstream would cost tokens for nothing, so they are declared dropped instead."""
CARRIES = Carries(parallel_switch=True, options=TUNING_OPTIONS - UNRELAYED, extra=True)
"""Chat Completions is the gateway's own vocabulary: everything else passes through
(``n`` > 1 where the provider type takes it)."""
_REASONING_FIELDS = ("reasoning_content", "reasoning")  # DeepSeek, Groq, OpenRouter, vLLM


def message_json(message: Message) -> dict[str, Any]:
    """One message in OpenAI's shape (also Cohere's and, with its own tweaks, Ollama's)."""
    out: dict[str, Any] = {"role": message.role}
    if message.parts:
        out["content"] = [
            image_part_json(part)
            if isinstance(part, ImagePart)
            else {"type": "text", "text": part.text}
            for part in message.parts
        ]
    elif message.tool_calls and not message.content:
        out["content"] = None
    else:
        out["content"] = message.content
    if message.tool_calls:
        out["tool_calls"] = [tool_call_json(call) for call in message.tool_calls]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        out["name"] = message.name
    return out


def image_part_json(image: ImagePart) -> dict[str, Any]:
    """An ``image_url`` content part."""
    url: dict[str, Any] = {"url": image.url}
    if image.detail is not None:
        url["detail"] = image.detail
    return {"type": "image_url", "image_url": url}


def tool_call_json(call: ToolCall) -> dict[str, Any]:
    """A whole tool call, arguments as JSON text."""
    function = {"name": call.name, "arguments": call.arguments}
    return {"id": call.id, "type": "function", "function": function}


def tool_json(tool: Tool) -> dict[str, Any]:
    """A function tool definition."""
    function: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    if tool.parameters is not None:
        function["parameters"] = tool.parameters
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def tool_choice_json(choice: ToolChoice) -> str | dict[str, Any]:
    """``auto``, ``none``, ``required``, or the named-function object."""
    if choice.name is not None:
        return {"type": "function", "function": {"name": choice.name}}
    return choice.mode


def response_format_json(format_: ResponseFormat) -> dict[str, Any]:
    """``{"type": "json_object"}`` or ``{"type": "json_schema", "json_schema": {...}}``."""
    if format_.type != "json_schema":
        return {"type": format_.type}
    schema: dict[str, Any] = {"name": format_.name or "response"}
    optional = {
        "description": format_.description,
        "schema": format_.schema,
        "strict": format_.strict,
    }
    schema.update((key, value) for key, value in optional.items() if value is not None)
    return {"type": "json_schema", "json_schema": schema}


def choice_events(choice: Mapping[str, Any], delta: Mapping[str, Any]) -> list[StreamEvent]:
    """The events of one choice's ``delta`` (or whole ``message``): reasoning, text, calls.

    Every event names the choice's ``index`` (0 but when the client asked for ``n`` > 1).
    Runs once per streamed chunk, so the payload helpers are written out inline here.
    """
    number = choice.get("index")
    index = number if isinstance(number, int) and not isinstance(number, bool) else 0
    events: list[StreamEvent] = []
    for name in _REASONING_FIELDS:
        reasoning = delta.get(name)
        if reasoning and isinstance(reasoning, str):
            events.append(ReasoningDelta(reasoning, index))
            break
    text = delta.get("content")
    if text and isinstance(text, str):
        events.append(TextDelta(text, index))
    calls = delta.get("tool_calls")
    if isinstance(calls, list):
        for position, call in enumerate(calls):
            if isinstance(call, dict):
                events.append(_call_delta(call, position, index))
    reason = choice.get("finish_reason")
    if reason and isinstance(reason, str):
        events.append(Finished(reason, index))
    return events


def _call_delta(call: Mapping[str, Any], position: int, choice: int) -> ToolCallDelta:
    index = call.get("index")
    function = obj(call, "function")
    arguments = function.get("arguments")
    return ToolCallDelta(
        index if isinstance(index, int) and not isinstance(index, bool) else position,
        string(call, "id"),
        string(function, "name"),
        arguments if isinstance(arguments, str) else "",
        choice,
    )


def _usage(payload: Mapping[str, Any]) -> Usage | None:
    return usage_from(payload, "prompt_tokens", "completion_tokens")


def _stream_error(error: object) -> StreamFailed:
    """Classify an ``{"error": ...}`` object sent inside an otherwise successful stream."""
    fields: JsonObject = error if isinstance(error, dict) else {"message": error}
    code = code_text(fields, "code") or code_text(fields, "type")
    numeric = fields.get("code")
    if isinstance(numeric, int) and not isinstance(numeric, bool) and numeric >= 400:
        kind = kind_for_status(numeric)
    else:
        kind = _KIND_BY_CODE.get(code or "", ErrorKind.UPSTREAM_ERROR)
    return failed(kind, fields.get("message"), fallback="error inside the stream", code=code)


class _ChunkHandler:
    """Turns ``chat.completion.chunk`` objects into events; one per stream."""

    def __init__(self) -> None:
        self._usage: Usage | None = None

    def on_payload(self, _event: str, payload: JsonObject) -> list[StreamEvent]:
        if payload.get("error") is not None:
            return [_stream_error(payload["error"])]
        if "usage" in payload or "x_groq" in payload:
            usage = _usage(obj(payload, "usage")) or _usage(obj(obj(payload, "x_groq"), "usage"))
            self._usage = usage or self._usage
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices:
            return []
        if len(choices) > 1:  # n > 1: each chunk may carry several choices' deltas
            return [
                event
                for choice in choices
                if isinstance(choice, dict)
                for event in choice_events(choice, obj(choice, "delta"))
            ]
        choice = choices[0]
        if not isinstance(choice, dict):
            return []
        delta = choice.get("delta")
        return choice_events(choice, delta if isinstance(delta, dict) else {})

    def on_end(self) -> list[StreamEvent]:
        usage, self._usage = self._usage, None
        return [usage] if usage else []


class OpenAIAdapter:
    """The Chat Completions wire format (``openai``, ``groq``, ``xai``, ``mistral``, ...).

    Args:
        max_tokens_field: the body field that carries ``max_tokens``. Every compatible
            server accepts ``max_tokens``; OpenAI's reasoning models want
            ``max_completion_tokens`` instead.
        endpoints: the provider's paths, auth header and fixed query (OpenAI's by default).
        choices: the provider answers ``n`` > 1 choices in one call.
    """

    def __init__(
        self,
        *,
        max_tokens_field: str = "max_tokens",
        endpoints: OpenAIEndpoints | None = None,
        choices: bool = False,
    ) -> None:
        self._max_tokens_field = max_tokens_field
        self._endpoints = endpoints or OpenAIEndpoints()
        self._carries = dataclasses.replace(CARRIES, choices=choices)

    def fit(self, request: ChatRequest) -> Fit:
        """Everything fits Chat Completions (``n`` > 1 where the provider takes it)."""
        return fit(self._carries, request)

    def chat_call(self, target: Target, request: ChatRequest, *, stream: bool) -> HttpCall:
        """Build ``POST {base}/chat/completions`` (or the endpoints' own chat path).

        Unknown fields the client sent pass through first, so a field Cortex does know
        always takes the value Cortex validated.
        """
        body: dict[str, object] = dict(request.extra)
        body.update((k, v) for k, v in request.options.items() if k in self._carries.options)
        body["model"] = target.model
        body["messages"] = [message_json(m) for m in request.messages]
        body["stream"] = stream
        if stream:
            body["stream_options"] = {"include_usage": True}
        optional = {
            "temperature": request.temperature,
            "top_p": request.top_p,
            self._max_tokens_field: request.max_tokens,
            "stop": list(request.stop) or None,
            "tools": [tool_json(tool) for tool in request.tools] or None,
            "tool_choice": tool_choice_json(request.tool_choice) if request.tool_choice else None,
            "parallel_tool_calls": request.parallel_tool_calls if request.tools else None,
            "response_format": (
                response_format_json(request.response_format) if request.response_format else None
            ),
            "n": request.n if request.n != 1 else None,
            "reasoning_effort": request.reasoning_effort,
        }
        body.update((key, value) for key, value in optional.items() if value is not None)
        url = self._endpoints.url(target.base_url, self._endpoints.chat_path, target.model)
        return HttpCall("POST", url, self._endpoints.headers(target.api_key), body)

    def decoder(self) -> JsonStreamDecoder:
        """A decoder for one SSE stream of chunks."""
        return JsonStreamDecoder(RawSseFrames(), _ChunkHandler())

    def parse_completion(self, body: bytes) -> list[StreamEvent]:
        """Parse a ``chat.completion`` object.

        Raises:
            ValueError: not JSON, no ``choices[0].message``, or no ``finish_reason``.
        """
        payload = parse_object(body)
        choice = first(payload, "choices")
        message = require(choice.get("message"), "choices[0].message")
        reason = string(choice, "finish_reason")
        if not reason:
            raise ValueError("choices[0] without a finish_reason: the answer may be cut short")
        usage = _usage(obj(payload, "usage"))
        events = choice_events(choice, message)
        for other in seq(payload, "choices")[1:]:
            if isinstance(other, dict):
                events.extend(choice_events(other, obj(other, "message")))
        return [*events, *([usage] if usage else [])]

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamFailure:
        """Classify by status; a 429 whose code or type is ``insufficient_quota`` is quota."""
        payload = error_object(body)
        error = payload.get("error")
        fields: JsonObject = error if isinstance(error, dict) else {"message": error}
        code, kind_name = code_text(fields, "code"), code_text(fields, "type")
        kind = kind_for_status(status)
        if status == 429 and "insufficient_quota" in (code, kind_name):
            kind = ErrorKind.QUOTA_EXHAUSTED
        message = fields.get("message") or payload.get("message") or payload.get("detail")
        return http_failure(
            status, headers, body, kind=kind, message=message, code=code or kind_name
        )

    def models_call(self, base_url: str, api_key: str | None) -> HttpCall:
        """Build ``GET {base}/models`` (or the endpoints' own models path)."""
        url = self._endpoints.url(base_url, self._endpoints.models_path)
        return HttpCall("GET", url, self._endpoints.headers(api_key))

    def parse_models(self, body: bytes) -> tuple[str, ...]:
        """Read ``data[].id``.

        Raises:
            ValueError: not JSON, or no ``data`` list.
        """
        return names(body, "data", "id")
