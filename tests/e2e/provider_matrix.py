"""The provider matrix: one real daemon per provider type, in front of two simulated upstreams.

Every provider type Cortex speaks (``openai``, ``groq``, ``xai``, ``anthropic``,
``gemini``, ``cohere``, ``ollama``) gets a :class:`Matrix`: a *primary* upstream configured
through the original project's environment names (``ANTHROPIC_API_KEYS``,
``ANTHROPIC_BASE_URL``, ``ANTHROPIC_PRIORITY``, ...) and a *backup* of the same type
configured through ``CORTEX_PROVIDERS``, so one daemon proves both configuration paths.
Cloud workers name no model, so the default model of its profile
(``cortex.providers.profiles``) is
what the simulated upstream must accept.

A daemon is started once per type and shared by that type's tests; :meth:`Matrix.settle`
puts it back into a known state between tests (faults cleared, request logs emptied,
every worker available again).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
from daemon_harness import CortexProcess

from cortex.providers.profiles import PROFILES
from cortex.simulated import (
    RecordedRequest,
    SimulatedAnthropic,
    SimulatedCohere,
    SimulatedGemini,
    SimulatedOllama,
    SimulatedOpenAI,
    SimulatedServer,
)

CHUNK_DELAY = 0.002  # small enough to keep the matrix fast, large enough to stream in pieces
SLOW_CHUNK_DELAY = 0.05  # lets the first token reach Cortex before a scripted mid-stream fault
SETTLE_TIMEOUT = 5.0

ServerFactory = Callable[..., SimulatedServer]


@dataclass(frozen=True, slots=True)
class ProviderCase:
    """How to simulate one provider type.

    Attributes:
        type: the provider type, as configured.
        factory: the simulated upstream's class.
        key_prefix: how the provider's keys look (``gsk_``, ``AIza``, ...).
        model: the model the workers serve.
        stream_error_kind: the error kind Cortex must report for the provider's own
            in-stream error event (its ``Fault.STREAM_ERROR``).
    """

    type: str
    factory: ServerFactory
    key_prefix: str
    model: str
    stream_error_kind: str

    @property
    def keyed(self) -> bool:
        """Whether the provider needs API keys (every type but Ollama)."""
        return bool(self.key_prefix)

    def keys(self, role: str) -> tuple[str, ...]:
        """Two distinct keys for the ``primary`` or ``backup`` upstream (none for Ollama)."""
        if not self.keyed:
            return ()
        return tuple(f"{self.key_prefix}{role}-key-{n}-{'0' * 8}{n}" for n in (1, 2))


def _default_model(ptype: str) -> str:
    return PROFILES[ptype].model or ""


def _openai_like(ptype: str, prefix: str) -> ProviderCase:
    return ProviderCase(ptype, SimulatedOpenAI, prefix, _default_model(ptype), "upstream_error")


CASES: dict[str, ProviderCase] = {
    case.type: case
    for case in (
        _openai_like("openai", "sk-"),
        _openai_like("groq", "gsk_"),
        _openai_like("xai", "xai-"),
        ProviderCase(
            "anthropic",
            SimulatedAnthropic,
            "sk-ant-",
            _default_model("anthropic"),
            "overloaded",
        ),
        ProviderCase(
            "gemini",
            SimulatedGemini,
            "AIza",
            _default_model("gemini"),
            "overloaded",
        ),
        ProviderCase(
            "cohere",
            SimulatedCohere,
            "co-",
            _default_model("cohere"),
            "upstream_error",
        ),
        ProviderCase("ollama", SimulatedOllama, "", "llama3.1:8b", "upstream_error"),
    )
}
KEYED_TYPES = tuple(name for name, case in CASES.items() if case.keyed)


def _environment(
    case: ProviderCase, primary: SimulatedServer, backup: SimulatedServer
) -> dict[str, str]:
    """The daemon's environment: legacy names for the primary, CORTEX_PROVIDERS for the backup."""
    prefix = case.type.upper()
    env = {"HEALTH_CHECK_INTERVAL": "300", "CORTEX_REQUEST_TIMEOUT": "20"}
    if case.keyed:
        env[f"{prefix}_API_KEYS"] = ",".join(case.keys("primary"))
    else:
        env[f"{prefix}_MODEL"] = case.model
    env[f"{prefix}_BASE_URL"] = primary.base_url
    env[f"{prefix}_PRIORITY"] = "1"
    backup_entry: dict[str, Any] = {
        "type": case.type,
        "base_url": backup.base_url,
        "priority": 2,
        "timeout": 5,
    }
    if case.keyed:
        backup_entry["api_keys"] = list(case.keys("backup"))
    else:
        backup_entry["models"] = [case.model]
    env["CORTEX_PROVIDERS"] = json.dumps({f"{case.type}-backup": backup_entry})
    return env


