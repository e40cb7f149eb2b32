"""Write batches: everything an answer has ready, read without waiting, as one batch.

An upstream read often completes many events at once (a fast upstream sends a whole
answer in one TCP segment; a slow one, one token). Writing each event's frame on its own
costs a transport write, a system call and a TCP segment per token: before batching, the
largest share of a short stream's CPU after the request's own set-up.
:func:`ready_batches` hands over the events that are ready *without* suspending as one
list, so the handler renders them and writes them once, and still hands over what it has
before every wait: no token is held back while the upstream is silent.

Whether the next event is ready is learned by starting the generator's step by hand: a
step that completes at once was ready; a step that yields to the event loop would wait.
That step is then driven to its end as an awaitable of its own (:class:`_Resume`), passing
every wait (and any cancellation) through to the task, exactly as ``await anext(...)``
would. When the reader stops while a step is suspended (the client went away, a write
failed), the step is closed the way ``aclose`` would close the generator, so its cleanup
runs (the upstream is released and the attempt reported) before the error goes on.

The reader writes while the step it left waits, so a deadline armed inside that step (a
cache follower's idle timeout, a continuation's time to first token) that expires during
the write cancels the write instead of the wait. A write only waits while the client's
socket buffer is full, so this takes a client that stopped reading for that long; its
stream is then cut like a client that went away.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine, Generator
from typing import Any, TypeVar

T = TypeVar("T")

MAX_BATCH = 256
"""The most events handed over at once, so one huge upstream read still streams."""


class _Resume:
    """Awaits a suspended generator step to its end; raises what the step raised.

    Args:
        step: the ``__anext__`` awaitable, started by hand and suspended.
        signal: what the step yielded when it suspended (the future it waits on).
        error: thrown into the step first instead of waiting, to close it.
    """

    __slots__ = ("_error", "_signal", "_step")

    def __init__(
        self, step: Coroutine[Any, Any, Any], signal: object, error: BaseException | None = None
    ) -> None:
        self._step = step
        self._signal = signal
        self._error = error

    def __await__(self) -> Generator[Any, Any, Any]:
        step, signal, error = self._step, self._signal, self._error
        sent: Any = None
        while True:
            if error is None:
                try:
                    sent = yield signal
                except BaseException as exc:  # noqa: BLE001 - every throw goes on into the step
                    error = exc
            try:
                if error is None:
                    signal = step.send(sent)
                else:
                    thrown, error = error, None
                    signal = step.throw(thrown)
            except StopIteration as stop:
                return stop.value


async def ready_batches(
    events: AsyncIterator[T], *, limit: int = MAX_BATCH
) -> AsyncGenerator[tuple[list[T], bool], None]:
    """Yield ``events`` in batches: each holds every event that was ready without waiting.

    A batch is yielded before each wait for the next event, when it reaches ``limit``
    events, and at the end; batches are never empty. Each comes with whether ``events``
    has ended after it, so the reader can write the last batch with its stream's end.
    Close the generator (``aclosing``) before closing ``events``: closing it closes a step
    it left suspended.
    """
    batch: list[T] = []
    while True:
        step: Coroutine[Any, Any, T] = events.__anext__()  # type: ignore[assignment]
        try:
            signal = step.send(None)
        except StopIteration as stop:
            batch.append(stop.value)
            if len(batch) >= limit:
                yield batch, False
                batch = []
            continue
        except StopAsyncIteration:
            if batch:
                yield batch, True
            return
        if batch:
            try:
                yield batch, False
            except BaseException:
                # The reader stopped with the step suspended: close the step as aclose
                # would close the generator, so its cleanup runs, then let the error go on.
                with contextlib.suppress(GeneratorExit, StopAsyncIteration, asyncio.CancelledError):
                    await _Resume(step, signal, GeneratorExit())
                raise
            batch = []
        try:
            batch.append(await _Resume(step, signal))
        except StopAsyncIteration:
            return


__all__ = ["MAX_BATCH", "ready_batches"]
