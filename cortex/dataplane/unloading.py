"""Making room on a local model server before an attempt: unloading models, bounded.

The pool marks a candidate whose model is not loaded on its Ollama instance as a
:class:`~actors.memory_budget.LoadingCandidate`, naming the least recently used models to
unload so the model fits the instance's memory budget. Before the attempt, the data plane
asks the instance to unload each of them (a generate request with ``keep_alive: 0``, as
Ollama documents), on the event loop with the shared connection pool, each call bounded by
:data:`UNLOAD_TIMEOUT` and the request's deadline, so a slow instance delays only the request
that needs it. An unload that fails is logged and the attempt goes ahead: Ollama makes room
by itself when it must, only less predictably.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import structlog

from actors.memory_budget import LoadingCandidate
from cortex.dataplane.reports import describe, encode_call
from cortex.providers import ollama_models

log = structlog.get_logger("cortex.memory")

UNLOAD_TIMEOUT = 10.0
"""Seconds one unload call may take; Ollama answers as soon as the model left memory."""


async def unload_models(
    session: aiohttp.ClientSession,
    candidate: LoadingCandidate,
    api_key: str | None,
    deadline: float,
) -> None:
    """Unload the candidate's ``unload`` models from its instance, one after another."""
    for model in candidate.unload:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        call = ollama_models.warm_call(candidate.base_url, api_key, model, keep_alive=0)
        headers, body = encode_call(call)
        try:
            async with asyncio.timeout(min(UNLOAD_TIMEOUT, remaining)):
                response = await session.request(
                    call.method, call.url, headers=headers, data=body, allow_redirects=False
                )
                await response.read()
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning(
                "model_unload_failed", worker=candidate.worker, model=model, reason=describe(exc)
            )
            continue
        if status >= 400:
            log.warning("model_unload_failed", worker=candidate.worker, model=model, reason=status)
            continue
        log.info("model_unloaded", worker=candidate.worker, model=model, to_load=candidate.model)
