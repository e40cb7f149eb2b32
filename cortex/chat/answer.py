"""What an answer is made of: the stream events, and the fold from live to whole answers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Iterable, Mapping
from dataclasses import dataclass, field

from actors.outcomes import ErrorKind, UpstreamFailure
from cortex.chat.request import ToolCall


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer's text, in order.

    ``choice`` numbers the alternative answer it belongs to when the client asked for
    several (``n`` > 1); 0 otherwise, as for every event that carries it.
    """

    text: str
    choice: int = 0


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's reasoning (thinking) text, streamed before or between text.

    ``signature`` is the provider's seal on the reasoning so far (Anthropic's thinking
    signature), which a client must send back with the reasoning in a tool loop.
    """

    text: str
    choice: int = 0
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of a tool call, as OpenAI streams them.

    The first fragment of each call (by ``index``, counting calls from 0 in the order
    they began) carries its ``id`` and ``name``; later ones only more ``arguments`` text.
    Providers that send whole calls send one fragment per call.
    """

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    choice: int = 0


@dataclass(frozen=True, slots=True)
class Finished:
    """The upstream said why it (or one of several ``choice``-s) stopped, in OpenAI's words."""

    reason: str
    choice: int = 0


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts for the whole exchange, as the upstream reported them."""

    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        """Prompt and completion tokens together."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class StreamFailed:
    """The upstream reported an error inside an otherwise successful stream."""

    failure: UpstreamFailure


@dataclass(frozen=True, slots=True)
class Malformed:
    """One chunk of the stream could not be read; it was skipped and the stream goes on."""

    detail: str


@dataclass(frozen=True, slots=True)
class Continued:
    """Another worker carries on a streamed answer after the one before it broke off.

    Never produced by an adapter: the data plane emits it when it continues an answer on
    another worker, so everything that renders or records the answer can name each worker
    that wrote part of it. The text after it comes from ``worker``'s ``model``.
    """

    worker: str
    model: str


StreamEvent = (
    TextDelta
    | ReasoningDelta
    | ToolCallDelta
    | Finished
    | Usage
    | StreamFailed
    | Malformed
    | Continued
)


INCOMPLETE = "ended before the answer was complete"
INCOMPLETE_CODE = "incomplete"
"""The code of :func:`incomplete` failures, which Cortex detects rather than the provider sends."""


def incomplete() -> StreamFailed:
    """The failure of an answer whose end signal never arrived (a mid-stream upstream error)."""
    message = f"the upstream {INCOMPLETE}"
    return StreamFailed(UpstreamFailure(ErrorKind.UPSTREAM_ERROR, message, code=INCOMPLETE_CODE))


def is_incomplete(failure: UpstreamFailure) -> bool:
    """Whether ``failure`` is Cortex's verdict of a missing end signal, not the provider's error."""
    return failure.code == INCOMPLETE_CODE and failure.kind is ErrorKind.UPSTREAM_ERROR


@dataclass(frozen=True, slots=True)
class LiveAnswer:
    """An answer being received: who answers, and its events as they arrive.

    Whether it comes from an upstream, an identical request's flight or the cache, it
    reads the same: text deltas, then a finish reason and usage, or a failure. Read
    ``events`` once, to the end or ``aclose`` it.

    Attributes:
        worker: the worker answering (``X-Cortex-Worker``).
        model: the upstream model answering.
        events: the answer's events.
        headers: response headers the answer carries (the cache's ``X-Cortex-Cache``).
        key: the masked API key of the attempt that answered, if any.
    """

    worker: str
    model: str
    events: AsyncGenerator[StreamEvent, None] = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict)
    key: str | None = None


