"""Ollama's native API: ``POST /api/chat`` streamed as NDJSON, ``GET /api/tags`` for health.

The worker's ``base_url`` is the server root (``http://localhost:11434``). Sampling
settings go inside ``options`` (``num_predict`` is the max-token count) and ``stream`` is
always sent, because Ollama streams when it is omitted. Each line is an object with a
piece of ``message.content``; the last has ``"done": true``, ``done_reason`` and the token
counts. Errors, before or during the stream, are ``{"error": "..."}``. Local servers need
no key; ollama.com cloud takes a Bearer key.

Tools, images, JSON output and reasoning are translated in
:mod:`cortex.providers.ollama_tools`. Thinking arrives in ``message.thinking`` and tool
calls whole in ``message.tool_calls``; ``done_reason`` stays ``stop`` after calls, which
OpenAI calls ``tool_calls``.
"""

from __future__ import annotations

from collections.abc import Mapping

from actors.inventory import ModelInventory
from actors.outcomes import ErrorKind, UpstreamFailure, kind_for_status
from actors.wire import HttpCall
from cortex.chat import ChatRequest, Finished, ReasoningDelta, StreamEvent, TextDelta
from cortex.providers import ollama_models
from cortex.providers.base import Target
from cortex.providers.capabilities import Carries, Fit, fit
from cortex.providers.ndjson import NdjsonSplitter
from cortex.providers.ollama_tools import (
    call_deltas,
    format_json,
    left_out,
    messages_json,
    think_json,
    tools_json,
    unsendable,
)
from cortex.providers.openai import bearer_headers
from cortex.providers.payload import (
    JsonObject,
    error_object,
    failed,
    http_failure,
    names,
    obj,
    parse_object,
    require,
    string,
    usage_from,
)
from cortex.providers.stream import JsonStreamDecoder, LineFrames, whole_body

# "load" and "unload" answer requests that only (un)load a model: nothing was cut short.
_FINISH = {"stop": "stop", "length": "length", "load": "stop", "unload": "stop"}


class _LineHandler:
    """Translates ``/api/chat`` objects, partial or final; one per answer.

    It counts the calls seen so far: they number the next ones, and turn the final
    ``stop`` into ``tool_calls``.
    """

    def __init__(self) -> None:
        self._calls = 0

    def on_payload(self, _event: str, payload: JsonObject) -> list[StreamEvent]:
        if payload.get("error") is not None:
            return [failed(ErrorKind.UPSTREAM_ERROR, payload["error"], fallback="error in stream")]
        events: list[StreamEvent] = []
        message = obj(payload, "message")
        thinking = string(message, "thinking")
        if thinking:
            events.append(ReasoningDelta(thinking))
        text = string(message, "content")
        if text:
            events.append(TextDelta(text))
        calls = call_deltas(message, self._calls)
        self._calls += len(calls)
        events.extend(calls)
        if payload.get("done") is True:
            reason = _FINISH.get(string(payload, "done_reason") or "stop", "stop")
            events.append(Finished("tool_calls" if reason == "stop" and self._calls else reason))
            usage = usage_from(payload, "prompt_eval_count", "eval_count")
            if usage:
                events.append(usage)
        return events

    def on_end(self) -> list[StreamEvent]:
        return []


CARRIES = Carries(
    required_choice=False,
    named_choice=False,
    image_urls=False,
    options=frozenset({"seed", "presence_penalty", "frequency_penalty", "top_k"}),
)
"""What this wire translates of the chat surface."""


class OllamaAdapter:
    """The native Ollama wire format (type ``ollama``). Takes no arguments."""

    def fit(self, request: ChatRequest) -> Fit:
        """What of ``request`` the Ollama wire cannot honour or leaves out."""
        base = fit(CARRIES, request, dropped=left_out(request))
        refused = unsendable(request)
        return Fit((*base.unmet, *refused), base.dropped) if refused else base

    def chat_call(self, target: Target, request: ChatRequest, *, stream: bool) -> HttpCall:
        """Build ``POST {base}/api/chat``.

        Raises:
            ValueError: a tool call's arguments are not a JSON object, or an image is not
                inline or not of a type Ollama takes (:meth:`fit` reports both as unmet).
        """
        body: dict[str, object] = {
            "model": target.model,
            "messages": messages_json(request.messages),
            "stream": stream,
        }
        optional = {
            "tools": tools_json(request),
            "format": format_json(request.response_format),
            "think": think_json(request.reasoning_effort),
        }
        body.update((key, value) for key, value in optional.items() if value is not None)
        options = {
            "temperature": request.temperature,
            "top_p": request.top_p,
            "num_predict": request.max_tokens,
            "stop": list(request.stop) or None,
            **{name: request.options.get(name) for name in sorted(CARRIES.options)},
        }
        if any(value is not None for value in options.values()):
            body["options"] = {key: value for key, value in options.items() if value is not None}
        url = f"{target.base_url.rstrip('/')}/api/chat"
        return HttpCall("POST", url, bearer_headers(target.api_key), body)

    def decoder(self) -> JsonStreamDecoder:
        """A decoder for one NDJSON stream."""
        return JsonStreamDecoder(LineFrames(NdjsonSplitter()), _LineHandler())

    def parse_completion(self, body: bytes) -> list[StreamEvent]:
        """Parse the single object of a ``"stream": false`` answer.

        Raises:
            ValueError: not JSON, an error object, no ``message``, or not ``"done": true``.
        """
        payload = parse_object(body)
        if payload.get("error") is None:
            require(payload.get("message"), "a message object")
        return whole_body(_LineHandler().on_payload("", payload))

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamFailure:
        """Classify by status (404 unknown model, 503 queue full); the body only explains."""
        message = error_object(body).get("error")
        return http_failure(status, headers, body, kind=kind_for_status(status), message=message)

    def models_call(self, base_url: str, api_key: str | None) -> HttpCall:
        """Build ``GET {base}/api/tags`` (the local model list)."""
        return HttpCall("GET", f"{base_url.rstrip('/')}/api/tags", bearer_headers(api_key))

    def parse_models(self, body: bytes) -> tuple[str, ...]:
        """Read ``models[].name``.

        Raises:
            ValueError: not JSON, or no ``models`` list.
        """
        return names(body, "models", "name")

    def loaded_call(self, base_url: str, api_key: str | None) -> HttpCall:
        """Build ``GET {base}/api/ps`` (the models loaded in memory)."""
        return ollama_models.loaded_call(base_url, api_key)

    def warm_call(self, base_url: str, api_key: str | None, model: str) -> HttpCall:
        """Build the generate request that loads ``model`` and keeps it loaded for good."""
        return ollama_models.warm_call(base_url, api_key, model, keep_alive=-1)

    def parse_inventory(self, listing: bytes, loaded: bytes | None) -> ModelInventory:
        """Read the models on disk and loaded (see :mod:`cortex.providers.ollama_models`).

        Raises:
            ValueError: a body is not a model listing.
        """
        return ollama_models.parse_inventory(listing, loaded)