class Matrix:
    """One provider type's daemon, its two upstreams and an ``openai`` SDK client."""

    def __init__(
        self,
        case: ProviderCase,
        primary: SimulatedServer,
        backup: SimulatedServer,
        daemon: CortexProcess,
        client: openai.OpenAI,
    ) -> None:
        self.case = case
        self.primary = primary
        self.backup = backup
        self.daemon = daemon
        self.client = client
        self.primary_worker = case.type
        self.backup_worker = f"{case.type}-backup"

    def chats(self, server: SimulatedServer) -> list[RecordedRequest]:
        """The generation requests ``server`` received (probes are GETs and left out)."""
        return [r for r in server.requests if r.method == "POST"]

    def workers(self) -> dict[str, dict[str, Any]]:
        """``/api/workers`` by worker name."""
        listing = self.daemon.get("/api/workers").json()["workers"]
        return {worker["name"]: worker for worker in listing}

    def keys(self, worker: str) -> list[dict[str, Any]]:
        """The key entries ``/api/stats`` shows for ``worker``."""
        keys: list[dict[str, Any]] = self.daemon.get("/api/stats").json()["workers"][worker]["keys"]
        return keys

    @contextmanager
    def slow_stream(self) -> Iterator[None]:
        """Space the primary's stream chunks out, so Cortex commits before a late fault."""
        self.primary.chunk_delay = SLOW_CHUNK_DELAY
        try:
            yield
        finally:
            self.primary.chunk_delay = CHUNK_DELAY

    def settle(self) -> None:
        """Return to a known state: no faults, empty logs, every worker available.

        Every attempt's outcome is told to the worker's actor before the client sees the
        end of its answer, so once no attempt is in flight the statuses are final; a
        worker a test left degraded is healed by one successful request pinned to it.
        """
        for server in (self.primary, self.backup):
            server.clear_faults()
        self._wait_for(lambda workers: all(w["in_flight"] == 0 for w in workers.values()))
        for name, worker in self.workers().items():
            if worker["status"] != "available":
                self.client.chat.completions.create(
                    model=f"{name}/{self.case.model}",
                    messages=[{"role": "user", "content": "heal"}],
                )
        self._wait_for(lambda workers: all(w["status"] == "available" for w in workers.values()))
        for server in (self.primary, self.backup):
            server.reset()

    def _wait_for(self, condition: Callable[[dict[str, dict[str, Any]]], bool]) -> None:
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while time.monotonic() < deadline:
            workers = self.workers()
            if condition(workers):
                return
            time.sleep(0.02)
        raise AssertionError(f"workers did not settle: {self.workers()}")


@contextmanager
def running_matrix(case: ProviderCase, log_dir: Path) -> Iterator[Matrix]:
    """Start both upstreams, the daemon and a client; stop them all afterwards."""
    names = (f"{case.type}-primary", f"{case.type}-backup")
    servers = [
        case.factory(
            name,
            keys=case.keys(role),
            models=(case.model,),
            chunk_delay=CHUNK_DELAY,
        )
        for name, role in zip(names, ("primary", "backup"), strict=True)
    ]
    with servers[0] as primary, servers[1] as backup:
        daemon = CortexProcess(
            _environment(case, primary, backup), log_dir / f"cortex-{case.type}.log"
        )
        try:
            daemon.wait_ready()
            with openai.OpenAI(
                base_url=daemon.url + "/v1", api_key="unused", max_retries=0, timeout=20
            ) as client:
                matrix = Matrix(case, primary, backup, daemon, client)
                matrix.settle()
                yield matrix
        finally:
            daemon.stop()
