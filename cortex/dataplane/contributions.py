"""The workers that wrote one streamed answer, and how its token usage reads as one answer's.

A streamed answer whose worker breaks off after its first token is continued by another
worker (see :mod:`cortex.dataplane.dispatch`), so the client receives one answer written by several
workers. Its usage must read as one answer's: the prompt counted once, and as completion
every token the client received. Neither comes straight from the upstreams: the continuing
worker was sent the prompt *plus* the text already delivered (which it counts as prompt),
and a worker that broke off has seldom reported anything. So:

* a worker that broke off delivered the completion tokens it reported, but never fewer
  than the text chunks it delivered (providers stream about one token per chunk, and a
  count reported in the middle of a stream lags behind it);
* the last worker delivered what it reported at its end, else one token per chunk;
* the prompt is the first reported prompt count, less what had been delivered before
  that worker started (the text it was sent as a prefill);
* when no worker reported any usage, the answer's usage is unknown.

Each worker's share (the prompt on the first, its own delivered tokens on each) adds up to
the answer's usage, so per-worker metrics and the client's usage agree. Pure functions
over plain data, tested table-driven.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cortex.chat import Usage


@dataclass(slots=True)
class Contribution:
    """One worker's part of a streamed answer, filled in while it streams.

    Attributes:
        worker: the worker that wrote this part.
        model: the upstream model it used.
        chunks: the text chunks it delivered to the client.
        usage: the last usage it reported, if any.
        broke: it broke off before the answer's end.
    """

    worker: str
    model: str
    chunks: int = 0
    usage: Usage | None = None
    broke: bool = False


def shares(parts: Sequence[Contribution]) -> list[Usage | None]:
    """Each part's share of the answer's usage, in order; None where nothing is known.

    A single part's share is exactly what its worker reported.
    """
    if len(parts) == 1:
        return [parts[0].usage]
    if all(part.usage is None for part in parts):
        return [None] * len(parts)
    delivered = [_delivered(part, last=i == len(parts) - 1) for i, part in enumerate(parts)]
    prompt = _prompt(parts, delivered)
    return [Usage(prompt if i == 0 else 0, count) for i, count in enumerate(delivered)]


def answer_usage(parts: Sequence[Contribution]) -> Usage | None:
    """The usage of the whole answer: the sum of the parts' shares, None if none is known."""
    known = [share for share in shares(parts) if share is not None]
    if not known:
        return None
    return Usage(
        sum(share.prompt_tokens for share in known),
        sum(share.completion_tokens for share in known),
    )


def _delivered(part: Contribution, *, last: bool) -> int:
    """The completion tokens one part delivered to the client."""
    reported = part.usage.completion_tokens if part.usage is not None else None
    if last:
        return reported if reported is not None else part.chunks
    return max(reported or 0, part.chunks)


def _prompt(parts: Sequence[Contribution], delivered: Sequence[int]) -> int:
    """The original prompt: the first reported prompt, less the prefill that worker was sent."""
    before = 0
    for part, count in zip(parts, delivered, strict=True):
        if part.usage is not None and part.usage.prompt_tokens > 0:
            return max(0, part.usage.prompt_tokens - before)
        before += count
    return 0


__all__ = ["Contribution", "answer_usage", "shares"]
