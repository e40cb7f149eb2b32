"""Worker entries: the ``[providers.*]`` tables, ``CORTEX_PROVIDERS`` and the per-type names.

A worker entry is a table of its own fields (``type``, ``api_keys``, ``models``,
``embedding_models``, ...),
validated by :func:`parse_worker` against its type's profile
(:mod:`cortex.providers.profiles`); keys it holds beyond those read are problems
(:mod:`cortex.config.check`). The per-type environment names (``GROQ_API_KEYS``,
``OLLAMA_BASE_URLS``, ...) are generated from the profiles' prefixes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlparse

from actors.workers import WorkerConfig
from cortex.config.check import ReadKeys, unknown_keys
from cortex.providers.embeddings import embedding_wire_for
from cortex.providers.profiles import PROFILES, ProviderProfile, profile_for


def split_list(raw: str | None) -> list[str]:
    """The non-empty, stripped parts of a comma-separated list."""
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


def read_workers(
    env: Mapping[str, str], file_providers: Mapping[str, Any], problems: list[str]
) -> tuple[WorkerConfig, ...]:
    """Collect worker entries: file, then legacy env names, then CORTEX_PROVIDERS (wins)."""
    entries: dict[str, dict[str, Any]] = {}
    for name, entry in file_providers.items():
        if isinstance(entry, dict):
            entries[name] = dict(entry)
        else:
            problems.append(f"config file: providers.{name} must be a table")
    for name, entry in _legacy_entries(env).items():
        entries[name] = {**entries.get(name, {}), **entry}
    raw_json = env.get("CORTEX_PROVIDERS", "").strip()
    if raw_json:
        try:
            parsed = json.loads(raw_json)
        except json.JSONDecodeError as exc:
            problems.append(f"CORTEX_PROVIDERS is not valid JSON: {exc.msg} at {exc.pos}")
            parsed = {}
        if not isinstance(parsed, dict):
            problems.append("CORTEX_PROVIDERS must be a JSON object of worker name -> settings")
            parsed = {}
        for name, entry in parsed.items():
            if isinstance(entry, dict):
                entries[name] = {**entries.get(name, {}), **entry}
            else:
                problems.append(f"CORTEX_PROVIDERS[{name!r}] must be an object")
    return tuple(
        worker
        for name, entry in entries.items()
        if (worker := parse_worker(name, entry, problems)) is not None
    )


def _legacy_entries(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Workers named by per-type variables (``GROQ_API_KEYS``, ``OLLAMA_BASE_URL``, ...).

    A type that needs a key gets a worker when its keys are set; a type whose key is
    optional (Ollama, generic OpenAI-compatible servers) gets one per base URL.
    """
    entries: dict[str, dict[str, Any]] = {}
    for profile in PROFILES.values():
        if profile.needs_key:
            entry = _keyed_entry(profile, env)
            if entry:
                entries[profile.type] = entry
        else:
            entries.update(_url_entries(profile, env))
    return entries


def _keyed_entry(profile: ProviderProfile, env: Mapping[str, str]) -> dict[str, Any]:
    """The worker entry of ``PREFIX_API_KEYS`` and its companions; empty when no key is set."""
    prefix = profile.env_prefix
    keys = split_list(env.get(f"{prefix}_API_KEYS")) or split_list(env.get(f"{prefix}_API_KEY"))
    if not keys:
        return {}
    entry = _optional_entry(prefix, env)
    if env.get(f"{prefix}_BASE_URL"):
        entry["base_url"] = env[f"{prefix}_BASE_URL"]
    return {"type": profile.type, "api_keys": keys, **entry}


