"""What a simulated provider's embedding model answers: deterministic vectors from a hash.

The same text always gets the same vector (so a test can compute the expected one), and
different texts get different ones. A vector is unit length, as real embedding models'
are, and truncating it (``dimensions``) keeps its first values, as Gemini and OpenAI's
text-embedding-3 models do.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

from cortex.simulated.faults import ErrorKind
from cortex.simulated.wire import ReplyError

DEFAULT_DIMENSIONS = 8
"""The length of a vector when the request names none."""


def vector(text: str, dimensions: int | None = None) -> list[float]:
    """The vector of ``text``: ``dimensions`` long (default :data:`DEFAULT_DIMENSIONS`)."""
    size = dimensions or DEFAULT_DIMENSIONS
    raw: list[float] = []
    counter = 0
    while len(raw) < size:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        raw.extend((byte - 127.5) / 127.5 for byte in digest)
        counter += 1
    values = raw[:size]
    norm = math.sqrt(sum(value * value for value in values)) or 1.0
    return [round(value / norm, 6) for value in values]


def tokens(texts: list[str]) -> int:
    """A token count for ``texts``: one per whitespace-separated word, at least one each."""
    return sum(max(1, len(text.split())) for text in texts)


def read_embedding_request(
    model: object, texts: object, dimensions: object, accepted: Sequence[str]
) -> tuple[list[str], int | None]:
    """The texts and vector length of an embeddings request, as any provider checks them.

    Raises:
        ReplyError: the texts or dimensions are malformed, or ``model`` is not accepted.
    """
    if not (isinstance(texts, list) and texts and all(isinstance(t, str) for t in texts)):
        raise ReplyError(ErrorKind.BAD_REQUEST, "input must be a non-empty list of strings")
    if dimensions is not None and (not isinstance(dimensions, int) or dimensions < 1):
        raise ReplyError(ErrorKind.BAD_REQUEST, "dimensions must be a positive integer")
    if not isinstance(model, str) or model not in accepted:
        raise ReplyError(ErrorKind.MODEL_NOT_FOUND, str(model))
    return texts, dimensions


__all__ = ["DEFAULT_DIMENSIONS", "read_embedding_request", "tokens", "vector"]
