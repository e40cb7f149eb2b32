"""The load generator: a lean asyncio HTTP/1.1 client that times every request.

A framework client (aiohttp, httpx) spends more CPU per request than the gateways under
test can afford to lose on a 2-core machine, so this client parses only what it must:
the status line, ``Content-Length`` or chunked framing, and the first sign of a token.
Each virtual user owns one keep-alive connection and sends its requests one after the
other. Every request records its latency, its time to first token (the first body bytes
carrying a non-empty ``"content"``), how many tokens it saw, and whether it completed.
"""

from __future__ import annotations

import asyncio
import re
import resource
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_TOKEN = re.compile(rb'"content":\s*"[^"]')
_CONNECT_TIMEOUT = 10.0
_MAX_CONCURRENT_CONNECTS = 256


@dataclass(frozen=True, slots=True)
class Shot:
    """One request's outcome. Times are in seconds from sending the request."""

    status: int
    latency: float
    ttft: float | None
    tokens: int
    ok: bool


@dataclass(frozen=True, slots=True)
class Target:
    """Where and what to send: one path with one body and its headers."""

    host: str
    port: int
    path: str
    body: bytes
    headers: Mapping[str, str]
    stream: bool
    expect_tokens: int

    def request_bytes(self) -> bytes:
        extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
        return (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(self.body)}\r\n"
            f"{extra}\r\n"
        ).encode() + self.body


@dataclass(frozen=True, slots=True)
class LoadResult:
    """All shots of one run, its wall time, and the client's own CPU seconds."""

    shots: tuple[Shot, ...]
    wall: float
    client_cpu: float
    connect_errors: int

    @property
    def errors(self) -> int:
        return self.connect_errors + sum(1 for s in self.shots if not s.ok)


class _Client(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self._transport: asyncio.Transport | None = None
        self._done: asyncio.Future[Shot] | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, _exc: Exception | None) -> None:
        self.lost = True
        if self._done is not None and not self._done.done():
            self._finish(eof=True)

    def send(self) -> asyncio.Future[Shot]:
        assert self._transport is not None
        self._done = asyncio.get_running_loop().create_future()
        self._buf = bytearray()
        self._body = bytearray()
        self._status = 0
        self._length: int | None = None
        self._chunked = False
        self._headers_done = False
        self._ttft: float | None = None
        self._started = time.perf_counter()
        self._transport.write(self._target.request_bytes())
        return self._done

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        if self._done is None or self._done.done():
            return
        self._buf += data
        if not self._headers_done:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buf[:end]).lower().split(b"\r\n")
            try:
                self._status = int(head[0].split(b" ", 2)[1])
            except (IndexError, ValueError):
                self._status = 0
            for line in head[1:]:
                name, _, value = line.partition(b":")
                if name == b"content-length":
                    self._length = int(value.strip())
                elif name == b"transfer-encoding" and b"chunked" in value:
                    self._chunked = True
            del self._buf[: end + 4]
            self._headers_done = True
        if self._chunked:
            self._read_chunks()
        else:
            self._add_body(bytes(self._buf))
            self._buf.clear()
            if self._length is not None and len(self._body) >= self._length:
                self._finish(eof=False)

    def _read_chunks(self) -> None:
        while True:
            line_end = self._buf.find(b"\r\n")
            if line_end < 0:
                return
            size = int(bytes(self._buf[:line_end]).split(b";", 1)[0], 16)
            if size == 0:
                if len(self._buf) >= line_end + 4:
                    self._finish(eof=False)
                return
            if len(self._buf) < line_end + 2 + size + 2:
                return
            self._add_body(bytes(self._buf[line_end + 2 : line_end + 2 + size]))
            del self._buf[: line_end + 2 + size + 2]

    def _add_body(self, piece: bytes) -> None:
        if not piece:
            return
        if self._ttft is None and _TOKEN.search(bytes(self._body[-40:]) + piece):
            self._ttft = time.perf_counter() - self._started
        self._body += piece

    def _finish(self, *, eof: bool) -> None:
        assert self._done is not None
        latency = time.perf_counter() - self._started
        body = bytes(self._body)
        tokens = len(_TOKEN.findall(body))
        complete = not eof or (self._length is None and not self._chunked)
        ok = (
            self._status == 200
            and complete
            and tokens >= self._target.expect_tokens
            and (not self._target.stream or b"[DONE]" in body or b"event: done" in body)
        )
        self._done.set_result(Shot(self._status, latency, self._ttft, tokens, ok))


async def _connect(target: Target, gate: asyncio.Semaphore) -> _Client | None:
    loop = asyncio.get_running_loop()
    async with gate:
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT):
                _, client = await loop.create_connection(
                    lambda: _Client(target), target.host, target.port
                )
        except (OSError, TimeoutError):
            return None
    return client


async def _one(client: _Client, timeout: float) -> Shot:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            return await client.send()
    except TimeoutError:
        client.close()
        return Shot(0, time.perf_counter() - started, None, 0, False)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_closed_loop(
    target: Target, *, concurrency: int, requests: int, duration: float, timeout: float = 30.0
) -> LoadResult:
    """``concurrency`` users send back-to-back requests until ``requests`` or ``duration``.

    Both bounds apply: the run stops at whichever comes first.
    """
    gate = asyncio.Semaphore(_MAX_CONCURRENT_CONNECTS)
    shots: list[Shot] = []
    connect_errors = 0
    cpu0, wall0 = _cpu(), time.perf_counter()
    deadline = wall0 + duration

    async def user() -> None:
        nonlocal connect_errors
        client: _Client | None = None
        while len(shots) < requests and time.perf_counter() < deadline:
            if client is None or client.lost:
                client = await _connect(target, gate)
                if client is None:
                    connect_errors += 1
                    await asyncio.sleep(0.01)
                    continue
            shots.append(await _one(client, timeout))
        if client is not None:
            client.close()

    await asyncio.gather(*(user() for _ in range(concurrency)))
    return LoadResult(tuple(shots), time.perf_counter() - wall0, _cpu() - cpu0, connect_errors)


async def run_simultaneous(target: Target, *, streams: int, timeout: float) -> LoadResult:
    """Open ``streams`` connections first, then send one request on each at once.

    Connecting is not timed (it measures the accept backlog, not the gateway); what is
    timed is how the gateway holds that many live streams.
    """
    gate = asyncio.Semaphore(_MAX_CONCURRENT_CONNECTS)
    clients = await asyncio.gather(*(_connect(target, gate) for _ in range(streams)))
    live = [c for c in clients if c is not None]
    cpu0, wall0 = _cpu(), time.perf_counter()
    shots = await asyncio.gather(*(_one(c, timeout) for c in live))
    result = LoadResult(
        tuple(shots), time.perf_counter() - wall0, _cpu() - cpu0, streams - len(live)
    )
    for client in live:
        client.close()
    return result


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (NaN when empty)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]