def _url_entries(profile: ProviderProfile, env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """One worker per ``PREFIX_BASE_URL(S)`` entry, named ``type`` or ``type-1``, ``type-2``."""
    prefix = profile.env_prefix
    urls = split_list(env.get(f"{prefix}_BASE_URLS")) or split_list(env.get(f"{prefix}_BASE_URL"))
    keys = split_list(env.get(f"{prefix}_API_KEYS")) or split_list(env.get(f"{prefix}_API_KEY"))
    shared = _optional_entry(prefix, env)
    if keys:
        shared["api_keys"] = keys
    entries: dict[str, dict[str, Any]] = {}
    for index, url in enumerate(urls, start=1):
        name = profile.type if len(urls) == 1 else f"{profile.type}-{index}"
        entries[name] = {"type": profile.type, "base_url": url, **shared}
    return entries


def _optional_entry(prefix: str, env: Mapping[str, str]) -> dict[str, Any]:
    """``models``, ``priority`` and ``max_tokens`` from the ``PREFIX_*`` variables that are set."""
    entry: dict[str, Any] = {}
    models = split_list(env.get(f"{prefix}_MODELS")) or split_list(env.get(f"{prefix}_MODEL"))
    if models:
        entry["models"] = models
    if env.get(f"{prefix}_PRIORITY"):
        entry["priority"] = env[f"{prefix}_PRIORITY"]
    if env.get(f"{prefix}_MAX_TOKENS"):
        entry["max_tokens"] = env[f"{prefix}_MAX_TOKENS"]
    return entry


def parse_worker(name: str, entry: Mapping[str, Any], problems: list[str]) -> WorkerConfig | None:
    """Validate one worker entry; record problems and return None if it is unusable.

    Keys the entry holds beyond those read here are problems (``api_key`` for
    ``api_keys``), once the type is known: an unknown type stops the reading early.
    """
    start = len(problems)
    where = f"provider {name!r}"
    entry = ReadKeys(entry)
    if not name or "/" in name or not name.isprintable():
        problems.append(f"{where}: a worker name must be non-empty and contain no '/'")
    try:
        profile = profile_for(str(entry.get("type", name)))
    except ValueError as exc:
        problems.append(f"{where}: {exc}")
        return None
    listed_keys = _string_list(entry.get("api_keys", []), f"{where}: api_keys", problems)
    keys = listed_keys or []
    for position, key in enumerate(keys, start=1):
        # Keys travel in HTTP headers, so only visible ASCII can be one (the key itself is
        # never echoed: a lone surrogate from JSON would otherwise crash the boot).
        if not (key.isascii() and key.isprintable() and " " not in key):
            problems.append(f"{where}: api_keys[{position}] has characters no API key has")
    models = _string_list(entry.get("models", []), f"{where}: models", problems) or []
    if not models and profile.model is not None:
        models = [profile.model]
    embedding_models = _embedding_models(entry, profile.type, where, problems)
    base_url = _base_url(entry, profile, where, problems)
    priority = _int(entry.get("priority", profile.priority), f"{where}: priority", problems)
    timeout = _positive(entry.get("timeout", 60.0), f"{where}: timeout", problems)
    limits = _worker_limits(entry, profile, where, problems)
    if profile.needs_key and listed_keys == []:
        problems.append(f"{where}: needs at least one API key in api_keys")
    problems.extend(unknown_keys(where, entry))
    if len(problems) > start:
        return None
    return WorkerConfig(
        name=name,
        type=profile.type,
        base_url=base_url,
        api_keys=tuple(dict.fromkeys(keys)),
        models=tuple(models),
        embedding_models=embedding_models,
        priority=priority,
        timeout=timeout,
        first_token_timeout=limits.first_token_timeout,
        max_concurrent=limits.max_concurrent,
        price=limits.price,
        supports_prefill=limits.supports_prefill,
        max_tokens=limits.max_tokens,
        is_local=profile.local,
        # A type whose key is optional sends one when the configuration names one.
        needs_key=profile.needs_key or bool(keys),
        similar_models=limits.similar_models,
        warm=limits.warm,
        max_memory_mb=limits.max_memory_mb,
    )


def with_memory_budget(workers: tuple[WorkerConfig, ...], mb: int) -> tuple[WorkerConfig, ...]:
    """Give every Ollama worker without its own ``max_memory_mb`` the gateway-wide budget."""
    return tuple(
        replace(w, max_memory_mb=mb) if w.type == "ollama" and w.max_memory_mb is None else w
        for w in workers
    )


def _base_url(
    entry: Mapping[str, Any], profile: ProviderProfile, where: str, problems: list[str]
) -> str:
    base_url = str(entry.get("base_url") or profile.base_url or "").rstrip("/")
    parsed = urlparse(base_url)
    if not base_url:
        problems.append(f"{where}: type {profile.type!r} has no default base_url: set one")
    elif parsed.scheme not in ("http", "https") or not parsed.netloc:
        problems.append(f"{where}: base_url must be an http(s) URL, got {base_url!r}")
    return base_url


def _embedding_models(
    entry: Mapping[str, Any], provider_type: str, where: str, problems: list[str]
) -> tuple[str, ...]:
    """The entry's ``embedding_models``; a type whose API has no embeddings takes none."""
    raw = entry.get("embedding_models", [])
    models = _string_list(raw, f"{where}: embedding_models", problems) or []
    if models and embedding_wire_for(provider_type) is None:
        problems.append(f"{where}: type {provider_type!r} has no embeddings endpoint")
    return tuple(dict.fromkeys(models))


@dataclass(frozen=True, slots=True)
class _WorkerLimits:
    first_token_timeout: float | None
    max_concurrent: int | None
    price: float | None
    supports_prefill: bool
    max_tokens: int | None
    similar_models: bool
    warm: tuple[str, ...]
    max_memory_mb: int | None


def _worker_limits(
    entry: Mapping[str, Any], profile: ProviderProfile, where: str, problems: list[str]
) -> _WorkerLimits:
    """The optional per-worker resilience, request and model management fields."""
    first_token = entry.get("first_token_timeout")
    if first_token is not None:
        first_token = _positive(first_token, f"{where}: first_token_timeout", problems)
    price = entry.get("price")
    if price is not None:
        price = _positive(price, f"{where}: price", problems) if price != 0 else 0.0
    similar, warm = _model_management(entry, profile, where, problems)
    prefill = entry.get("supports_prefill", False)
    if not isinstance(prefill, bool):
        problems.append(f"{where}: supports_prefill must be true or false")
    return _WorkerLimits(
        first_token_timeout=first_token,
        max_concurrent=_at_least_one(
            entry.get("max_concurrent"), f"{where}: max_concurrent", problems
        ),
        price=price,
        supports_prefill=bool(prefill),
        max_tokens=_at_least_one(entry.get("max_tokens"), f"{where}: max_tokens", problems),
        similar_models=similar,
        warm=warm,
        max_memory_mb=_at_least_one(
            entry.get("max_memory_mb"), f"{where}: max_memory_mb", problems
        ),
    )


def _model_management(
    entry: Mapping[str, Any], profile: ProviderProfile, where: str, problems: list[str]
) -> tuple[bool, tuple[str, ...]]:
    """``similar_models`` and ``warm``: Ollama only, where the worker reports its models.

    ``max_memory_mb`` (read with the limits) is refused here for other types as well.
    """
    similar = entry.get("similar_models", False)
    if not isinstance(similar, bool):
        problems.append(f"{where}: similar_models must be true or false")
    warm = _string_list(entry.get("warm", []), f"{where}: warm", problems) or []
    budget = entry.get("max_memory_mb") is not None
    if (similar or warm or budget) and profile.wire != "ollama":
        problems.append(
            f"{where}: similar_models, warm and max_memory_mb apply to ollama workers only"
        )
    return similar is True, tuple(dict.fromkeys(warm))


def _at_least_one(raw: object, where: str, problems: list[str]) -> int | None:
    if raw is None:
        return None
    value = _int(raw, where, problems)
    if value < 1:
        problems.append(f"{where} must be at least 1")
    return value


def _string_list(raw: object, where: str, problems: list[str]) -> list[str] | None:
    """A list of non-empty strings, or None after recording a problem.

    A lone string is a problem, never split or wrapped (the legacy environment variables
    are comma lists, split before they get here).
    """
    if isinstance(raw, list) and all(isinstance(item, str) and item.strip() for item in raw):
        return [item.strip() for item in raw]
    if isinstance(raw, str):
        # The value itself is never echoed: it may be a key.
        problems.append(f'{where} must be a list of strings, not a string: write ["..."]')
        return None
    problems.append(f"{where} must be a list of non-empty strings")
    return None


def _int(raw: object, where: str, problems: list[str]) -> int:
    try:
        return int(str(raw))
    except ValueError:
        problems.append(f"{where} must be an integer, got {raw!r}")
        return 0


def _positive(raw: object, where: str, problems: list[str]) -> float:
    try:
        value = float(str(raw))
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value <= 0:
        problems.append(f"{where} must be a positive number of seconds, got {raw!r}")
    return value
