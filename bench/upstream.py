"""A fast fake OpenAI-compatible upstream for benchmarks: raw asyncio, no framework.

``cortex.simulated`` is built for fidelity (every wire format, faults, keys); this one is
built for speed, so that the upstream is never what a benchmark measures. It speaks just
enough HTTP/1.1 (keep-alive, ``Content-Length`` request bodies, chunked streamed answers)
for aiohttp, httpx and Node's fetch.

The behaviour is chosen by the first path segment, so one server serves every scenario and
a gateway only needs a different ``base_url`` per scenario:

- ``/v1/...``: the default answer (``--tokens`` tokens, no delay);
- ``/t{N}d{MS}/v1/...``: ``N`` tokens, ``MS`` milliseconds between streamed tokens;
- ``/e429/v1/chat/completions``: always ``429`` with ``Retry-After: 3600``.

``GET .../models`` always answers (health probes pass on every scenario). A request with
``"stream": true`` gets Server-Sent Events (one chunk per token, a finish chunk, a usage
chunk, ``[DONE]``); otherwise one ``chat.completion`` object.

Run: ``python -m bench.upstream --port 9100 [--procs 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import re
import socket
import time
from dataclasses import dataclass

MAX_HEADER_BYTES = 65_536
MAX_BODY_BYTES = 4_194_304
_SCENARIO = re.compile(r"^/t(\d{1,5})d(\d{1,5})(/.*)$")
_MODELS = json.dumps(
    {"object": "list", "data": [{"id": "bench", "object": "model", "owned_by": "bench"}]}
).encode()
_RATE_LIMITED = json.dumps(
    {
        "error": {
            "message": "rate limited (bench)",
            "type": "rate_limit_error",
            "code": "rate_limit_exceeded",
        }
    }
).encode()


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What one request asks of the upstream."""

    tokens: int
    delay: float
    rate_limited: bool
    rest: str


def behaviour_for(path: str, default_tokens: int) -> Behaviour:
    """Read the scenario from the path prefix (see the module docstring)."""
    if path.startswith("/e429/"):
        return Behaviour(0, 0.0, True, path[5:])
    match = _SCENARIO.match(path)
    if match:
        return Behaviour(int(match[1]), int(match[2]) / 1000.0, False, match[3])
    return Behaviour(default_tokens, 0.0, False, path)


def _response(status: str, body: bytes, extra: bytes = b"") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n".encode()
        + extra
        + b"\r\n"
        + body
    )


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class _Stream:
    """Writes one streamed answer, one token per timer tick (no task per stream)."""

    def __init__(self, protocol: UpstreamProtocol, model: str, tokens: int, delay: float) -> None:
        self._protocol = protocol
        self._tokens = tokens
        self._delay = delay
        self._sent = 0
        self._head = (
            b'{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":%d,'
            b'"model":%s,"choices":[{"index":0,"delta":'
            % (int(time.time()), json.dumps(model).encode())
        )

    def _token(self, index: int) -> bytes:
        return b"data: " + self._head + b'{"content":"tok%d "},"finish_reason":null}]}\n\n' % index

    def _tail(self) -> bytes:
        finish = self._head + b'{},"finish_reason":"stop"}]}'
        usage = (
            b'{"id":"chatcmpl-bench","object":"chat.completion.chunk","choices":[],'
            b'"usage":{"prompt_tokens":5,"completion_tokens":%d,"total_tokens":%d}}'
            % (self._tokens, self._tokens + 5)
        )
        return b"data: " + finish + b"\n\ndata: " + usage + b"\n\ndata: [DONE]\n\n"

    def start(self) -> None:
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        if self._delay <= 0:
            body = b"".join(self._token(i) for i in range(self._tokens)) + self._tail()
            self._protocol.write(head + _chunk(body) + b"0\r\n\r\n")
            self._protocol.stream_done()
            return
        self._protocol.write(head)
        self.tick()

    def tick(self) -> None:
        if self._protocol.closed:
            return
        if self._sent < self._tokens:
            self._protocol.write(_chunk(self._token(self._sent)))
            self._sent += 1
            asyncio.get_running_loop().call_later(self._delay, self.tick)
            return
        self._protocol.write(_chunk(self._tail()) + b"0\r\n\r\n")
        self._protocol.stream_done()


