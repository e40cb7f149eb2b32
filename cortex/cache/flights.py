"""Request coalescing: one upstream answer shared by every identical request in flight.

A :class:`Flight` is one upstream answer being received by a task of its own. Requests
*follow* it: each gets every event from the start, then new events as they arrive, so a
request that joins late sees exactly what the first one saw. The flight task belongs to
:class:`Flights`, not to any one request, so one client going away does not cut the
others off; when the last follower leaves an unfinished flight, its upstream request is
cancelled at once. A flight whose followers vanished before following at all (a client
gone between the answer opening and its first write) runs to its end, which the upstream
deadlines bound, and is still stored.

Everything here runs on the front's event loop and is confined to it: the table of
flights is data-plane state tied to asyncio tasks, like the upstream connection pool, so
it needs no lock and no actor. Its size is bounded by the number of requests in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncGenerator, Awaitable, Callable

import structlog

from actors.outcomes import ErrorKind, UpstreamFailure
from cortex.chat import AnswerFold, LiveAnswer, StreamEvent, StreamFailed, WholeAnswer
from cortex.dataplane.substitution import read_substituted
from cortex.errors import DeadlineExceeded
from cortex.providers.capabilities import read_dropped

log = structlog.get_logger("cortex.cache")


Opener = Callable[[], Awaitable[LiveAnswer]]
Keeper = Callable[[str, WholeAnswer], Awaitable[None]]


class Flight:
    """One upstream answer, received once and followed by any number of requests.

    Args:
        key: the cache key of the request it answers.
        idle_timeout: longest wait for the next event before a follower gives up.
    """

    def __init__(self, key: str, idle_timeout: float) -> None:
        self.key = key
        self._idle_timeout = idle_timeout
        self._events: list[StreamEvent] = []
        self._news = asyncio.Event()
        self._opened = asyncio.Event()
        self._fold: AnswerFold | None = None
        self._headers: dict[str, str] = {}  # the answer's own (its dropped fields)
        self._error: BaseException | None = None
        self._finished = False
        self._followers = 0
        self.task: asyncio.Task[None] | None = None

    @property
    def succeeded(self) -> bool:
        """Whether the answer finished with a finish reason and nothing missing."""
        return self.answer() is not None

    def answer(self) -> WholeAnswer | None:
        """The whole answer, if the flight succeeded.

        Only an answer one worker wrote with nothing skipped counts: a skipped malformed
        chunk means the text may be incomplete, and a continuation stitched on by another
        worker is not one model's answer.
        """
        if not self._finished or self._error is not None or self._fold is None:
            return None
        whole = self._fold.result()
        if not isinstance(whole, WholeAnswer) or self._fold.skipped or len(whole.workers) > 1:
            return None
        dropped = read_dropped(self._headers)
        asked = read_substituted(self._headers)
        return dataclasses.replace(whole, dropped=dropped, substituted_for=asked)

    def attach(self) -> None:
        """Count one more follower (before it joins)."""
        self._followers += 1

    def detach(self) -> None:
        """Count one follower fewer; the last one leaving an unfinished flight cancels it."""
        self._followers -= 1
        if self._followers <= 0 and not self._finished and self.task is not None:
            self.task.cancel()

    async def join(self, timeout: float, headers: dict[str, str]) -> LiveAnswer:
        """Wait for the first token, then follow the answer as a live answer of its own.

        The caller has :meth:`attach`-ed; reading the answer's events to their end (or
        closing them) detaches it.

        Raises:
            GatewayError: the error every upstream attempt ended in, shared by all.
            DeadlineExceeded: no first token within ``timeout`` seconds.
        """
        try:
            async with asyncio.timeout(timeout):
                await self._opened.wait()
        except TimeoutError:
            raise DeadlineExceeded("no upstream answered before the deadline") from None
        if self._fold is None:
            raise self._error or DeadlineExceeded("the shared upstream request was cancelled")
        headers = {**self._headers, **headers}
        return LiveAnswer(self._fold.worker, self._fold.model, self.follow(), headers)

    async def follow(self) -> AsyncGenerator[StreamEvent, None]:
        """Every event of the answer from the start, then each new one as it arrives."""
        index = 0
        try:
            while True:
                news = self._news
                batch, finished = self._events[index:], self._finished
                index += len(batch)
                for event in batch:
                    yield event
                if finished:
                    if self._error is not None and not batch_failed(batch):
                        yield StreamFailed(
                            UpstreamFailure(
                                ErrorKind.UPSTREAM_ERROR, "the upstream answer broke off"
                            )
                        )
                    return
                if not batch:
                    try:
                        async with asyncio.timeout(self._idle_timeout):
                            await news.wait()
                    except TimeoutError:
                        yield StreamFailed(
                            UpstreamFailure(ErrorKind.TIMEOUT, "the upstream answer stalled")
                        )
                        return
        finally:
            self.detach()

    async def fly(self, opener: Opener) -> None:
        """Receive the whole answer, publishing each event to the followers."""
        try:
            answer = await opener()
            self._headers = dict(answer.headers)
            self._fold = AnswerFold(answer.worker, answer.model)
            self._opened.set()
            async with contextlib.aclosing(answer.events) as events:
                async for event in events:
                    self._publish(event)
                    if isinstance(event, StreamFailed):
                        break
        except BaseException as exc:
            self._error = exc
            raise
        finally:
            self._finished = True
            self._opened.set()
            self._publish(None)

    def _publish(self, event: StreamEvent | None) -> None:
        if event is not None:
            self._events.append(event)
            if self._fold is not None:
                self._fold.add(event)
        # Followers wait on the event they saw; a fresh one is armed for the next news.
        news, self._news = self._news, asyncio.Event()
        news.set()


def batch_failed(batch: list[StreamEvent]) -> bool:
    """Whether a batch of events already reports a failure."""
    return any(isinstance(event, StreamFailed) for event in batch)


class Flights:
    """The flights under way on one event loop, by cache key; owner of their tasks.

    Args:
        idle_timeout: longest wait of a follower for the next event.
    """

    def __init__(self, idle_timeout: float) -> None:
        self._idle_timeout = idle_timeout
        self._shared: dict[str, Flight] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def joinable(self, key: str) -> Flight | None:
        """The shared flight answering ``key``, if one is under way (or just succeeded)."""
        return self._shared.get(key)

    def launch(self, key: str, opener: Opener, *, share: bool, keep: Keeper | None) -> Flight:
        """Start a flight for ``key``.

        Args:
            key: the request's cache key.
            opener: opens the upstream answer (the dispatcher's failover).
            share: list it under ``key`` so identical requests find it (the caller
                decides whether they may join it under way or only once it succeeded).
            keep: called with a successful answer; a shared flight stays joinable (as a
                finished answer) until it returns, so no request falls between the
                flight ending and the cache holding its answer.
        """
        flight = Flight(key, self._idle_timeout)
        if share:
            self._shared[key] = flight
        flight.task = asyncio.get_running_loop().create_task(
            self._run(flight, opener, keep), name=f"flight-{key[:12]}"
        )
        self._tasks.add(flight.task)
        flight.task.add_done_callback(self._tasks.discard)
        return flight

    async def _run(self, flight: Flight, opener: Opener, keep: Keeper | None) -> None:
        try:
            await flight.fly(opener)
            answer = flight.answer()
            if answer is not None and keep is not None:
                await keep(flight.key, answer)
        except Exception:
            # Every follower already got the failure; the error is the request's, not ours.
            log.debug("flight_failed", exc_info=True)
        finally:
            if self._shared.get(flight.key) is flight:
                del self._shared[flight.key]

    def in_flight(self) -> int:
        """How many flights are under way."""
        return len(self._tasks)
