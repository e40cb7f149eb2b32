"""Reading Anthropic's content blocks, whole or streamed, into the gateway's events.

Text and thinking blocks become text and reasoning; ``tool_use`` blocks become tool-call
fragments numbered among tool calls only (Anthropic's block index also counts text and
thinking). The reserved JSON-mode tool (:data:`~cortex.providers.anthropic_tools.JSON_TOOL`)
is recognised by name in every answer, so its input reaches the client as text and its
``tool_use`` stop as ``stop``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cortex.chat import (
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
)
from cortex.providers.anthropic_tools import FINISH, JSON_TOOL
from cortex.providers.payload import obj, string


def _json_text(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_PIECES: dict[str, tuple[str, type[TextDelta] | type[ReasoningDelta]]] = {
    # block or delta type: (the field holding its text, the event it makes)
    "text": ("text", TextDelta),
    "text_delta": ("text", TextDelta),
    "thinking": ("thinking", ReasoningDelta),
    "thinking_delta": ("thinking", ReasoningDelta),
}


def _piece(kind: str | None, fields: Mapping[str, Any]) -> list[StreamEvent]:
    """The text or reasoning a block or delta carries; nothing for any other kind."""
    found = _PIECES.get(kind or "")
    if found is None:
        return []
    text = string(fields, found[0])
    signature = string(fields, "signature") if kind == "thinking" else None
    if signature:  # a whole thinking block carries its signature
        return [ReasoningDelta(text or "", signature=signature)]
    return [found[1](text)] if text else []


class ContentBlocks:
    """Turns one answer's content blocks into events: text, thinking, calls, JSON answer.

    Anthropic's block ``index`` counts every block, OpenAI's call index only calls, so
    each ``tool_use`` block is numbered as it starts. The reserved JSON tool's input is
    the answer's text instead. One instance per answer, streamed or whole.
    """

    def __init__(self) -> None:
        self._calls: dict[int, int] = {}  # block index -> call index
        self._json: set[int] = set()  # blocks of the JSON tool
        self._empty: set[int] = set()  # tool blocks whose input has not begun
        self.json_answer = False

    def start(self, index: int, block: Mapping[str, Any]) -> list[StreamEvent]:
        """``content_block_start`` (or a whole text or thinking block)."""
        kind = string(block, "type")
        if kind == "tool_use":
            self._empty.add(index)
            name = string(block, "name")
            if name == JSON_TOOL:
                self._json.add(index)
                self.json_answer = True
                return []
            return [ToolCallDelta(self._number(index), string(block, "id"), name, "")]
        # redacted_thinking is opaque, and server tools are never offered
        return _piece(kind, block)

    def delta(self, index: int, delta: Mapping[str, Any]) -> list[StreamEvent]:
        """``content_block_delta``: text, thinking, or a fragment of a call's input."""
        kind = string(delta, "type")
        if kind != "input_json_delta":
            if kind == "signature_delta":
                return [ReasoningDelta("", signature=string(delta, "signature") or None)]
            return _piece(kind, delta)  # future kinds give nothing
        partial = string(delta, "partial_json")
        if not partial:
            return []
        self._empty.discard(index)
        return self._input(index, partial)

    def stop(self, index: int) -> list[StreamEvent]:
        """``content_block_stop``: a call without arguments sent only ``""``, meaning ``{}``."""
        if index not in self._empty:
            return []
        self._empty.discard(index)
        return self._input(index, "{}")

    def whole(self, index: int, block: Mapping[str, Any]) -> list[StreamEvent]:
        """One block of a non-streamed message; a call is one fragment with its arguments."""
        if string(block, "type") != "tool_use":
            return self.start(index, block)
        arguments = _json_text(obj(block, "input"))
        name = string(block, "name")
        if name == JSON_TOOL:
            self.json_answer = True
            return [TextDelta(arguments)]
        return [ToolCallDelta(self._number(index), string(block, "id"), name, arguments)]

    def finish(self, reason: str | None) -> str:
        """The finish reason by table 2.6, as the blocks seen so far qualify it.

        Any call makes a normal stop ``tool_calls``; the JSON tool alone made ``tool_use``
        a plain ``stop``.
        """
        finish = FINISH.get(reason or "", "stop")
        if self._calls and finish == "stop":
            return "tool_calls"
        if finish == "tool_calls" and self.json_answer and not self._calls:
            return "stop"
        return finish

    def _number(self, index: int) -> int:
        return self._calls.setdefault(index, len(self._calls))

    def _input(self, index: int, text: str) -> list[StreamEvent]:
        if index in self._json:
            return [TextDelta(text)]
        call = self._calls.get(index)
        return [] if call is None else [ToolCallDelta(call, arguments=text)]
