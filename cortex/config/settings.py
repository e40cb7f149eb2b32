"""Typed settings, merged from every configuration source in a fixed precedence.

Precedence, highest first: command-line flags > process environment > ``.env`` file >
config file (TOML) > defaults. The environment names of the original project
(``GROQ_API_KEYS``, ``OLLAMA_BASE_URL``, ``API_KEY_ROTATION_STRATEGY``, ...) keep working;
``CORTEX_PROVIDERS`` holds a JSON object with one entry per worker. Every problem found is
reported at once in a :class:`ConfigError`, so a user fixes a bad configuration in one go.

Each setting is declared once, in :data:`cortex.config.table.SETTINGS`: the loader here,
the defaults of :class:`Settings`, ``--help``, ``check-config`` and reload's live/restart
split are generated from that table. Worker entries are read by :mod:`cortex.config.workers`
and model routes by :mod:`cortex.config.routing`.

Nothing is ignored or clamped: a key no setting declares (``modles``, ``[serverr]``,
``api_key``), a value out of its range (``breaker_error_rate = 3.5``), a fraction where a
count is expected or a string where a list is, is a problem (:mod:`cortex.config.check`).
A ``CORTEX_*`` variable that is a near miss of one Cortex reads is a problem too; every
``CORTEX_*`` variable Cortex reads must therefore be declared in the table, read here or
by :mod:`cortex.config.workers`, or be listed in :data:`OTHER_ENVIRONMENT`, so that it
counts as known.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from actors.breaker import BreakerSettings
from actors.keys import RotationStrategy
from actors.planning import Route, RoutingStrategy
from actors.workers import WorkerConfig
from cortex.cache.terms import CacheSettings
from cortex.config.check import ReadKeys, misspelt_environment, unknown_keys
from cortex.config.content_rules import (
    ContentRule,
    check_rule_destinations,
    parse_content_rules,
)
from cortex.config.reader import Reader
from cortex.config.routing import check_route_workers, parse_routes
from cortex.config.store_url import store_url_problem
from cortex.config.table import SETTINGS, default, file_tables
from cortex.config.workers import read_workers, with_memory_budget

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

    Every default comes from the settings table (:mod:`cortex.config.table`), where each
    setting's environment name, file key, range and help text are declared too.

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
        processes: server processes sharing the port (``--workers``); 1 is one process
            with no parent (:mod:`cortex.ops.processes`).
        process_restarts: crashed server processes the parent restarts within
            ``process_period`` before it gives up (OTP's intensity).
        process_period: seconds of that restart window (OTP's period).
        log_level: minimum log level.
        log_format: ``json``, ``console`` or ``auto`` (console on a terminal).
        admin_token: bearer token of the ``/admin`` API; empty turns the admin API off.
        api_keys: gateway keys clients must present on ``/v1/*`` and ``/api/chat``;
            empty means no client authentication.
        protect_monitoring: whether the monitoring endpoints (``/api/health``,
            ``/api/workers``, ``/api/stats``, ``/metrics``) also need a gateway key.
        cors_origins: the web origins browsers may call Cortex from (``*``: any); empty
            turns CORS off (:mod:`cortex.http.cors`).
        fault_drills: whether ``POST /admin/actors/{name}/crash`` may crash actors.
        max_messages: most messages one chat request may carry.
        max_header_bytes: longest request line or header field accepted.
        max_connections_per_client: most requests one client address may have in flight.
        db: the SQLite file of gateway key records and the spend ledger (``CORTEX_DB``).
        routes: model routes by public model name.
        content_rules: rules that route a request by what it holds, tried in order.
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
        strict_params: a request field the workers would drop is refused instead.
        ollama_max_memory_mb: the memory budget of an Ollama worker that sets none (MiB).
        ollama_auto_pull: a model no Ollama instance has is pulled where there is room.
        redis_url: the Redis a fleet shares its state through (``redis://`` or
            ``rediss://``); empty keeps every piece of state in this process.
        redis_prefix: the prefix of every Redis key and channel of this deployment.
        redis_budget: the longest a request waits on Redis, in seconds.
        cache: the response cache (see :mod:`cortex.cache.terms`).
    """

    host: str = default("host")
    port: int = default("port")
    workers: tuple[WorkerConfig, ...] = default("workers")
    strategy: RoutingStrategy = default("strategy")  # noqa: RUF009 - an enum member
    key_rotation: RotationStrategy = default("key_rotation")  # noqa: RUF009 - as above
    rate_limit_block_seconds: float = default("rate_limit_block_seconds")
    health_check_interval: float = default("health_check_interval")
    health_check_timeout: float = default("health_check_timeout")
    request_timeout: float = default("request_timeout")
    connect_timeout: float = default("connect_timeout")
    max_body_bytes: int = default("max_body_bytes")
    shutdown_grace: float = default("shutdown_grace")
    processes: int = default("processes")
    process_restarts: int = default("process_restarts")
    process_period: float = default("process_period")
    log_level: str = default("log_level")
    log_format: str = default("log_format")
    admin_token: str = field(default=default("admin_token"), repr=False)
    api_keys: tuple[str, ...] = field(default=default("api_keys"), repr=False)
    protect_monitoring: bool = default("protect_monitoring")
    cors_origins: tuple[str, ...] = default("cors_origins")
    fault_drills: bool = default("fault_drills")
    max_messages: int = default("max_messages")
    max_header_bytes: int = default("max_header_bytes")
    max_connections_per_client: int = default("max_connections_per_client")
    db: str = default("db")
    routes: Mapping[str, Route] = field(default_factory=dict)
    content_rules: tuple[ContentRule, ...] = ()
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    quota_block_seconds: float = default("quota_block_seconds")
    max_key_rest: float = default("max_key_rest")
    retry_passes: int = default("retry_passes")
    retry_backoff: float = default("retry_backoff")
    retry_backoff_max: float = default("retry_backoff_max")
    same_target_retries: int = default("same_target_retries")
    max_retry_wait: float = default("max_retry_wait")
    continuation: bool = default("continuation")
    strict_params: bool = default("strict_params")
    ollama_max_memory_mb: int = default("ollama_max_memory_mb")
    ollama_auto_pull: bool = default("ollama_auto_pull")
    redis_url: str = field(default=default("redis_url"), repr=False)
    redis_prefix: str = default("redis_prefix")
    redis_budget: float = default("redis_budget")
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
    file_values.asked.update(file_tables())
    workers = read_workers(env, _table(file_values, "providers", problems), problems)
    tables = {name: _table(file_values, name, problems) for name in ("server", "cache")}
    reader = Reader(problems, env, tables)
    values = reader.read_all(cli or {})
    workers = with_memory_budget(workers, values["ollama_max_memory_mb"])
    routes = parse_routes(
        env.get("CORTEX_ROUTES"), _table(file_values, "routes", problems), problems
    )
    check_route_workers(routes, {w.name for w in workers}, problems)
    rules = parse_content_rules(
        env.get("CORTEX_CONTENT_RULES"), file_values.get("content_rules"), problems
    )
    check_rule_destinations(rules, {w.name for w in workers}, problems)
    settings = _assemble(values, workers=workers, routes=routes, content_rules=rules)
    _check_rests(settings, problems)
    _check_processes(settings, problems)
    store_problem = store_url_problem(settings.redis_url)
    if store_problem is not None:
        problems.append(store_problem)
    problems.extend(_out_of_choice(settings))
    # Last, once every setting has been read: what nobody read is unknown.
    problems.extend(reader.unknown_keys())
    problems.extend(unknown_keys("config file", file_values, shown="[{}]"))
    known = {*env.asked, *OTHER_ENVIRONMENT, *(row.env for row in SETTINGS)}
    problems.extend(misspelt_environment(list(env), known))
    if problems:
        raise ConfigError(problems)
    return settings


