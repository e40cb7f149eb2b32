"""OpenAI's chat surface in Gemini's request shapes: contents, tools, formats, thinking.

WIRE_FORMATS_TOOLS.md sections 1.3, 3.3, 4.3, 5 and 6.2. An assistant turn's calls go
into one ``model`` content of ``functionCall`` parts; the ``tool`` messages that answer
them go into one ``user`` content of ``functionResponse`` parts, each named after the
call it answers (a tool message carries no function name). Images become ``inlineData``
(``data:`` URLs) or ``fileData`` (http(s) URLs, which Gemini fetches).

Gemini 2.x often sends calls without an id, and Gemini 3 signs calls with a
``thoughtSignature`` it requires back on the same part. An OpenAI client has a field for
neither, so both ride in the call id the client sees (:func:`client_call_id`) and come
back out of it (:func:`native_call`): ``<id>~ts~<signature>``, where an id Cortex made up
starts with ``call~`` and is never sent to Gemini, which did not issue it.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from cortex.chat import ChatRequest, ImagePart, Message, ToolCall, ToolChoice
from cortex.providers.gemini_schema import is_empty_object, response_schema

SIGNATURE_MARK = "~ts~"
MADE_UP = "call~"
"""How the ids Cortex makes up for Gemini's unnamed calls begin."""

THINKING_BUDGETS = {"minimal": 0, "low": 1024, "medium": 8192, "high": 24576}
"""``reasoning_effort`` as a ``thinkingBudget`` in tokens."""

OPTIONS = {
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
    "top_k": "topK",
}
"""The tuning options forwarded, by their ``generationConfig`` names."""
_CHOICE_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
_DEFAULT_IMAGE_TYPE = "image/jpeg"
JSON_TYPE = "application/json"


def client_call_id(native: str | None, signature: str | None, made: str) -> str:
    """The id an OpenAI client sees for one Gemini call.

    Args:
        native: Gemini's ``functionCall.id``, if it sent one.
        signature: the part's ``thoughtSignature``, if any.
        made: a stable id to use when Gemini sent none (see :func:`made_up_id`).
    """
    base = native or made
    return f"{base}{SIGNATURE_MARK}{signature}" if signature else base


def made_up_id(response_id: str | None, index: int, name: str, arguments: str) -> str:
    """A stable id for an unnamed call: the same answer always gets the same ids."""
    seed = f"{response_id or ''}|{index}|{name}|{arguments}".encode()
    return f"{MADE_UP}{hashlib.sha256(seed).hexdigest()[:16]}"


def native_call(client_id: str) -> tuple[str | None, str | None]:
    """``(Gemini's id or None, thoughtSignature or None)`` of a client's call id."""
    base, mark, signature = client_id.partition(SIGNATURE_MARK)
    native = None if base.startswith(MADE_UP) or not base else base
    return native, (signature if mark and signature else None)


