"""Cached answers as compact bytes, for a cache kept outside the process (Redis).

One answer is one JSON array (orjson), tagged by kind, with positional fields: an entry
is read on every hit of the fleet, so it is kept small and decodes without a schema
library. Anything that does not decode (a truncated value, a value written by a newer
Cortex whose layout differs) reads as no answer: a miss, never an error.
"""

from __future__ import annotations

from typing import Any

import orjson

from cortex.chat import CachedAnswer, Embeddings, ToolCall, Usage, WholeAnswer

LAYOUT = 1
"""Bumped when the layout changes, so an older instance reads a newer entry as a miss."""
WHOLE = "w"
EMBEDDINGS = "e"


def encode(answer: CachedAnswer) -> bytes:
    """``answer`` as bytes :func:`decode` reads back into an equal answer."""
    if isinstance(answer, Embeddings):
        body: list[Any] = [
            answer.worker,
            answer.model,
            [list(vector) for vector in answer.vectors],
            answer.prompt_tokens,
            list(answer.dropped),
        ]
        return orjson.dumps([LAYOUT, EMBEDDINGS, body])
    return orjson.dumps([LAYOUT, WHOLE, _whole(answer)])


def decode(raw: bytes) -> CachedAnswer | None:
    """The answer ``raw`` holds, or None if it is not one this layout can read."""
    try:
        layout, kind, body = orjson.loads(raw)
        if layout != LAYOUT:
            return None
        if kind == EMBEDDINGS:
            worker, model, vectors, prompt_tokens, dropped = body
            return Embeddings(
                worker,
                model,
                tuple(tuple(float(x) for x in vector) for vector in vectors),
                int(prompt_tokens),
                tuple(dropped),
            )
        if kind == WHOLE:
            return _read_whole(body)
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None
    return None


def _whole(answer: WholeAnswer) -> list[Any]:
    usage = answer.usage
    return [
        answer.worker,
        answer.model,
        list(answer.pieces),
        answer.finish_reason,
        None if usage is None else [usage.prompt_tokens, usage.completion_tokens],
        list(answer.workers),
        [[call.id, call.name, call.arguments] for call in answer.tool_calls],
        answer.reasoning,
        list(answer.dropped),
        [_whole(other) for other in answer.alternatives],
        answer.reasoning_signature,
        answer.substituted_for,
    ]


def _read_whole(body: list[Any]) -> WholeAnswer:
    (
        worker,
        model,
        pieces,
        finish_reason,
        usage,
        workers,
        calls,
        reasoning,
        dropped,
        alternatives,
        signature,
        substituted_for,
    ) = body
    return WholeAnswer(
        worker=str(worker),
        model=str(model),
        pieces=tuple(str(piece) for piece in pieces),
        finish_reason=str(finish_reason),
        usage=None if usage is None else Usage(int(usage[0]), int(usage[1])),
        workers=tuple(str(name) for name in workers),
        tool_calls=tuple(ToolCall(str(i), str(n), str(a)) for i, n, a in calls),
        reasoning=str(reasoning),
        dropped=tuple(str(name) for name in dropped),
        alternatives=tuple(_read_whole(other) for other in alternatives),
        reasoning_signature=str(signature),
        substituted_for=None if substituted_for is None else str(substituted_for),
    )
