"""Ollama's model management wire: what is on disk and loaded, pull, delete and warm-up.

``GET /api/tags`` lists the models on disk (``models[]`` with ``name``, ``size`` in bytes
and ``details.family`` / ``details.parameter_size``); ``GET /api/ps`` the models loaded
in memory (the same fields plus ``size_vram`` and ``expires_at``). ``POST /api/pull``
(``{"model": ..., "stream": true}``) streams NDJSON progress objects (``status``, and
``digest``, ``total``, ``completed`` while a layer downloads) ending in
``{"status": "success"}``, or an ``{"error": ...}`` line; ``DELETE /api/delete``
(``{"model": ...}``) answers 200 with no body, or 404 for a model it does not have. A
generate request with a model, ``keep_alive`` and no prompt only loads the model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from actors.inventory import ModelEntry, ModelInventory
from actors.wire import HttpCall
from cortex.providers.openai import bearer_headers
from cortex.providers.payload import count, obj, parse_object, string


def _root(base_url: str) -> str:
    return base_url.rstrip("/")


def loaded_call(base_url: str, api_key: str | None) -> HttpCall:
    """Build ``GET {base}/api/ps`` (the models loaded in memory)."""
    return HttpCall("GET", f"{_root(base_url)}/api/ps", bearer_headers(api_key))


def pull_call(base_url: str, api_key: str | None, model: str, *, stream: bool = True) -> HttpCall:
    """Build ``POST {base}/api/pull``, streamed (or one object at the end)."""
    body = {"model": model, "stream": stream}
    return HttpCall("POST", f"{_root(base_url)}/api/pull", bearer_headers(api_key), body)


def delete_call(base_url: str, api_key: str | None, model: str) -> HttpCall:
    """Build ``DELETE {base}/api/delete``."""
    body = {"model": model}
    return HttpCall("DELETE", f"{_root(base_url)}/api/delete", bearer_headers(api_key), body)


def warm_call(base_url: str, api_key: str | None, model: str, keep_alive: str | int) -> HttpCall:
    """Build the generate request that only loads ``model`` and keeps it for ``keep_alive``.

    A negative ``keep_alive`` keeps it loaded until the server stops or is told otherwise.
    """
    body = {"model": model, "keep_alive": keep_alive, "stream": False}
    return HttpCall("POST", f"{_root(base_url)}/api/generate", bearer_headers(api_key), body)


def _entries(payload: Mapping[str, Any], size_key: str) -> tuple[ModelEntry, ...]:
    items = payload.get("models")
    if not isinstance(items, list):
        raise ValueError("model listing without a 'models' array")  # noqa: TRY004 - parse errors are ValueErrors
    entries = []
    for item in items:
        name = string(item, "name") or string(item, "model") if isinstance(item, dict) else None
        if not name:
            continue
        details = obj(item, "details")
        entries.append(
            ModelEntry(
                name=name,
                size=count(item, size_key) or count(item, "size") or 0,
                family=string(details, "family"),
                parameter_size=string(details, "parameter_size"),
                expires_at=_epoch(string(item, "expires_at")),
            )
        )
    return tuple(entries)


def _epoch(stamp: str | None) -> float | None:
    """An RFC 3339 time (``2024-06-04T14:38:31.83753-07:00``) as epoch seconds, if valid."""
    if not stamp:
        return None
    # Go writes nanoseconds and a ``Z``; fromisoformat takes at most microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", stamp.replace("Z", "+00:00"))
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def parse_inventory(listing: bytes, loaded: bytes | None) -> ModelInventory:
    """Read ``/api/tags`` and (when known) ``/api/ps`` answers into an inventory.

    Loaded sizes are the memory the model takes (``size``), which is what a memory
    budget counts.

    Raises:
        ValueError: either body is not a JSON object with a ``models`` list.
    """
    on_disk = _entries(parse_object(listing), "size")
    in_memory = _entries(parse_object(loaded), "size") if loaded is not None else ()
    return ModelInventory(on_disk=on_disk, loaded=in_memory)