@dataclass(frozen=True, slots=True)
class WholeAnswer:
    """An answer that ended with its finish reason, as one value.

    Attributes:
        worker: the worker that started it (reported as ``X-Cortex-Worker``).
        model: the upstream model that started it.
        pieces: the text deltas in order, so a replay keeps the original chunking.
        finish_reason: the upstream's finish reason, in OpenAI's vocabulary.
        usage: the token counts of the whole answer, if reported.
        workers: every worker that wrote part of it, in order (more than one when a
            streamed answer was continued on another worker); ``worker`` alone if not given.
        tool_calls: the tool calls the answer made, in order.
        reasoning: the reasoning text the provider returned, if any.
        reasoning_signature: the provider's signature of that reasoning, if it sent one.
        dropped: request fields the answering worker could not honour and left out.
        substituted_for: the model the client asked for, when no worker had it and a
            similar one answered (``model``).
        alternatives: the other answers (choices 1, 2, ...) when the client asked for
            several; each is a whole answer of its own without usage.
    """

    worker: str
    model: str
    pieces: tuple[str, ...]
    finish_reason: str
    usage: Usage | None = None
    workers: tuple[str, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    reasoning: str = ""
    dropped: tuple[str, ...] = ()
    alternatives: tuple[WholeAnswer, ...] = ()
    reasoning_signature: str = ""
    substituted_for: str | None = None

    def __post_init__(self) -> None:
        if not self.workers:
            object.__setattr__(self, "workers", (self.worker,))

    @property
    def text(self) -> str:
        """The whole answer text."""
        return "".join(self.pieces)

    @property
    def payload_bytes(self) -> int:
        """The UTF-8 bytes of what a replay sends: text, reasoning, tool calls, alternatives."""
        texts = [*self.pieces, self.reasoning]
        texts.extend(
            text for call in self.tool_calls for text in (call.id, call.name, call.arguments)
        )
        own = sum(len(text.encode()) for text in texts)
        return own + sum(other.payload_bytes for other in self.alternatives)


class AnswerFold:
    """Folds an answer's events, one at a time, into what the whole answer says.

    The one fold of the gateway: whatever reads an answer to its end (a renderer as it
    streams, the cache, a non-streaming client) adds each event here and asks
    :meth:`result` at the end. The first failure wins; an answer that ends without a
    finish reason is :func:`incomplete`, never a whole answer.
    """

    def __init__(self, worker: str, model: str, *, choice: int = 0) -> None:
        self.choice = choice  # which alternative this fold reads (others go to sub-folds)
        self.worker = worker
        self.model = model
        self.pieces: list[str] = []
        self.workers: list[str] = [worker]
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.failure: UpstreamFailure | None = None
        self.skipped = 0
        self.reasoning: list[str] = []
        self.signature = ""
        self.calls: list[list[str]] = []  # [id, name, arguments so far] by call index
        self.others: dict[int, AnswerFold] = {}  # the alternative choices, n > 1

    def add(self, event: StreamEvent) -> None:
        """Take one event into account."""
        if getattr(event, "choice", 0) != self.choice:
            self._other(event).add(event)
            return
        match event:
            case TextDelta(text=text) if text:
                self.pieces.append(text)
            case ToolCallDelta():
                self._add_call(event)
            case ReasoningDelta(text=text, signature=signature):
                self.reasoning.append(text)
                self.signature = signature or self.signature
            case Finished(reason=reason):
                self.finish_reason = reason
            case Usage():
                self.usage = event
            case Continued(worker=worker):
                self.workers.append(worker)
            case StreamFailed(failure=failure) if self.failure is None:
                self.failure = failure
            case Malformed():
                self.skipped += 1

    def _add_call(self, delta: ToolCallDelta) -> None:
        """Concatenate a call's fragments; a new index starts a new call."""
        while len(self.calls) <= delta.index:
            self.calls.append(["", "", ""])
        call = self.calls[delta.index]
        call[0] = call[0] or (delta.id or "")
        call[1] = call[1] or (delta.name or "")
        call[2] += delta.arguments

    def _other(self, event: StreamEvent) -> AnswerFold:
        choice: int = getattr(event, "choice", 0)
        if choice not in self.others:
            self.others[choice] = AnswerFold(self.worker, self.model, choice=choice)
        return self.others[choice]

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The tool calls folded so far."""
        return tuple(ToolCall(*call) for call in self.calls)

    def result(self) -> WholeAnswer | UpstreamFailure:
        """The whole answer, or the failure that ended it (incomplete if it never finished)."""
        if self.failure is not None:
            return self.failure
        if self.finish_reason is None:
            return incomplete().failure
        alternatives = []
        for _, other in sorted(self.others.items()):
            whole = other.result()
            if not isinstance(whole, WholeAnswer):
                return whole  # every choice must have ended with its own end signal
            alternatives.append(whole)
        return WholeAnswer(
            self.worker,
            self.model,
            tuple(self.pieces),
            self.finish_reason,
            self.usage,
            tuple(self.workers),
            self.tool_calls,
            "".join(self.reasoning),
            alternatives=tuple(alternatives),
            reasoning_signature=self.signature,
        )


def fold(
    events: Iterable[StreamEvent], *, worker: str, model: str
) -> WholeAnswer | UpstreamFailure:
    """Fold the events of a finished answer into the whole answer, or what broke it."""
    folding = AnswerFold(worker, model)
    for event in events:
        folding.add(event)
    return folding.result()


async def gather(answer: LiveAnswer) -> WholeAnswer | UpstreamFailure:
    """Read a live answer to its end: the whole answer, or what broke it.

    Reading stops at the first failure (the generator is closed, which ends the attempt).
    """
    folding = AnswerFold(answer.worker, answer.model)
    async with contextlib.aclosing(answer.events) as events:
        async for event in events:
            folding.add(event)
            if isinstance(event, StreamFailed):
                break
    return folding.result()
