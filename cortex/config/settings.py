"""Typed settings, merged from every configuration source in a fixed precedence.

Precedence, highest first: command-line flags > process environment > ``.env`` file >
config file (TOML) > defaults. The environment names of the original project
(``GROQ_API_KEYS``, ``OLLAMA_BASE_URL``, ``API_KEY_ROTATION_STRATEGY``, ...) keep working;
``CORTEX_PROVIDERS`` holds a JSON object with one entry per worker. Every problem found is
reported at once in a :class:`ConfigError`, so a user fixes a bad configuration in one go.

Nothing is ignored or clamped: a key no setting reads (``modles``, ``[serverr]``,
``api_key``), a value out of its range (``breaker_error_rate = 3.5``), a fraction where a
count is expected or a string where a list is, is a problem (:mod:`cortex.config.check`).
A ``CORTEX_*`` variable that is a near miss of one Cortex reads is a problem too; every
``CORTEX_*`` variable Cortex reads must therefore be read here (or be listed in
:data:`OTHER_ENVIRONMENT`), so that it counts as known.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from dotenv import dotenv_values

from actors.breaker import BreakerSettings
from actors.keys import RotationStrategy
from actors.planning import Route, RoutingStrategy
from actors.workers import WorkerConfig
from cortex.cache.terms import CacheSettings
from cortex.config.check import ReadKeys, misspelt_environment, unknown_keys
from cortex.config.routing import check_route_workers, parse_routes
from cortex.providers.profiles import PROFILES, ProviderProfile, profile_for

_E = TypeVar("_E", RoutingStrategy, RotationStrategy)

LOG_FORMATS = ("auto", "json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error")
OTHER_ENVIRONMENT = ("CORTEX_URL", "CORTEX_API_KEY")
"""``CORTEX_*`` variables read elsewhere (by the ``chat`` and ``status`` commands)."""


class ConfigError(ValueError):
    """The configuration is invalid; ``problems`` lists every reason, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n  - " + "\n  - ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything Cortex needs to start, validated.

    Attributes:
        host: address the HTTP front binds to.
        port: port the HTTP front binds to (0 picks a free one).
        workers: the configured provider workers, in configuration order.
        strategy: the default routing strategy.
        key_rotation: how keys of one worker take turns.
        rate_limit_block_seconds: how long a rate-limited key rests when the
            provider gave no Retry-After.
        health_check_interval: seconds between a worker's health probes.
        health_check_timeout: deadline of one health probe.
        request_timeout: overall deadline of one client request, failover included.
        connect_timeout: deadline for opening a connection to an upstream.
        max_body_bytes: largest request body accepted.
        shutdown_grace: seconds in-flight streams get to finish on shutdown.
        log_level: minimum log level.
        log_format: ``json``, ``console`` or ``auto`` (console on a terminal).
        admin_token: bearer token of the ``/admin`` API; empty turns the admin API off.
        api_keys: gateway keys clients must present on ``/v1/*`` and ``/api/chat``;
            empty means no client authentication.
        protect_monitoring: whether the monitoring endpoints (``/api/health``,
            ``/api/workers``, ``/api/stats``, ``/metrics``) also need a gateway key.
        fault_drills: whether ``POST /admin/actors/{name}/crash`` may crash actors.
        max_messages: most messages one chat request may carry.
        max_header_bytes: longest request line or header field accepted.
        max_connections_per_client: most requests one client address may have in flight.
        routes: model routes by public model name.
        breaker: when a worker's circuit breaker opens and for how long.
        quota_block_seconds: how long a key whose quota is exhausted rests.
        max_key_rest: the longest any key rests, whatever ``Retry-After`` an upstream sent.
        retry_passes: extra walks of the plan after every candidate failed transiently.
        retry_backoff: base of the exponential backoff between passes (full jitter).
        retry_backoff_max: longest backoff between passes.
        same_target_retries: retries of a route's target after a transient failure, before
            the route moves on to a different model.
        max_retry_wait: longest wait (a ``Retry-After``) before such a retry; a longer one
            moves on at once.
        continuation: whether a stream broken mid-answer is continued by the next
            prefill-capable target (routes may override it).
        cache: the response cache (see :mod:`cortex.cache.terms`).
    """

    host: str = "127.0.0.1"
    port: int = 4000
    workers: tuple[WorkerConfig, ...] = ()
    strategy: RoutingStrategy = RoutingStrategy.PRIORITY
    key_rotation: RotationStrategy = RotationStrategy.ROUND_ROBIN
    rate_limit_block_seconds: float = 900.0
    health_check_interval: float = 30.0
    health_check_timeout: float = 5.0
    request_timeout: float = 60.0
    connect_timeout: float = 10.0
    max_body_bytes: int = 1_048_576
    shutdown_grace: float = 10.0
    log_level: str = "info"
    log_format: str = "auto"
    admin_token: str = field(default="", repr=False)
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    protect_monitoring: bool = False
    fault_drills: bool = False
    max_messages: int = 1000
    max_header_bytes: int = 8190
    max_connections_per_client: int = 4096
    routes: Mapping[str, Route] = field(default_factory=dict)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    quota_block_seconds: float = 3600.0
    max_key_rest: float = 3600.0
    retry_passes: int = 2
    retry_backoff: float = 0.1
    retry_backoff_max: float = 2.0
    same_target_retries: int = 1
    max_retry_wait: float = 3.0
    continuation: bool = True
    cache: CacheSettings = field(default_factory=CacheSettings)

    def with_workers(self, workers: tuple[WorkerConfig, ...]) -> Settings:
        """Return a copy with another worker list (the demo mode uses this)."""
        return replace(self, workers=workers)


def load_settings(
    *,
    environ: Mapping[str, str],
    cli: Mapping[str, Any] | None = None,
    env_file: Path | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Merge all sources into validated settings.

    Args:
        environ: the process environment (passed in so nothing reads it at import time).
        cli: values given on the command line, by settings field name.
        env_file: a ``.env`` file; missing means none.
        config_file: a TOML config file; defaults to ``CORTEX_CONFIG`` when set.

    Raises:
        ConfigError: with every problem found.
    """
    problems: list[str] = []
    merged: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(environ)
    env = ReadKeys(merged)  # remembers which variables were read: the others are unknown
    path = config_file or (Path(env["CORTEX_CONFIG"]) if env.get("CORTEX_CONFIG") else None)
    file_values = ReadKeys(_read_toml(path, problems) if path is not None else {})
    reader = _Reader(problems, env, _table(file_values, "server", problems), "server")
    workers = _workers(env, _table(file_values, "providers", problems), problems)
    cli = cli or {}
    host, port = reader.text("CORTEX_HOST", "host", "127.0.0.1"), reader.port(cli.get("port"))
    settings = Settings(
        host=str(cli.get("host") or host),
        port=port,
        workers=workers,
        strategy=reader.choice("CORTEX_STRATEGY", "strategy", RoutingStrategy, "priority"),
        key_rotation=reader.choice(
            "API_KEY_ROTATION_STRATEGY", "key_rotation", RotationStrategy, "round_robin"
        ),
        rate_limit_block_seconds=60.0
        * reader.number("RATE_LIMIT_BLOCK_MINUTES", "rate_limit_block_minutes", 15.0),
        health_check_interval=reader.number("HEALTH_CHECK_INTERVAL", "health_check_interval", 30),
        health_check_timeout=reader.number("HEALTH_CHECK_TIMEOUT", "health_check_timeout", 5.0),
        request_timeout=reader.number("CORTEX_REQUEST_TIMEOUT", "request_timeout", 60.0),
        connect_timeout=reader.number("CORTEX_CONNECT_TIMEOUT", "connect_timeout", 10.0),
        max_body_bytes=reader.integer("CORTEX_MAX_BODY_BYTES", "max_body_bytes", 1_048_576),
        shutdown_grace=reader.number("CORTEX_SHUTDOWN_GRACE", "shutdown_grace", 10.0),
        log_level=reader.text("CORTEX_LOG_LEVEL", "log_level", "info").lower(),
        log_format=reader.text("CORTEX_LOG_FORMAT", "log_format", "auto").lower(),
        admin_token=reader.text("CORTEX_ADMIN_TOKEN", "admin_token", "").strip(),
        api_keys=tuple(dict.fromkeys(_split(env.get("CORTEX_API_KEYS")))),
        protect_monitoring=reader.flag("CORTEX_PROTECT_MONITORING", "protect_monitoring"),
        fault_drills=reader.flag("CORTEX_FAULT_DRILLS", "fault_drills"),
        max_messages=reader.integer("CORTEX_MAX_MESSAGES", "max_messages", 1000),
        max_header_bytes=reader.integer("CORTEX_MAX_HEADER_BYTES", "max_header_bytes", 8190),
        max_connections_per_client=reader.integer(
            "CORTEX_MAX_CONNECTIONS_PER_CLIENT", "max_connections_per_client", 4096
        ),
    )
    routes = parse_routes(
        env.get("CORTEX_ROUTES"), _table(file_values, "routes", problems), problems
    )
    check_route_workers(routes, {w.name for w in workers}, problems)
    settings = replace(
        settings,
        routes=routes,
        breaker=BreakerSettings(
            failure_threshold=reader.integer("CORTEX_BREAKER_FAILURES", "breaker_failures", 5),
            error_rate=reader.number(
                "CORTEX_BREAKER_ERROR_RATE", "breaker_error_rate", 0.5, at_most=1.0
            ),
            min_requests=reader.integer("CORTEX_BREAKER_MIN_REQUESTS", "breaker_min_requests", 20),
            window=reader.number("CORTEX_BREAKER_WINDOW", "breaker_window", 30.0),
            cooldown=reader.number("CORTEX_BREAKER_COOLDOWN", "breaker_cooldown", 10.0),
        ),
        quota_block_seconds=60.0
        * reader.number("QUOTA_BLOCK_MINUTES", "quota_block_minutes", 60.0),
        max_key_rest=reader.number("CORTEX_MAX_KEY_REST", "max_key_rest", 3600.0),
        retry_passes=reader.integer("CORTEX_RETRY_PASSES", "retry_passes", 2, least=0),
        retry_backoff=reader.number("CORTEX_RETRY_BACKOFF", "retry_backoff", 0.1),
        retry_backoff_max=reader.number("CORTEX_RETRY_BACKOFF_MAX", "retry_backoff_max", 2.0),
        same_target_retries=int(
            reader.number("CORTEX_SAME_TARGET_RETRIES", "same_target_retries", 1, allow_zero=True)
        ),
        max_retry_wait=reader.number(
            "CORTEX_MAX_RETRY_WAIT", "max_retry_wait", 3.0, allow_zero=True
        ),
        continuation=reader.flag("CORTEX_CONTINUATION", "continuation", default=True),
    )
    settings = replace(settings, cache=_cache_settings(env, file_values, problems))
    _check_rests(settings, problems)
    if settings.log_level not in LOG_LEVELS:
        problems.append(f"CORTEX_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
    if settings.log_format not in LOG_FORMATS:
        problems.append(f"CORTEX_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}")
    # Last, once every setting has been read: what nobody read is unknown.
    problems.extend(_unknown_names(reader, file_values, env))
    if problems:
        raise ConfigError(problems)
    return settings


class _Reader:
    """Reads one scalar setting from the environment, else a config file table, else a default.

    The table's key is asked for even when the environment wins, so it counts as known
    (:meth:`unknown_keys`). A problem names the source the bad value came from.
    """

    def __init__(
        self, problems: list[str], env: Mapping[str, str], file: Mapping[str, Any], table: str
    ) -> None:
        self._problems = problems
        self._env = env
        self._file = ReadKeys(file)
        self._table = table

    def unknown_keys(self) -> list[str]:
        """A problem per key of the table that no setting read."""
        return unknown_keys(f"config file [{self._table}]", self._file)

    def _raw(self, env_name: str, file_key: str) -> tuple[object | None, str]:
        """The raw value and how a problem names its source."""
        from_file = self._file.get(file_key)
        if self._env.get(env_name, "").strip():
            return self._env[env_name].strip(), env_name
        return from_file, f"config file [{self._table}] {file_key} ({env_name})"

    def text(self, env_name: str, file_key: str, default: str) -> str:
        raw, name = self._raw(env_name, file_key)
        if raw is None:
            return default
        if not isinstance(raw, str):
            self._problems.append(f"{name} must be a string, got {raw!r}")
            return default
        return raw

    def number(
        self,
        env_name: str,
        file_key: str,
        default: float,
        *,
        allow_zero: bool = False,
        at_most: float | None = None,
    ) -> float:
        raw, name = self._raw(env_name, file_key)
        if raw is None:
            return float(default)
        try:
            value = math.nan if isinstance(raw, bool) else float(str(raw))
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            self._problems.append(f"{name} must be a number, got {raw!r}")
            return float(default)
        if value < 0 or (value == 0 and not allow_zero):
            least = "at least 0" if allow_zero else "greater than 0"
            self._problems.append(f"{name} must be {least}, got {raw!r}")
            return float(default)
        if at_most is not None and value > at_most:
            self._problems.append(f"{name} must be at most {at_most:g}, got {raw!r}")
            return float(default)
        return value

    def integer(self, env_name: str, file_key: str, default: int, *, least: int = 1) -> int:
        """A whole number of at least ``least``: a fraction is a problem, never truncated."""
        raw, name = self._raw(env_name, file_key)
        if raw is None:
            return default
        value = _whole(raw)
        if value is None:
            self._problems.append(f"{name} must be a whole number, got {raw!r}")
            return default
        if value < least:
            self._problems.append(f"{name} must be at least {least}, got {raw!r}")
            return default
        return value

    def flag(self, env_name: str, file_key: str, *, default: bool = False) -> bool:
        raw, name = self._raw(env_name, file_key)
        if raw is None:
            return default
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text not in ("0", "false", "no", "off", ""):
            self._problems.append(f"{name} must be 1/true/yes/on or 0/false/no/off")
        return False

    def port(self, flag: object | None) -> int:
        """The port: the command-line ``flag`` when given (then the others go unchecked)."""
        raw, name = self._raw("CORTEX_PORT", "port")
        if flag is not None:
            return int(str(flag))
        if raw is None:
            return 4000
        port = _whole(raw)
        if port is None or not 0 <= port <= 65535:
            self._problems.append(f"{name} must be a port number, got {raw!r}")
            return 4000
        return port

    def choice(self, env_name: str, file_key: str, enum: type[_E], default: str) -> _E:
        found, name = self._raw(env_name, file_key)
        raw = str(found or default).lower()
        try:
            return enum(raw)
        except ValueError:
            allowed = ", ".join(member.value for member in enum)
            self._problems.append(f"{name} must be one of {allowed}, got {raw!r}")
            return enum(default)


def _whole(raw: object) -> int | None:
    """``raw`` as a whole number (``"12"``, ``12``), or None (``"1.5"``, ``1.5``, ``true``)."""
    if isinstance(raw, bool):
        return None
    try:
        return int(str(raw).strip())
    except ValueError:
        return None


def _unknown_names(server: _Reader, file_values: ReadKeys, env: ReadKeys) -> list[str]:
    """Problems for unread config keys and tables, and for misspelt ``CORTEX_*`` variables.

    Called once every setting has been read (see :mod:`cortex.config.check`).
    """
    return [
        *server.unknown_keys(),
        *unknown_keys("config file", file_values, shown="[{}]"),
        *misspelt_environment(list(env), {*env.asked, *OTHER_ENVIRONMENT}),
    ]


def _check_rests(settings: Settings, problems: list[str]) -> None:
    """A configured rest longer than ``CORTEX_MAX_KEY_REST`` would be cut short silently."""
    for name, seconds in (
        ("RATE_LIMIT_BLOCK_MINUTES", settings.rate_limit_block_seconds),
        ("QUOTA_BLOCK_MINUTES", settings.quota_block_seconds),
    ):
        if seconds > settings.max_key_rest:
            problems.append(
                f"{name} ({seconds / 60:g} min) is longer than CORTEX_MAX_KEY_REST"
                f" ({settings.max_key_rest:g} s), the longest a key may rest"
            )


def _cache_settings(
    env: Mapping[str, str], file_values: Mapping[str, Any], problems: list[str]
) -> CacheSettings:
    """The response cache's settings: ``CORTEX_CACHE_*``, else the file's ``[cache]`` table."""
    reader = _Reader(problems, env, _table(file_values, "cache", problems), "cache")
    default = CacheSettings()
    settings = CacheSettings(
        enabled=reader.flag("CORTEX_CACHE_ENABLED", "enabled", default=default.enabled),
        ttl=reader.number("CORTEX_CACHE_TTL", "ttl", default.ttl),
        max_entries=reader.integer("CORTEX_CACHE_MAX_ENTRIES", "max_entries", default.max_entries),
        max_bytes=reader.integer("CORTEX_CACHE_MAX_BYTES", "max_bytes", default.max_bytes),
        nondeterministic=reader.flag(
            "CORTEX_CACHE_NONDETERMINISTIC", "nondeterministic", default=default.nondeterministic
        ),
        coalesce=reader.flag("CORTEX_CACHE_COALESCE", "coalesce", default=default.coalesce),
        shared=reader.flag("CORTEX_CACHE_SHARED", "shared", default=default.shared),
    )
    problems.extend(reader.unknown_keys())
    return settings


def _read_toml(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        problems.append(f"cannot read config file {path}: {exc.strerror}")
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"config file {path} is not valid TOML: {exc}")
    return {}


def _table(values: Mapping[str, Any], name: str, problems: list[str]) -> dict[str, Any]:
    table = values.get(name, {})
    if not isinstance(table, dict):
        problems.append(f"config file: [{name}] must be a table")
        return {}
    return table


def _split(raw: str | None) -> list[str]:
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


def _workers(
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
    keys = _split(env.get(f"{prefix}_API_KEYS")) or _split(env.get(f"{prefix}_API_KEY"))
    if not keys:
        return {}
    entry = _optional_entry(prefix, env)
    if env.get(f"{prefix}_BASE_URL"):
        entry["base_url"] = env[f"{prefix}_BASE_URL"]
    return {"type": profile.type, "api_keys": keys, **entry}


def _url_entries(profile: ProviderProfile, env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """One worker per ``PREFIX_BASE_URL(S)`` entry, named ``type`` or ``type-1``, ``type-2``."""
    prefix = profile.env_prefix
    urls = _split(env.get(f"{prefix}_BASE_URLS")) or _split(env.get(f"{prefix}_BASE_URL"))
    keys = _split(env.get(f"{prefix}_API_KEYS")) or _split(env.get(f"{prefix}_API_KEY"))
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
    models = _split(env.get(f"{prefix}_MODELS")) or _split(env.get(f"{prefix}_MODEL"))
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
    base_url = str(entry.get("base_url") or profile.base_url or "").rstrip("/")
    parsed = urlparse(base_url)
    if not base_url:
        problems.append(f"{where}: type {profile.type!r} has no default base_url: set one")
    elif parsed.scheme not in ("http", "https") or not parsed.netloc:
        problems.append(f"{where}: base_url must be an http(s) URL, got {base_url!r}")
    priority = _int(entry.get("priority", profile.priority), f"{where}: priority", problems)
    timeout = _positive(entry.get("timeout", 60.0), f"{where}: timeout", problems)
    limits = _worker_limits(entry, where, problems)
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
    )


@dataclass(frozen=True, slots=True)
class _WorkerLimits:
    first_token_timeout: float | None
    max_concurrent: int | None
    price: float | None
    supports_prefill: bool
    max_tokens: int | None


def _worker_limits(entry: Mapping[str, Any], where: str, problems: list[str]) -> _WorkerLimits:
    """The optional per-worker resilience and request fields of one worker entry."""
    first_token = entry.get("first_token_timeout")
    if first_token is not None:
        first_token = _positive(first_token, f"{where}: first_token_timeout", problems)
    price = entry.get("price")
    if price is not None:
        price = _positive(price, f"{where}: price", problems) if price != 0 else 0.0
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
    )


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
