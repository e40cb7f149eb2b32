"""The embeddings vocabulary: what a client asks to embed, and the vectors that come back.

OpenAI's ``/v1/embeddings`` is the model, as Chat Completions is for chat: every wire
translates from :class:`EmbeddingRequest` and into :class:`Embeddings`. Vectors are kept
as floats; the base64 form a client may ask for is packed where the response is rendered.
"""

from __future__ import annotations

from dataclasses import dataclass

FLOAT32_BYTES = 4


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    """One request for embeddings.

    Attributes:
        inputs: the texts to embed, in order (a lone string is one input).
        model: a model name, a route or ``auto``/None (any embeddings worker's default).
        pin: the worker the client pinned (``"<worker>/<model>"``), if any.
        dimensions: the vector length asked for (None: the model's own).
        user: OpenAI's end-user id, passed on where the wire has a place for it.
    """

    inputs: tuple[str, ...]
    model: str | None = None
    pin: str | None = None
    dimensions: int | None = None
    user: str | None = None


@dataclass(frozen=True, slots=True)
class Embeddings:
    """The vectors of one request, one per input in input order, and who computed them.

    Attributes:
        worker: the worker that answered.
        model: the upstream model that answered.
        vectors: one vector per input.
        prompt_tokens: input tokens as the upstream counted them (0 when it says none).
        dropped: request fields the answering wire left out (``user``).
    """

    worker: str
    model: str
    vectors: tuple[tuple[float, ...], ...]
    prompt_tokens: int = 0
    dropped: tuple[str, ...] = ()

    @property
    def pieces(self) -> tuple[str, ...]:
        """No text: embeddings are stored by the response cache beside chat answers."""
        return ()

    @property
    def payload_bytes(self) -> int:
        """The bytes of the vectors as float32, what the cache counts against its bound."""
        return FLOAT32_BYTES * sum(len(vector) for vector in self.vectors)


__all__ = ["EmbeddingRequest", "Embeddings"]