class UpstreamProtocol(asyncio.Protocol):
    """One client connection: parses requests in order and answers them."""

    def __init__(self, default_tokens: int) -> None:
        self._default_tokens = default_tokens
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._streaming = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, _exc: Exception | None) -> None:
        self.closed = True

    def write(self, data: bytes) -> None:
        if self._transport is not None and not self.closed:
            self._transport.write(data)

    def stream_done(self) -> None:
        self._streaming = False
        if self._buffer:
            self._process()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > MAX_HEADER_BYTES + MAX_BODY_BYTES:
            self._fail(b"413 Payload Too Large")
            return
        if not self._streaming:
            self._process()

    def _fail(self, status: bytes) -> None:
        self.write(_response(status.decode(), b'{"error":{"message":"bad request"}}'))
        if self._transport is not None:
            self._transport.close()
        self.closed = True

    def _process(self) -> None:
        while not self._streaming and not self.closed:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEADER_BYTES:
                    self._fail(b"431 Request Header Fields Too Large")
                return
            lines = bytes(self._buffer[:end]).split(b"\r\n")
            try:
                method, target, _ = lines[0].decode("latin-1").split(" ", 2)
            except ValueError:
                self._fail(b"400 Bad Request")
                return
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                lowered = name.strip().lower()
                if lowered == b"content-length":
                    length = int(value.strip() or b"0")
                elif lowered == b"transfer-encoding":
                    self._fail(b"411 Length Required")
                    return
            if len(self._buffer) < end + 4 + length:
                return
            body = bytes(self._buffer[end + 4 : end + 4 + length])
            del self._buffer[: end + 4 + length]
            self._answer(method, target.split("?", 1)[0], body)

    def _answer(self, method: str, path: str, body: bytes) -> None:
        behaviour = behaviour_for(path, self._default_tokens)
        if method == "GET" and behaviour.rest.endswith("/models"):
            self.write(_response("200 OK", _MODELS))
            return
        if method != "POST" or not behaviour.rest.endswith("/chat/completions"):
            self.write(_response("404 Not Found", b'{"error":{"message":"not found"}}'))
            return
        if behaviour.rate_limited:
            self.write(_response("429 Too Many Requests", _RATE_LIMITED, b"Retry-After: 3600\r\n"))
            return
        try:
            payload = json.loads(body)
        except ValueError:
            self.write(_response("400 Bad Request", b'{"error":{"message":"bad json"}}'))
            return
        model = str(payload.get("model") or "bench")
        if payload.get("stream"):
            self._streaming = True
            _Stream(self, model, behaviour.tokens, behaviour.delay).start()
            return
        text = "".join(f"tok{i} " for i in range(behaviour.tokens))
        answer = {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": 5,
                "completion_tokens": behaviour.tokens,
                "total_tokens": behaviour.tokens + 5,
            },
        }
        self.write(_response("200 OK", json.dumps(answer).encode()))


async def start_server(host: str, port: int, default_tokens: int) -> asyncio.Server:
    """Start one listening upstream on the running loop (used in-process by the runner)."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: UpstreamProtocol(default_tokens), host, port, reuse_port=True, backlog=4096
    )


def _serve_forever(host: str, port: int, default_tokens: int) -> None:
    async def main() -> None:
        server = await start_server(host, port, default_tokens)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def main() -> None:
    """Serve until killed, in ``--procs`` processes sharing the port (SO_REUSEPORT)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--tokens", type=int, default=5, help="tokens of the default answer")
    parser.add_argument("--procs", type=int, default=1)
    args = parser.parse_args()
    children = [
        multiprocessing.Process(
            target=_serve_forever, args=(args.host, args.port, args.tokens), daemon=True
        )
        for _ in range(args.procs - 1)
    ]
    for child in children:
        child.start()
    print(f"upstream listening on http://{args.host}:{args.port}", flush=True)
    _serve_forever(args.host, args.port, args.tokens)


if __name__ == "__main__":
    main()