def contents(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The conversation (without system messages) as Gemini ``contents``.

    Raises:
        ValueError: a call's arguments are not a JSON object, a tool result answers no
            earlier call, or an image is neither a base64 ``data:`` URL nor http(s).
    """
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "tool":
            part = _response_part(message, names)
            if out and out[-1].get("results"):
                out[-1]["parts"].append(part)
            else:
                out.append({"role": "user", "parts": [part], "results": True})
            continue
        names.update((call.id, call.name) for call in message.tool_calls)
        parts = _parts(message)
        if parts:
            out.append({"role": "model" if message.role == "assistant" else "user", "parts": parts})
    return [{key: v for key, v in content.items() if key != "results"} for content in out]


def _parts(message: Message) -> list[dict[str, Any]]:
    """A message's text and images in order, then its calls; empty if it carries nothing."""
    if message.parts:
        parts = [
            image_part(part) if isinstance(part, ImagePart) else {"text": part.text}
            for part in message.parts
            if isinstance(part, ImagePart) or part.text
        ]
    else:
        parts = [{"text": message.content}] if message.content.strip() else []
    return parts + [call_part(call) for call in message.tool_calls]


def call_part(call: ToolCall) -> dict[str, Any]:
    """A ``functionCall`` part, with its id and signature restored from the client's id.

    Raises:
        ValueError: the arguments are not a JSON object.
    """
    native, signature = native_call(call.id)
    function: dict[str, Any] = {"name": call.name, "args": call.parsed_arguments()}
    if native is not None:
        function = {"id": native, **function}
    part: dict[str, Any] = {"functionCall": function}
    if signature is not None:
        part["thoughtSignature"] = signature
    return part


def _response_part(message: Message, names: Mapping[str, str]) -> dict[str, Any]:
    """A ``functionResponse`` part answering the call ``message.tool_call_id`` names.

    Raises:
        ValueError: no earlier assistant message made that call.
    """
    call_id = message.tool_call_id or ""
    name = names.get(call_id)
    if name is None:
        raise ValueError(f"tool message answers call {call_id!r}, which no assistant message made")
    function: dict[str, Any] = {"name": name, "response": tool_result(message.content)}
    native, _ = native_call(call_id)
    if native is not None:
        function = {"id": native, **function}
    return {"functionResponse": function}


def tool_result(content: str) -> dict[str, Any]:
    """A tool's result as Gemini's ``response`` object: the JSON object it is, else its text."""
    try:
        value = json.loads(content)
    except (json.JSONDecodeError, RecursionError):
        value = None
    return value if isinstance(value, dict) else {"output": content}


def image_part(image: ImagePart) -> dict[str, Any]:
    """``inlineData`` for a base64 ``data:`` URL, ``fileData`` for an http(s) URL.

    Raises:
        ValueError: any other kind of URL, which Gemini cannot take.
    """
    inline = image.inline()
    if inline is not None:
        return {"inlineData": {"mimeType": inline[0], "data": inline[1]}}
    if urlsplit(image.url).scheme.lower() in ("http", "https"):
        return {"fileData": {"mimeType": image_type(image.url), "fileUri": image.url}}
    raise ValueError("an image must be a base64 data: URL or an http(s) URL for Gemini")


def image_type(url: str) -> str:
    """The image MIME type a URL's file extension names; JPEG when it names none."""
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed if guessed and guessed.startswith("image/") else _DEFAULT_IMAGE_TYPE


def tools_json(request: ChatRequest) -> dict[str, Any]:
    """``tools`` and ``toolConfig`` for the request's tools (nothing when it has none)."""
    if not request.tools:
        return {}
    declarations: list[dict[str, Any]] = []
    for tool in request.tools:
        declaration: dict[str, Any] = {"name": tool.name}
        if tool.description is not None:
            declaration["description"] = tool.description
        if not is_empty_object(tool.parameters):
            declaration["parametersJsonSchema"] = tool.parameters
        declarations.append(declaration)
    out: dict[str, Any] = {"tools": [{"functionDeclarations": declarations}]}
    if request.tool_choice is not None:
        out["toolConfig"] = {"functionCallingConfig": choice_json(request.tool_choice)}
    return out


def choice_json(choice: ToolChoice) -> dict[str, Any]:
    """``functionCallingConfig``: AUTO, NONE, ANY, or ANY limited to the named function."""
    config: dict[str, Any] = {"mode": _CHOICE_MODES.get(choice.mode, "AUTO")}
    if choice.name is not None:
        config["allowedFunctionNames"] = [choice.name]
    return config


def generation_config(request: ChatRequest) -> dict[str, Any]:
    """``generationConfig``: sampling, options, structured output and thinking."""
    config: dict[str, Any] = {
        "temperature": request.temperature,
        "maxOutputTokens": request.max_tokens,
        "topP": request.top_p,
        "stopSequences": list(request.stop) or None,
    }
    config.update((wire, request.options.get(name)) for name, wire in OPTIONS.items())
    format_ = request.response_format
    if format_ is not None:
        config["responseMimeType"] = JSON_TYPE
        if format_.type == "json_schema" and format_.schema is not None:
            config["responseJsonSchema"] = response_schema(format_.schema)
    budget = THINKING_BUDGETS.get(request.reasoning_effort or "")
    if budget is not None:
        config["thinkingConfig"] = {"thinkingBudget": budget, "includeThoughts": True}
    return {key: value for key, value in config.items() if value is not None}
