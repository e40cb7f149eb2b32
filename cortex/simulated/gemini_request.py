"""How the simulated Gemini reads a ``generateContent`` request into a :class:`ChatCall`.

google-genai writes nested objects in snake_case (``inline_data``, ``function_calling_config``,
``parameters_json_schema``) and documented camelCase elsewhere, and the API takes both
(WIRE_FORMATS_TOOLS.md 1.3), so every field is read by either name. Function responses
after the last user text are the results of the model's last calls.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cortex.simulated.content import ChatCall, ToolOffer, count_words, read_messages, text_of
from cortex.simulated.faults import ErrorKind
from cortex.simulated.wire import ReplyError

__all__ = ["GeminiCall", "field", "read_call"]


def read_call(body: Mapping[str, Any], *, model: str, stream: bool) -> GeminiCall:
    """Read one request body.

    Raises:
        ReplyError: BAD_REQUEST when ``contents`` is missing or a function response
            names a call id no earlier call carried.
    """
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise ReplyError(
            ErrorKind.BAD_REQUEST, "* GenerateContentRequest.contents: contents is not specified"
        )
    _check_response_ids(contents)
    _, prompt_tokens = read_messages(contents, content_field="parts")
    system = text_of(field(field(body, "systemInstruction"), "parts"))
    config = field(body, "generationConfig")
    max_tokens = field(config, "maxOutputTokens")
    schema = field(config, "responseJsonSchema") or field(config, "responseSchema")
    thinking = field(config, "thinkingConfig")
    return GeminiCall(
        model=model,
        prompt=_prompt(contents),
        prompt_tokens=prompt_tokens + count_words([system]),
        stream=stream,
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        offer=_offer(body, contents),
        json_schema=schema if isinstance(schema, dict) else None,
        json_mode=field(config, "responseMimeType") == "application/json",
        images=sum(1 for part in _parts(contents) if _is_media(part)),
        thoughts=bool(field(thinking, "includeThoughts"))
        and field(thinking, "thinkingBudget") != 0,
    )


@dataclass(frozen=True, slots=True)
class GeminiCall(ChatCall):
    """A :class:`ChatCall` that also says whether the client asked to see thoughts."""

    thoughts: bool = False


def field(node: object, name: str) -> object:
    """A field by its lowerCamel name or its proto (snake_case) name: Gemini takes both."""
    if not isinstance(node, dict):
        return None
    if name in node:
        return node[name]
    return node.get(re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower())


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _parts(contents: list[Any]) -> list[dict[str, Any]]:
    """Every part of every content, in order."""
    return [p for c in contents for p in _list(field(c, "parts")) if isinstance(p, dict)]


def _is_media(part: Mapping[str, Any]) -> bool:
    return field(part, "inlineData") is not None or field(part, "fileData") is not None


def _says(content: object) -> bool:
    """Whether a ``user`` content holds text (rather than only function responses)."""
    text = text_of(field(content, "parts"))
    return field(content, "role") in ("user", None) and bool(text.strip())


def _prompt(contents: list[Any]) -> str:
    """The text of the last user content that holds text."""
    said = [text_of(field(c, "parts")) for c in contents if _says(c)]
    return said[-1] if said else ""


def _offer(body: Mapping[str, Any], contents: list[Any]) -> ToolOffer:
    """The declared functions, the calling mode, and the responses after the last prompt."""
    tools = tuple(
        (str(field(d, "name")), field(d, "parametersJsonSchema") or field(d, "parameters"))
        for tool in _list(field(body, "tools"))
        for d in _list(field(tool, "functionDeclarations"))
        if isinstance(field(d, "name"), str)
    )
    config = _object(field(field(body, "toolConfig"), "functionCallingConfig"))
    mode = str(field(config, "mode") or "AUTO").upper()
    allowed = _list(field(config, "allowedFunctionNames"))
    last = max((i for i, c in enumerate(contents) if _says(c)), default=-1)
    responses = [field(p, "functionResponse") for p in _parts(contents[last + 1 :])]
    return ToolOffer(
        tools=tuple((name, s if isinstance(s, dict) else None) for name, s in tools),
        mode={"NONE": "none", "ANY": "required"}.get(mode, "auto"),
        forced=allowed[0] if mode == "ANY" and len(allowed) == 1 else None,
        results=tuple(_result_text(r) for r in responses if isinstance(r, dict)),
    )


def _result_text(response: Mapping[str, Any]) -> str:
    """A function response as the model reads it: its ``output`` text, else its JSON.

    The JSON is written the way ``json.dumps`` writes it by default, so a result a client
    sent as ``'{"temp_c": 18}'`` reads back the same through every simulated provider.
    """
    body = _object(field(response, "response"))
    output = body.get("output")
    return output if isinstance(output, str) else json.dumps(body)


def _check_response_ids(contents: list[Any]) -> None:
    """Refuse a ``functionResponse.id`` no earlier ``functionCall`` carried, as Gemini does.

    Raises:
        ReplyError: BAD_REQUEST naming the mismatch.
    """
    issued: set[object] = set()
    for part in _parts(contents):
        issued.add(field(field(part, "functionCall"), "id"))
        answered = field(field(part, "functionResponse"), "id")
        if answered is not None and answered not in issued:
            raise ReplyError(
                ErrorKind.BAD_REQUEST, "functionResponse.id does not match functionCall.id"
            )
