"""A health probe's HTTP exchange: one deadline for all of it, a bounded body, off the actor.

A provider actor must never wait on the network (DESIGN.md): a stuck probe would hold its
mailbox, so attempt reports, readiness asks and the stop message would queue behind it.
``requests`` cannot bound a whole exchange (its timeout bounds each read, so an upstream
that drip-feeds bytes keeps it busy for as long as it likes), so the exchange runs on
aiohttp under one ``asyncio.timeout`` that covers connecting, the headers and the body
together, and cancelling it closes the connection. It runs on a short-lived daemon
thread of its own, and the result comes back to the actor as a message, like any other
event.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import aiohttp

from actors.outcomes import ErrorKind, UpstreamFailure, is_redirect, redirect_failure
from actors.wire import HttpCall

MAX_PROBE_BODY = 1_048_576
"""Most bytes of a model listing read; a longer answer fails the probe."""


@dataclass(frozen=True, slots=True)
class ProbeReply:
    """What the upstream answered a probe: status, headers and the (bounded) body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


ProbeResult = ProbeReply | UpstreamFailure


def start_probe(
    call: HttpCall,
    *,
    timeout: float,
    done: Callable[[ProbeResult], None],
    max_body: int = MAX_PROBE_BODY,
    name: str = "probe",
) -> threading.Thread:
    """Run ``call`` on a daemon thread and hand its result to ``done`` from that thread.

    ``done`` is called exactly once, at the latest ``timeout`` seconds after the start
    (plus the time to set up a loop), and before the loop winds down, so a name lookup
    still running in the loop's executor cannot delay it. The thread is a daemon, so a
    probe under way never keeps the process alive.
    """
    return start_probes(
        (call,),
        timeout=timeout,
        done=lambda results: done(results[0]),
        max_body=max_body,
        name=name,
    )


def start_probes(
    calls: Sequence[HttpCall],
    *,
    timeout: float,
    done: Callable[[tuple[ProbeResult, ...]], None],
    max_body: int = MAX_PROBE_BODY,
    name: str = "probe",
) -> threading.Thread:
    """Like :func:`start_probe` for several calls made in turn under one deadline.

    A call is made only while every earlier one got a successful answer (status below
    400), so ``done`` gets one result per call made: the first failure ends the probe.
    ``timeout`` bounds all of them together.
    """

    async def run_and_report() -> None:
        results: list[ProbeResult] = []
        deadline = time.monotonic() + timeout
        try:
            for call in calls:
                # The first call has the whole deadline, as a lone probe would.
                left = max(0.0, deadline - time.monotonic()) if results else timeout
                result = await probe(call, timeout=left, max_body=max_body)
                results.append(result)
                if isinstance(result, UpstreamFailure) or result.status >= 400:
                    break
        except Exception as exc:  # noqa: BLE001 - any surprise still ends the probe, once
            failed = f"health probe failed: {type(exc).__name__}"
            results.append(UpstreamFailure(ErrorKind.UPSTREAM_ERROR, failed))
        done(tuple(results))

    def run() -> None:
        asyncio.run(run_and_report())

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


async def probe(call: HttpCall, *, timeout: float, max_body: int = MAX_PROBE_BODY) -> ProbeResult:
    """Make one probe request; classify transport failures, return any HTTP answer.

    ``timeout`` bounds the whole exchange: connect, headers and body.
    """
    try:
        async with (
            asyncio.timeout(timeout),
            aiohttp.ClientSession() as session,
            session.request(
                call.method,
                call.url,
                headers=dict(call.headers),
                json=call.json,
                allow_redirects=False,
            ) as response,
        ):
            if is_redirect(response.status):
                location = response.headers.get("Location")
                return redirect_failure(response.status, location, call.url)
            body = await _read_bounded(response, max_body)
            if body is None:
                return UpstreamFailure(
                    ErrorKind.UPSTREAM_ERROR, f"health probe answer is larger than {max_body} bytes"
                )
            return ProbeReply(response.status, dict(response.headers), body)
    except TimeoutError:
        return UpstreamFailure(
            ErrorKind.TIMEOUT, f"health probe got no whole answer within {timeout:g}s"
        )
    except aiohttp.ClientError as exc:
        return UpstreamFailure(ErrorKind.CONNECT_ERROR, type(exc).__name__)


async def _read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The whole body, or None as soon as it grows past ``limit`` bytes."""
    body = bytearray()
    async for chunk in response.content.iter_any():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)
