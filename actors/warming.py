"""Keeping a worker's ``warm`` models loaded: one load at a time per model, off the actor.

A wire that reports what is loaded (Ollama) lets the provider actor see, at each probe,
that a ``warm`` model is on disk but not in memory (at start, or after the server dropped
it). :class:`Warmer` starts its load on a probe thread and reports back to the actor as a
:class:`~actors.messages.WarmFinished`; a model not on disk is left alone, since loading
it would only fail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pykka
import structlog

from actors.inventory import ModelInventory
from actors.messages import WarmFinished
from actors.outcomes import UpstreamFailure
from actors.probe import ProbeReply, ProbeResult, start_probes
from actors.wire import InventoryWire
from actors.workers import WorkerConfig

log = structlog.get_logger("cortex.provider")


class Warmer:
    """Loads one worker's warm models; remembers which loads are under way.

    Args:
        config: the worker (its ``warm`` models, base URL and first-token timeout).
        adapter: its wire; only an :class:`~actors.wire.InventoryWire` can warm.
        probe_key: the key a call presents, for a worker that needs one.
        ref: the provider actor told when a load finishes.
    """

    def __init__(
        self,
        config: WorkerConfig,
        adapter: object,
        probe_key: Callable[[], str | None],
        ref: pykka.ActorRef[Any],
    ) -> None:
        self._config = config
        self._adapter = adapter
        self._probe_key = probe_key
        self._ref = ref
        self._warming: set[str] = set()

    def warm(self, inventory: ModelInventory) -> None:
        """Start loading each warm model that is on disk but not loaded nor loading."""
        adapter, config, ref = self._adapter, self._config, self._ref
        if not isinstance(adapter, InventoryWire):
            return
        for model in config.warm:
            if model in self._warming or inventory.is_loaded(model) or not inventory.has(model):
                continue
            self._warming.add(model)

            def report(results: tuple[ProbeResult, ...], model: str = model) -> None:
                try:
                    ref.tell(WarmFinished(model, results[0]))
                except pykka.ActorDeadError:
                    return

            key = self._probe_key() if config.needs_key else None
            start_probes(
                [adapter.warm_call(config.base_url, key, model)],
                timeout=config.time_to_first_token,
                done=report,
                name=f"warm-{config.name}",
            )

    def finished(self, model: str, result: ProbeResult) -> bool:
        """Note a finished load; True when it loaded (a fresh probe will show it)."""
        self._warming.discard(model)
        if isinstance(result, ProbeReply) and result.status < 400:
            log.info("model_warmed", worker=self._config.name, model=model)
            return True
        reason = result.kind.value if isinstance(result, UpstreamFailure) else result.status
        log.warning("model_warm_failed", worker=self._config.name, model=model, reason=reason)
        return False
