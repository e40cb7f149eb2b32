"""The shared machinery of every simulated upstream provider.

A :class:`SimulatedServer` is a real aiohttp server on loopback (see
:class:`~cortex.simulated.background.BackgroundServer`). A provider subclass
only says how its wire format looks: where the API key travels, how a request
becomes a :class:`~cortex.simulated.content.ChatCall`, and how replies, stream
frames and errors are rendered. Auth, the request log, fault scripting,
streaming, dropping and hanging live here once.
"""

from __future__ import annotations

import itertools
import json
import threading
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, ClassVar

from aiohttp import web

from cortex.simulated.background import BackgroundServer
from cortex.simulated.content import ChatCall, Completion, complete, default_reply
from cortex.simulated.embedding import read_embedding_request, tokens, vector
from cortex.simulated.fault_replies import append_text, drip, half_body, hang_up
from cortex.simulated.faults import ErrorKind, Fault, FaultPlan, FaultRule
from cortex.simulated.wire import ErrorReply, RecordedRequest, ReplyError, StreamFrames

__all__ = ["SimulatedServer"]

_BODY = web.RequestKey("body", object)
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Render = Callable[[list[list[float]], int], dict[str, Any]]


class SimulatedServer(BackgroundServer):
    """A fake LLM provider served over HTTP on 127.0.0.1 from a background thread.

    Each provider names its defaults as class attributes, so ``SimulatedOpenAI()`` is a
    ready OpenAI fake and ``SimulatedOpenAI("primary", keys=...)`` a configured one.

    Args:
        name: shown in the default reply ("Hello from <name>! ..."); default_name if None.
        keys: valid API keys, default_keys if None; an empty collection disables auth.
        models: model ids the server accepts, default_models if None; others get the
            model-not-found error.
        embedding_models: unlisted models its embeddings endpoint accepts (besides any of
            ``models`` named "embed"), default_embedding_models if None.
        reply: fixed reply text; ``None`` greets and echoes the last user message.
        chunk_delay: seconds slept after each streamed content chunk.
        port: TCP port, 0 for an ephemeral one.
    """

    stream_content_type: ClassVar[str] = "text/event-stream"
    default_name: ClassVar[str]
    default_keys: ClassVar[tuple[str, ...]]
    default_models: ClassVar[tuple[str, ...]]
    default_embedding_models: ClassVar[tuple[str, ...]] = ()
    call_id_prefix: ClassVar[str] = "call_"  # how its tool-call ids begin (Anthropic: toolu_)
    error_message_path: ClassVar[tuple[str, ...]]
    """Where the human-readable message sits in the provider's error body."""

    def __init__(
        self,
        name: str | None = None,
        *,
        keys: Iterable[str] | None = None,
        models: Iterable[str] | None = None,
        embedding_models: Iterable[str] | None = None,
        reply: str | None = None,
        chunk_delay: float = 0.005,
        port: int = 0,
    ) -> None:
        super().__init__(name=name or self.default_name, port=port)
        self.keys = frozenset(self.default_keys if keys is None else keys)
        self.models = tuple(self.default_models if models is None else models)
        self.embedding_models = tuple(
            self.default_embedding_models if embedding_models is None else embedding_models
        )
        self.reply = reply
        self.chunk_delay = chunk_delay
        self.slow_first_byte = 2.0
        self.drip_interval = 0.1  # seconds between the bytes of a DRIP_FEED answer
        self.strike_after = 2  # content chunks sent before a fault that cuts the stream short
        # Echo the presented API key, unmasked, in every error message (error bodies and
        # in-stream errors), as careless providers and proxies do.
        self.echo_key = False
        self.redirect_to = ""  # origin (``http://host:port``) that Fault.REDIRECT points to
        self.active_requests = 0  # requests being answered now (changed on the server loop)
        self.faults = FaultPlan()
        self._log: list[RecordedRequest] = []
        self._log_changed = threading.Condition()
        self._ids = itertools.count(1)

    # -- controls (thread-safe) ------------------------------------------------------

    def set_fault(
        self,
        fault: Fault,
        *,
        key: str | None = None,
        times: int | None = None,
        retry_after: float = 1.0,
        probes: bool = False,
        chat: bool = True,
    ) -> None:
        """Script ``fault`` for ``key`` (``None``: every key) for ``times`` requests.

        ``times=None`` keeps it until :meth:`clear_faults`. ``retry_after`` is the
        ``Retry-After`` of RATE_LIMIT. Faults hit generation endpoints only, unless
        ``probes`` also applies them to model listing / version endpoints;
        ``chat=False`` then spares the generation endpoints (a probe-only fault).
        """
        self.faults.set_fault(
            fault, key=key, times=times, retry_after=retry_after, probes=probes, chat=chat
        )

    def set_random_faults(
        self, rates: Mapping[Fault, float], *, seed: int = 0, retry_after: float = 1.0
    ) -> None:
        """Fail each chat request at random: ``rates[fault]`` is that fault's chance."""
        self.faults.set_random(rates, seed=seed, retry_after=retry_after)

    def set_rate_limit_every(
        self, every: int | None, *, key: str | None = None, retry_after: float = 1.0
    ) -> None:
        """Rate-limit every ``every``-th generation request of ``key`` (``None``: each key)."""
        self.faults.set_rate_limit_every(every, key=key, retry_after=retry_after)

    def clear_faults(self) -> None:
        """Remove every scripted fault and periodic rate limit."""
        self.faults.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received since start or :meth:`reset`."""
        with self._log_changed:
            return list(self._log)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until at least ``count`` requests were received; return the snapshot.

        Raises:
            TimeoutError: fewer than ``count`` arrived within ``timeout`` seconds.
        """
        with self._log_changed:
            if not self._log_changed.wait_for(lambda: len(self._log) >= count, timeout):
                raise TimeoutError(f"{self.name}: {len(self._log)} of {count} requests arrived")
            return list(self._log)

    def reset(self) -> None:
        """Clear the request log, every fault and every request count; stop echoing keys."""
        self.clear_faults()
        self.echo_key = False
        self.redirect_to = ""
        with self._log_changed:
            self._log.clear()

    # -- provider hooks --------------------------------------------------------------

    @abstractmethod
    def _routes(self) -> list[web.RouteDef]:
        """The provider's endpoints; handlers end in :meth:`_serve_chat`/:meth:`_serve_probe`."""

    @abstractmethod
    def _api_key(self, request: web.Request) -> str | None:
        """The API key carried by ``request``, where the provider expects it."""

    @abstractmethod
    def _error(self, error: ReplyError) -> ErrorReply:
        """Render ``error.kind`` exactly as the provider does."""

    @abstractmethod
    def _render(self, call: ChatCall, completion: Completion) -> dict[str, Any]:
        """The non-streamed response body."""

    @abstractmethod
    def _frames(self, call: ChatCall, completion: Completion) -> StreamFrames:
        """The streamed response, frame by frame."""

    @abstractmethod
    def _stream_error_frame(self, echo: str) -> bytes:
        """The provider's error event sent inside an already started stream.

        ``echo`` is appended to its message (see :meth:`_echo`).
        """

    def _preflight(self, request: web.Request) -> None:
        """Provider-specific checks on an authorized request; raise :class:`ReplyError`."""

    # -- shared request pipeline ---------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.add_routes(self._routes())
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request[_BODY] = body
        key = self._api_key(request)
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={name.lower(): value for name, value in request.headers.items()},
            body=body,
            api_key=key,
        )
        with self._log_changed:
            self._log.append(record)
            self._log_changed.notify_all()
        self.active_requests += 1
        try:
            self._authorize(key)
            self._preflight(request)
            return await handler(request)
        except ReplyError as exc:
            return self._error_response(exc, key)
        finally:
            self.active_requests -= 1

    def _authorize(self, key: str | None) -> None:
        if self.keys and key not in self.keys:
            raise ReplyError(ErrorKind.INVALID_KEY, key or "")

    def _error_response(self, exc: ReplyError, key: str | None) -> web.Response:
        reply = self._error(exc)
        headers = dict(reply.headers)
        if exc.kind is ErrorKind.RATE_LIMIT and exc.retry_after is not None:
            headers["Retry-After"] = f"{exc.retry_after:g}"
        body = append_text(reply.body, self.error_message_path, self._echo(key))
        return web.json_response(body, status=reply.status, headers=headers)

    def _echo(self, key: str | None) -> str:
        """What :attr:`echo_key` appends to an error message: the key in clear, or nothing."""
        return f" (API key: {key})" if self.echo_key and key else ""

    @staticmethod
    def _json_body(request: web.Request) -> dict[str, Any]:
        """The request's JSON object body.

        Raises:
            ReplyError: BAD_REQUEST when the body is missing or not a JSON object.
        """
        body = request[_BODY]
        if not isinstance(body, dict):
            raise ReplyError(ErrorKind.BAD_REQUEST, "request body must be a JSON object")
        return body

    def _next_id(self, prefix: str) -> str:
        """A deterministic response id, unique within this server's lifetime."""
        return f"{prefix}{self.name}-{next(self._ids):06d}"

    def _check_model(self, model: str) -> None:
        if model not in self.models:
            raise ReplyError(ErrorKind.MODEL_NOT_FOUND, model)

    def _take_fault(self, request: web.Request, *, probe: bool) -> Fault:
        """Consume the fault for this request; raise the ones that are error responses.

        Raises:
            ReplyError: the fault is answered with the provider's error (RATE_LIMIT, ...).
        """
        rule: FaultRule | None = self.faults.take(self._api_key(request), probe=probe)
        if rule is None:
            return Fault.NONE
        kind = rule.fault.error_kind
        if kind is not None:
            bare = rule.fault is Fault.RATE_LIMIT_BARE
            # Providers name the rejected key (masked) in their auth errors.
            detail = (self._api_key(request) or "") if kind is ErrorKind.UNAUTHORIZED else ""
            raise ReplyError(kind, detail, retry_after=None if bare else rule.retry_after)
        if rule.fault is Fault.REDIRECT:
            raise web.HTTPTemporaryRedirect(self.redirect_to + request.path_qs)
        return rule.fault

    def _malformed_frame(self) -> bytes:
        """A frame no JSON parser accepts, framed the way this provider frames its stream."""
        if self.stream_content_type == "text/event-stream":
            return b'data: {"broken": \n\n'
        return b'{"broken": \n'

    async def _serve_probe(
        self, request: web.Request, body: Mapping[str, Any]
    ) -> web.StreamResponse:
        """Answer a model listing / version probe, unless a probe fault says otherwise."""
        fault = self._take_fault(request, probe=True)
        if fault is Fault.DRIP_FEED:
            return await drip(request, self._wait_closing, self.drip_interval, "application/json")
        if fault in (Fault.DROP_MID_STREAM, Fault.HANG):
            return await hang_up(request, self._wait_closing if fault is Fault.HANG else None)
        if fault is Fault.EMPTY_STREAM:
            return web.Response(body=b"", content_type="application/json")
        if fault is Fault.ENDS_EARLY:
            # A listing cut in half, well framed: its JSON does not parse.
            text = json.dumps(dict(body))
            return web.Response(text=text[: len(text) // 2], content_type="application/json")
        return web.json_response(dict(body))

    async def _serve_chat(self, request: web.Request, call: ChatCall) -> web.StreamResponse:
        """Answer a generation request: model check, faults, then the reply."""
        self._check_model(call.model)
        fault = self._take_fault(request, probe=False)
        if fault is Fault.SLOW_FIRST_BYTE and await self._wait_closing(self.slow_first_byte):
            return await hang_up(request)
        if fault is Fault.HANG or (fault is Fault.DROP_MID_STREAM and not call.stream):
            return await hang_up(request, self._wait_closing if fault is Fault.HANG else None)
        if fault is Fault.DRIP_FEED:
            return await drip(
                request, self._wait_closing, self.drip_interval, self.stream_content_type
            )
        reply = self.reply if self.reply is not None else default_reply(self.name, call.prompt)
        completion = complete(call, reply, call_id=self.call_id_prefix)
        if call.stream:
            return await self._stream(request, call, completion, fault)
        return await self._whole(request, call, completion, fault)

    async def _serve_embeddings(
        self, request: web.Request, model: object, texts: object, dims: object, render: Render
    ) -> web.StreamResponse:
        """Answer embeddings: checks, faults (raised as ReplyError), ``render(vectors, tokens)``."""
        accepted = (*self.embedding_models, *(m for m in self.models if "embed" in m))
        inputs, size = read_embedding_request(model, texts, dims, accepted)
        fault = self._take_fault(request, probe=False)
        if fault in (Fault.HANG, Fault.SLOW_FIRST_BYTE, Fault.DROP_MID_STREAM):
            return await hang_up(request, self._wait_closing if fault is Fault.HANG else None)
        if fault is Fault.EMPTY_STREAM:
            return web.Response(body=b"", content_type="application/json")
        if fault is Fault.STREAM_ERROR:
            raise ReplyError(ErrorKind.OVERLOADED)
        body = render([vector(text, size) for text in inputs], tokens(inputs))
        if fault is Fault.ENDS_EARLY:
            return await half_body(request, body)
        return web.json_response(body)

    async def _whole(
        self, request: web.Request, call: ChatCall, completion: Completion, fault: Fault
    ) -> web.StreamResponse:
        """The non-streamed answer, as ``fault`` shapes it."""
        if fault is Fault.EMPTY_STREAM:
            return web.Response(body=b"", content_type="application/json")
        if fault is Fault.STREAM_ERROR:
            raise ReplyError(ErrorKind.OVERLOADED)
        if fault is Fault.ENDS_EARLY:
            return await half_body(request, self._render(call, completion))
        return web.json_response(self._render(call, completion))

    async def _stream(
        self, request: web.Request, call: ChatCall, completion: Completion, fault: Fault
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Cache-Control": "no-cache"})
        response.content_type = self.stream_content_type
        try:
            await response.prepare(request)
        except ConnectionResetError:
            return response  # the client gave up before the first byte (a slow start)
        if fault is Fault.EMPTY_STREAM:
            # A well-formed stream that carries no content at all.
            empty = Completion(pieces=(), prompt_tokens=call.prompt_tokens, truncated=False)
            frames = self._frames(call, empty)
            await response.write(b"".join([*frames.head, *frames.tail, *frames.sentinel]))
            await response.write_eof()
            return response
        frames = self._frames(call, completion)
        striking = fault in (Fault.DROP_MID_STREAM, Fault.STREAM_ERROR, Fault.ENDS_EARLY)
        pieces = list(frames.pieces[: self.strike_after] if striking else frames.pieces)
        if fault is Fault.MALFORMED_CHUNK:
            pieces.insert(min(1, len(pieces)), self._malformed_frame())
        try:
            await response.write(b"".join(frames.head))
            for piece in pieces:
                await response.write(piece)
                if await self._wait_closing(self.chunk_delay):
                    await hang_up(request)
                    return response
            if fault is Fault.DROP_MID_STREAM:
                await hang_up(request)
                return response
            await response.write(self._ending(frames, fault, self._echo(self._api_key(request))))
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client went away; nothing left to tell it
        return response

    def _ending(self, frames: StreamFrames, fault: Fault, echo: str) -> bytes:
        """What follows the pieces before the body ends cleanly, as ``fault`` says."""
        if fault is Fault.STREAM_ERROR:
            return self._stream_error_frame(echo)
        if fault is Fault.ENDS_EARLY:
            return b""
        if fault is Fault.NO_SENTINEL:
            return b"".join(frames.tail)
        return b"".join([*frames.tail, *frames.sentinel])
