"""The simulated Ollama's model store: what is on disk and loaded, pull, delete and load.

Each instance holds its own models, which tests set (:meth:`OllamaModels.set_models`):
``GET /api/tags`` lists those on disk, ``GET /api/ps`` those loaded; a chat or a
generate request loads its model. ``POST /api/pull`` streams the real progress objects
(``pulling manifest``, ``pulling <digest>`` with ``total`` and growing ``completed``,
``verifying sha256 digest``, ``writing manifest``, ``success``) and adds the model;
a name missing from :attr:`OllamaModels.registry` ends in an ``{"error": ...}`` line, as the
real server reports a manifest it cannot find. ``DELETE /api/delete`` removes a model (200
with no body) or answers 404. Sizes come from the tag (``8b`` is about 4.9 GB), unless
:attr:`OllamaModels.sizes` names one.

Memory: each loaded model takes its size (:meth:`OllamaModels.memory`); every use pushes
its ``expires_at`` in ``/api/ps`` back by :attr:`OllamaModels.keep_alive`, as the real
server does, so the soonest to expire is the least recently used. A generate request with
``keep_alive: 0`` unloads the model (:meth:`OllamaModels.unload`, logged in
:attr:`OllamaModels.unloads`).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from cortex.simulated.faults import ErrorKind
from cortex.simulated.wire import ReplyError, json_line

__all__ = ["OllamaModels", "canonical"]

_BYTES_PER_BILLION = 615_000_000  # a Q4_K_M model: about 0.6 bytes per parameter
_DEFAULT_BILLIONS = 7.0
_SIZE_TAG = re.compile(r"(\d+(?:\.\d+)?)b", re.IGNORECASE)
_FAMILY = re.compile(r"[a-z]+", re.IGNORECASE)
_PULL_STEPS = 4  # progress objects per layer


def canonical(model: str) -> str:
    """The name as Ollama resolves it: ``:latest`` when no tag is given."""
    return model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"


def _billions(model: str) -> float:
    tag = model.rsplit(":", 1)[-1] if ":" in model else ""
    found = _SIZE_TAG.search(tag)
    return float(found.group(1)) if found else _DEFAULT_BILLIONS


def _digest(model: str) -> str:
    return hashlib.sha256(canonical(model).encode()).hexdigest()


class OllamaModels:
    """An instance's models on disk and in memory; every method is thread-safe.

    Attributes:
        registry: names a pull can fetch (None: any name).
        sizes: bytes per model name, where the size from the tag will not do.
        pull_delay: seconds between two progress objects of a pull.
        pulls_paused: while true, a pull (streamed or not) waits before it downloads, so
            tests can look at the gateway while a pull is under way.
        keep_alive: how long a loaded model stays listed as expiring in ``/api/ps``.
    """

    def __init__(self, models: Iterable[str]) -> None:
        self._lock = threading.Lock()
        self._on_disk: tuple[str, ...] = tuple(models)
        self._loaded: tuple[str, ...] = ()
        self._used: dict[str, float] = {}  # loaded model -> when it was last used (epoch)
        self.unloads: list[str] = []
        self.registry: frozenset[str] | None = None
        self.sizes: dict[str, int] = {}
        self.pull_delay = 0.005
        self.pulls_paused = False
        self.keep_alive = timedelta(minutes=5)

    @property
    def on_disk(self) -> tuple[str, ...]:
        """The models pulled, in the order they arrived."""
        return self._on_disk

    @property
    def loaded(self) -> tuple[str, ...]:
        """The models in memory, in the order they were loaded."""
        return self._loaded

    def set_models(self, on_disk: Iterable[str], loaded: Iterable[str] = ()) -> None:
        """Replace the instance's models; loaded ones count as on disk too."""
        disk = tuple(dict.fromkeys(on_disk))
        memory = tuple(dict.fromkeys(loaded))
        now = time.time()
        with self._lock:
            self._on_disk = disk + tuple(m for m in memory if m not in disk)
            self._loaded = memory
            # Listed first, used longest ago: the first loaded model is the least recent.
            self._used = {m: now - len(memory) + i for i, m in enumerate(memory)}

    def has(self, model: str) -> bool:
        """Whether ``model`` is on disk (with or without its ``:latest`` tag)."""
        return self._find(model) is not None

    def load(self, model: str) -> None:
        """Put a model that is on disk in memory, or note its use (a request named it)."""
        with self._lock:
            found = self._find(model)
            if found is None:
                return
            if found not in self._loaded:
                self._loaded = (*self._loaded, found)
            self._used[found] = max(time.time(), *self._used.values(), 0.0) + 1e-6

    def unload(self, model: str) -> None:
        """Take a model out of memory (``keep_alive: 0``); one not loaded is left as is."""
        with self._lock:
            found = self._find(model)
            if found is not None and found in self._loaded:
                self._loaded = tuple(m for m in self._loaded if m != found)
                self._used.pop(found, None)
                self.unloads.append(found)

    def memory(self) -> int:
        """Bytes the loaded models take together."""
        return sum(self.size(m) for m in self._loaded)

    def size(self, model: str) -> int:
        """The model's size in bytes."""
        return self.sizes.get(model, int(_billions(model) * _BYTES_PER_BILLION))

    def entry(self, model: str, index: int) -> dict[str, Any]:
        """One model as ``/api/tags`` lists it."""
        family = _FAMILY.match(model.rsplit("/", 1)[-1]) or _FAMILY.match("llama")
        name = family.group(0).lower() if family else "llama"
        return {
            "name": model,
            "model": model,
            "modified_at": "2025-01-01T00:00:00Z",
            "size": self.size(model),
            "digest": f"sha256:{index:064x}",
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": name,
                "families": [name],
                "parameter_size": f"{_billions(model):g}B",
                "quantization_level": "Q4_K_M",
            },
        }

    def tags(self) -> dict[str, Any]:
        """The ``/api/tags`` body."""
        return {"models": [self.entry(m, i) for i, m in enumerate(self._on_disk, start=1)]}

    def ps(self) -> dict[str, Any]:
        """The ``/api/ps`` body."""
        disk = self._on_disk
        models = []
        for model in self._loaded:
            used = datetime.fromtimestamp(self._used.get(model, time.time()), UTC)
            expires = (used + self.keep_alive).isoformat()
            entry = self.entry(model, disk.index(model) + 1 if model in disk else 0)
            del entry["modified_at"]
            models.append(
                {**entry, "expires_at": expires, "size_vram": entry["size"], "context_length": 4096}
            )
        return {"models": models}

    async def pull(self, request: web.Request, body: Mapping[str, Any]) -> web.StreamResponse:
        """Answer ``POST /api/pull``: progress lines (or one object with ``stream: false``)."""
        model = body.get("model") or body.get("name")
        if not isinstance(model, str) or not model:
            raise ReplyError(ErrorKind.BAD_REQUEST, "model is required")
        missing = self.registry is not None and canonical(model) not in {
            canonical(m) for m in self.registry
        }
        while self.pulls_paused:
            await asyncio.sleep(0.01)
        if body.get("stream", True) is False:
            if missing:
                raise ReplyError(ErrorKind.BAD_REQUEST, "pull model manifest: file does not exist")
            self._add(model)
            return web.json_response({"status": "success"})
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        await response.write(json_line({"status": "pulling manifest"}))
        if missing:
            await response.write(json_line({"error": "pull model manifest: file does not exist"}))
            await response.write_eof()
            return response
        total, digest = self.size(model), _digest(model)
        for step in range(_PULL_STEPS + 1):
            await asyncio.sleep(self.pull_delay)
            await response.write(
                json_line(
                    {
                        "status": f"pulling {digest[:12]}",
                        "digest": f"sha256:{digest}",
                        "total": total,
                        "completed": total * step // _PULL_STEPS,
                    }
                )
            )
        for status in ("verifying sha256 digest", "writing manifest"):
            await response.write(json_line({"status": status}))
        self._add(model)
        await response.write(json_line({"status": "success"}))
        await response.write_eof()
        return response

    def delete(self, body: Mapping[str, Any]) -> web.Response:
        """Answer ``DELETE /api/delete``: 200 with no body, or 404 for an unknown model."""
        model = body.get("model") or body.get("name")
        if not isinstance(model, str) or not model:
            raise ReplyError(ErrorKind.BAD_REQUEST, "model is required")
        with self._lock:
            found = self._find(model)
            if found is None:
                return web.json_response({"error": f"model '{model}' not found"}, status=404)
            self._on_disk = tuple(m for m in self._on_disk if m != found)
            self._loaded = tuple(m for m in self._loaded if m != found)
        return web.Response(status=200)

    def _add(self, model: str) -> None:
        with self._lock:
            if self._find(model) is None:
                self._on_disk = (*self._on_disk, model)

    def _find(self, model: str) -> str | None:
        wanted = canonical(model)
        return next((m for m in self._on_disk if canonical(m) == wanted), None)