def _assemble(values: Mapping[str, Any], **structures: Any) -> Settings:  # noqa: ANN401 - structures are of their own types
    """``Settings`` from the table's values by field; ``group.attr`` fields fill a group."""
    groups: dict[str, dict[str, Any]] = {"breaker": {}, "cache": {}}
    top: dict[str, Any] = {}
    for name, value in values.items():
        group, _, attr = name.partition(".")
        if attr:
            groups[group][attr] = value
        else:
            top[name] = value
    return Settings(
        **top,
        **structures,
        breaker=BreakerSettings(**groups["breaker"]),
        cache=CacheSettings(**groups["cache"]),
    )


def _out_of_choice(settings: Settings) -> list[str]:
    """A problem per text setting outside the values its row allows."""
    return [
        f"{row.env} must be one of {', '.join(row.one_of)}"
        for row in SETTINGS
        if row.one_of and getattr(settings, row.field) not in row.one_of
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


def _check_processes(settings: Settings, problems: list[str]) -> None:
    """Several server processes each keep their own state unless Redis is shared.

    Without it each process would rest, count and cache on its own: a 429 seen by one
    would be hit again by the others, so ``--workers`` > 1 is refused rather than run
    as islands.
    """
    if settings.processes > 1 and not settings.redis_url:
        problems.append(
            f"CORTEX_WORKERS (--workers) is {settings.processes}: more than one server process"
            " needs the shared store; set CORTEX_REDIS_URL (redis://host:6379/0), or run"
            " one process"
        )


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
