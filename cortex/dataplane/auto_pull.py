"""Auto-pull (``OLLAMA_AUTO_PULL``): a model no Ollama instance has is pulled on demand.

When a chat request names a model that no worker serves, the instance with the most free
memory budget (:func:`actors.memory_budget.pull_target`) starts pulling it, once per model
at a time, as a background task on the event loop with the shared connection pool
(bounded by :data:`PULL_TIMEOUT`). The request does not wait for it when it need not:

- another worker answers it meanwhile, as a request for ``auto`` would be answered (its
  default model), and the answer says so as a similar-model substitution does (the
  ``model`` field names the model that answered, ``X-Cortex-Model-Substituted`` the one
  asked for);
- a request pinned to the instance (``ollama-2/phi3``) that lacks the model, or one that
  no other worker can answer, waits for the pull within its deadline, then goes to the
  instance that pulled it.

When a pull ends, the instance's actor reads its models again, so the model is routable
from then on; a pull that failed is logged and tried again by the next request for it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable

import aiohttp
import structlog

from actors.board import Board
from actors.inventory import canonical
from actors.memory_budget import pull_target
from actors.messages import RefreshModels
from actors.planning import AUTO_MODEL, Plan
from cortex.chat import ChatRequest
from cortex.crossing import tell
from cortex.dataplane.reports import describe, encode_call
from cortex.errors import GatewayError, NotFound, NothingAvailable
from cortex.providers import ollama_models
from supervisors import Directory

log = structlog.get_logger("cortex.pull")

PULL_TIMEOUT = 3600.0
"""Seconds one automatic pull may take: models are gigabytes."""
POLL = 0.02
"""Seconds between two looks at the board while a request waits for a pulled model."""

Planner = Callable[[ChatRequest], Awaitable[Plan]]


class AutoPuller:
    """Starts pulls of missing models and plans the requests that asked for them."""

    def __init__(self, session: aiohttp.ClientSession, board: Board, workers: Directory) -> None:
        self._session = session
        self._board = board
        self._workers = workers
        self._pulls: dict[str, asyncio.Task[bool]] = {}  # canonical model -> its pull

    async def plan(self, request: ChatRequest, seconds: float, planner: Planner) -> Plan:
        """The request's plan, pulling its model first where no instance has it.

        Raises:
            GatewayError: as the planner, or a 503 when the pull outlasts the deadline.
        """
        deadline = time.monotonic() + seconds
        model = request.model
        if model is None or model == AUTO_MODEL:
            return await planner(request)
        if request.pin is not None:
            pinned = self._board.view(request.pin)
            if pinned is None or pinned.inventory is None or pinned.inventory.has(model):
                return await planner(request)
            await self._wait(self._pull(request.pin, model), request.pin, model, deadline)
            return await planner(request)
        try:
            return await planner(request)
        except NotFound as exc:
            target = pull_target(self._board.views(), model)
            if exc.code != "model_not_found" or target is None:
                raise
        pull = self._pull(target.name, model)
        try:
            meanwhile = await planner(dataclasses.replace(request, model=None))
        except GatewayError:
            await self._wait(pull, target.name, model, deadline)
            return await planner(request)
        candidates = tuple(
            dataclasses.replace(c, substituted_for=model) for c in meanwhile.candidates
        )
        return dataclasses.replace(meanwhile, candidates=candidates)

    def _pull(self, worker: str, model: str) -> asyncio.Task[bool]:
        """The pull of ``model`` under way, or a new one on ``worker``."""
        key = canonical(model)
        running = self._pulls.get(key)
        if running is not None and not running.done():
            return running
        task = asyncio.get_running_loop().create_task(self._run(worker, model))
        self._pulls[key] = task
        task.add_done_callback(lambda done: self._forget(key, done))
        return task

    def _forget(self, key: str, task: asyncio.Task[bool]) -> None:
        if self._pulls.get(key) is task:
            del self._pulls[key]

    async def _run(self, worker: str, model: str) -> bool:
        """Pull ``model`` on ``worker`` (Ollama's one-object answer); whether it succeeded."""
        view = self._board.view(worker)
        if view is None:
            return False
        log.info("model_auto_pull_started", worker=worker, model=model)
        call = ollama_models.pull_call(view.config.base_url, None, model, stream=False)
        headers, body = encode_call(call)
        try:
            async with asyncio.timeout(PULL_TIMEOUT):
                response = await self._session.request(
                    call.method, call.url, headers=headers, data=body, allow_redirects=False
                )
                text = await response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning("model_auto_pull_failed", worker=worker, model=model, reason=describe(exc))
            return False
        if response.status >= 400 or b'"error"' in text:
            reason = text[:200].decode(errors="replace")
            log.warning("model_auto_pull_failed", worker=worker, model=model, reason=reason)
            return False
        log.info("model_auto_pull_finished", worker=worker, model=model)
        tell(self._workers, worker, RefreshModels())
        return True

    async def _wait(
        self, pull: asyncio.Task[bool], worker: str, model: str, deadline: float
    ) -> None:
        """Wait for the pull, then for the worker to list the model, until ``deadline``.

        Raises:
            NothingAvailable: the deadline passed first (503: the pull goes on).
            NotFound: the pull failed.
        """
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                if not await asyncio.shield(pull):
                    raise NotFound(
                        f"model {model!r} is on no worker and pulling it on {worker} failed",
                        code="model_not_found",
                    )
                while not self._listed(worker, model):
                    await asyncio.sleep(POLL)
        except TimeoutError as exc:
            message = f"model {model!r} is being pulled on {worker}; the request's deadline passed"
            raise NothingAvailable(message, code="model_pulling") from exc

    def _listed(self, worker: str, model: str) -> bool:
        view = self._board.view(worker)
        return view is not None and view.inventory is not None and view.inventory.has(model)
