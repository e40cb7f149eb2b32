"""Admin endpoints that manage an Ollama worker's models: pull and delete.

::

    POST   /admin/ollama/{worker}/pull            {"model": ...}: Ollama's own NDJSON
                                                  progress objects, streamed as they come
    DELETE /admin/ollama/{worker}/models/{model}  remove a model from the instance

Both go straight to the worker's Ollama (``/api/pull``, ``/api/delete``) from the event
loop; the admin guard has checked the admin token. When the upstream is done, the
worker's provider actor is told to read its models again, and the answer waits (up to
:data:`REFRESH_WAIT` seconds) until the board shows the change, so the final
``{"status": "success"}`` of a pull means the model is routable, without a restart.
Every line relayed is scrubbed of configured secrets first.
"""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import AbstractAsyncContextManager

import aiohttp
import structlog
from aiohttp import web

from actors.wire import HttpCall
from actors.workers import WorkerConfig
from cortex.config.runtime import RUNTIME
from cortex.errors import AllUpstreamsFailed, Attempt, BadRequest, NotFound
from cortex.http.admin import operator_of
from cortex.http.routes import SERVICES
from cortex.http.schemas import parse_json_object
from cortex.providers import ollama_models

log = structlog.get_logger("cortex.admin")

REFRESH_WAIT = 10.0
"""Longest wait for the board to show a pulled or deleted model, in seconds."""
CONNECT_TIMEOUT = 10.0
MAX_ERROR_BODY = 65_536
MODEL_PATH = r".+"
"""A model name in a path may hold slashes (``hf.co/user/repo:tag``)."""


def _ollama_worker(request: web.Request) -> WorkerConfig:
    """The Ollama worker the path names.

    Raises:
        NotFound: no worker has that name.
        BadRequest: the worker is not an Ollama instance.
    """
    name = request.match_info["worker"]
    config = request.app[SERVICES].board.config(name)
    if config is None:
        raise NotFound(f"no worker named {name!r}", code="unknown_worker")
    if config.type != "ollama":
        raise BadRequest(
            f"worker {name!r} is of type {config.type!r}, not ollama", code="not_ollama"
        )
    return config


def _key(config: WorkerConfig) -> str | None:
    return config.api_keys[0] if config.api_keys else None


def _session(config: WorkerConfig) -> aiohttp.ClientSession:
    """A session for one admin call: a bounded connect, and the worker's read timeout.

    A pull can take many minutes, but Ollama reports progress continually, so only the
    silence between two lines is bounded.
    """
    timeout = aiohttp.ClientTimeout(sock_connect=CONNECT_TIMEOUT, sock_read=config.timeout)
    return aiohttp.ClientSession(timeout=timeout)


def _send(
    session: aiohttp.ClientSession, call: HttpCall
) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
    """Make ``call``; a redirect is answered as is, never followed (DESIGN.md)."""
    return session.request(
        call.method, call.url, json=call.json, headers=dict(call.headers), allow_redirects=False
    )


def _failed(config: WorkerConfig, reason: str, message: str) -> AllUpstreamsFailed:
    return AllUpstreamsFailed([Attempt(config.name, None, reason, message)])


def _error_message(body: bytes) -> str:
    try:
        found = json.loads(body).get("error")
    except (ValueError, AttributeError):
        found = None
    return str(found) if found else body.decode(errors="replace")[:300]


async def _routable(request: web.Request, worker: str, model: str, *, present: bool) -> bool:
    """Have the worker's actor read its models again; wait until ``model`` is (not) there."""
    operator = operator_of(request)
    await operator.run(lambda: operator.refresh_models(worker))
    board = request.app[SERVICES].board
    deadline = time.monotonic() + REFRESH_WAIT
    while time.monotonic() < deadline:
        view = board.view(worker)
        if view is None:
            return False
        if view.inventory is not None and view.inventory.has(model) is present:
            return True
        await asyncio.sleep(0.05)
    log.warning("model_refresh_late", worker=worker, model=model, present=present)
    return False


async def pull_model(request: web.Request) -> web.StreamResponse:
    """``POST /admin/ollama/{worker}/pull``: stream the pull's progress; end when routable."""
    config = _ollama_worker(request)
    model = parse_json_object(await request.read()).get("model")
    if not isinstance(model, str) or not model.strip():
        raise BadRequest('send {"model": "<name>"}', code="invalid_model")
    redact = request.app[RUNTIME].redactor.redact
    call = ollama_models.pull_call(config.base_url, _key(config), model.strip())
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    log.info("model_pull_started", worker=config.name, model=model)
    try:
        async with _session(config) as session, _send(session, call) as upstream:
            if upstream.status != 200:
                body = await upstream.content.read(MAX_ERROR_BODY)
                message = redact(_error_message(body))
                raise _failed(config, f"http_{upstream.status}", message)
            await response.prepare(request)
            async for line in upstream.content:
                if not line.strip():
                    continue
                if _is_success(line):
                    await _routable(request, config.name, model.strip(), present=True)
                    log.info("model_pulled", worker=config.name, model=model)
                await response.write(redact(line.decode(errors="replace")).encode())
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        message = f"the pull from {config.name} broke off: {type(exc).__name__}"
        if not response.prepared:
            raise _failed(config, "connect_error", message) from exc
        await response.write(json.dumps({"error": message}).encode() + b"\n")
    await response.write_eof()
    return response


def _is_success(line: bytes) -> bool:
    try:
        return bool(json.loads(line).get("status") == "success")
    except (ValueError, AttributeError):
        return False


async def delete_model(request: web.Request) -> web.Response:
    """``DELETE /admin/ollama/{worker}/models/{model}``: remove it; routing stops at once."""
    config = _ollama_worker(request)
    model = request.match_info["model"]
    call = ollama_models.delete_call(config.base_url, _key(config), model)
    try:
        async with _session(config) as session, _send(session, call) as upstream:
            body = await upstream.content.read(MAX_ERROR_BODY)
    except (aiohttp.ClientError, TimeoutError) as exc:
        message = f"the delete on {config.name} failed: {type(exc).__name__}"
        raise _failed(config, "connect_error", message) from exc
    if upstream.status == 404:
        raise NotFound(f"worker {config.name!r} has no model {model!r}", code="model_not_found")
    if upstream.status != 200:
        message = request.app[RUNTIME].redactor.redact(_error_message(body))
        raise _failed(config, f"http_{upstream.status}", message)
    refreshed = await _routable(request, config.name, model, present=False)
    log.info("model_deleted", worker=config.name, model=model)
    return web.json_response({"worker": config.name, "deleted": model, "refreshed": refreshed})
