"""Every setting, declared once: one :class:`Setting` row per setting in :data:`SETTINGS`.

A row holds the setting's environment name, its config file key (TOML section and key), its
default, how it is parsed and its range, whether a reload applies it live, and its help
text. Everything else is generated from the table: the loader
(:func:`cortex.config.settings.load_settings` through :mod:`cortex.config.reader`), the
defaults of :class:`~cortex.config.settings.Settings`, the environment section of
``python -m cortex --help`` (:func:`help_lines`), the keys ``check-config`` knows
(:func:`file_keys`, anything else is an unknown key) and reload's live/restart split
(:func:`live_fields`).

The breaker's and the cache's defaults are stated by their own dataclasses
(:class:`~actors.breaker.BreakerSettings`, which may not import ``cortex/``, and
:class:`~cortex.cache.terms.CacheSettings`); their rows take the value from there.
"""

from __future__ import annotations

import enum
import textwrap
from dataclasses import dataclass
from typing import Any

from actors.breaker import BreakerSettings
from actors.keys import RotationStrategy
from actors.planning import RoutingStrategy
from cortex.cache.terms import CacheSettings

LOG_FORMATS = ("auto", "json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error")

_BREAKER = BreakerSettings()
_CACHE = CacheSettings()


class Kind(enum.Enum):
    """How a setting's raw text or TOML value becomes its value."""

    TEXT = "text"
    SECRET = "secret"  # noqa: S105 - a kind, not a password; text, stripped; never echoed in --help
    NUMBER = "number"
    INTEGER = "integer"
    FLAG = "flag"
    PORT = "port"
    CHOICE = "choice"
    KEYS = "keys"  # a comma-separated list of secrets, duplicates dropped
    ORIGINS = "origins"  # web origins: comma-separated (or a TOML list), or * alone
    STRUCTURE = "structure"  # a JSON object or TOML table, parsed by its own module


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting.

    Attributes:
        field: the attribute of ``Settings`` it sets; ``group.attr`` for a nested one.
        env: its environment variable.
        section: the config file table that holds it; ``None`` for the environment only.
        key: its key in that table (for a structure: the whole table is ``section``).
        default: its value when no source names it (in the field's unit).
        kind: how it is parsed.
        help: one line for ``--help``.
        live: whether a reload applies a change at once (else at the next restart).
        flag: the command-line flag that overrides it, if any.
        allow_zero: a number may be 0 (else it must be greater than 0).
        at_most: a number's largest value.
        least: an integer's smallest value.
        whole: a number read as such but kept as a whole number (truncated, as before).
        scale: the field's unit per unit of the sources (60: minutes given, seconds kept).
        lower: text is lower-cased.
        one_of: the texts allowed (checked once everything is read).
        choices: the enum a choice names.
    """

    field: str
    env: str
    section: str | None
    key: str | None
    default: Any
    kind: Kind
    help: str
    live: bool = False
    flag: str | None = None
    allow_zero: bool = False
    at_most: float | None = None
    least: int = 1
    whole: bool = False
    scale: float = 1.0
    lower: bool = False
    one_of: tuple[str, ...] = ()
    choices: type[RoutingStrategy] | type[RotationStrategy] | None = None

    @property
    def shown_default(self) -> str:
        """The default as ``--help`` shows it, in the sources' unit."""
        if self.kind is Kind.FLAG:
            return "1" if self.default else "0"
        if self.kind in (Kind.SECRET, Kind.KEYS, Kind.ORIGINS, Kind.STRUCTURE):
            return ""
        if self.kind is Kind.CHOICE:
            return str(self.default.value)
        if isinstance(self.default, float):
            return f"{self.default / self.scale:g}"
        return str(self.default)


def _s(field: str, env: str, default: Any, kind: Kind, text: str, **rest: Any) -> Setting:  # noqa: ANN401 - defaults are of any type
    """A ``[server]`` row whose file key is its field name."""
    return Setting(field, env, "server", field, default, kind, text, **rest)


def _c(attr: str, kind: Kind, text: str) -> Setting:
    """A ``[cache]`` row: ``CORTEX_CACHE_<KEY>``, default from :class:`CacheSettings`."""
    default = getattr(_CACHE, attr)
    return Setting(
        f"cache.{attr}", f"CORTEX_CACHE_{attr.upper()}", "cache", attr, default, kind, text
    )


def _b(attr: str, env: str, key: str, kind: Kind, text: str, **rest: Any) -> Setting:  # noqa: ANN401 - as above
    """A breaker row in ``[server]``, default from :class:`BreakerSettings`."""
    return Setting(
        f"breaker.{attr}", env, "server", key, getattr(_BREAKER, attr), kind, text, **rest
    )


NUMBER, INTEGER, FLAG, TEXT = Kind.NUMBER, Kind.INTEGER, Kind.FLAG, Kind.TEXT

# One row a setting; kept one or two lines each so the table reads as a table.
# fmt: off
SETTINGS: tuple[Setting, ...] = (
    Setting("workers", "CORTEX_PROVIDERS", "providers", None, (), Kind.STRUCTURE,
            "worker entries (see above)", live=True),
    _s("host", "CORTEX_HOST", "127.0.0.1", TEXT, "address to listen on", flag="--host"),
    _s("port", "CORTEX_PORT", 4000, Kind.PORT, "port to listen on, 0 for any", flag="--port"),
    Setting("routes", "CORTEX_ROUTES", "routes", None, None, Kind.STRUCTURE,
            "JSON object: public model name -> worker/model targets", live=True),
    Setting("content_rules", "CORTEX_CONTENT_RULES", "content_rules", None, None,
            Kind.STRUCTURE, "JSON list: rules routing a request by what it holds", live=True),
    _s("strategy", "CORTEX_STRATEGY", RoutingStrategy.PRIORITY, Kind.CHOICE,
       "default routing strategy", live=True, choices=RoutingStrategy),
    _s("key_rotation", "API_KEY_ROTATION_STRATEGY", RotationStrategy.ROUND_ROBIN, Kind.CHOICE,
       "how the keys of a worker take turns", live=True, choices=RotationStrategy),
    Setting("rate_limit_block_seconds", "RATE_LIMIT_BLOCK_MINUTES", "server",
            "rate_limit_block_minutes", 900.0, NUMBER,
            "minutes a rate-limited key rests without Retry-After", scale=60.0),
    Setting("quota_block_seconds", "QUOTA_BLOCK_MINUTES", "server", "quota_block_minutes",
            3600.0, NUMBER, "minutes a key out of quota rests", scale=60.0),
    _s("max_key_rest", "CORTEX_MAX_KEY_REST", 3600.0, NUMBER,
       "longest rest of any key in seconds, whatever an upstream's Retry-After says"),
    _s("retry_passes", "CORTEX_RETRY_PASSES", 2, INTEGER,
       "extra passes over the plan after every candidate failed transiently", least=0),
    _s("retry_backoff", "CORTEX_RETRY_BACKOFF", 0.1, NUMBER,
       "seconds: base of the jittered exponential backoff between passes"),
    _s("retry_backoff_max", "CORTEX_RETRY_BACKOFF_MAX", 2.0, NUMBER,
       "seconds: longest backoff between passes"),
    _s("same_target_retries", "CORTEX_SAME_TARGET_RETRIES", 1, NUMBER,
       "retries of a route's target before a different model", allow_zero=True, whole=True),
    _s("max_retry_wait", "CORTEX_MAX_RETRY_WAIT", 3.0, NUMBER,
       "seconds: longest Retry-After waited for such a retry", allow_zero=True),
    _b("failure_threshold", "CORTEX_BREAKER_FAILURES", "breaker_failures", INTEGER,
       "consecutive failures that open a worker's circuit breaker"),
    _b("error_rate", "CORTEX_BREAKER_ERROR_RATE", "breaker_error_rate", NUMBER,
       "...or this failure rate over the window (0 to 1)", at_most=1.0),
    _b("min_requests", "CORTEX_BREAKER_MIN_REQUESTS", "breaker_min_requests", INTEGER,
       "...once the window holds this many requests"),
    _b("window", "CORTEX_BREAKER_WINDOW", "breaker_window", NUMBER,
       "seconds of the error-rate window"),
    _b("cooldown", "CORTEX_BREAKER_COOLDOWN", "breaker_cooldown", NUMBER,
       "seconds open before one trial request goes through"),
    _s("continuation", "CORTEX_CONTINUATION", True, FLAG,
       "continue a stream that fails midway on a supports_prefill worker"),
    _s("strict_params", "CORTEX_STRICT_PARAMS", False, FLAG,
       "refuse (400) a request field the chosen workers would drop, instead of naming it "
       "in X-Cortex-Dropped-Params"),
    _s("ollama_max_memory_mb", "OLLAMA_MAX_MEMORY_MB", 8192, INTEGER,
       "MiB the loaded models of one Ollama instance may take; least recently used ones"
       " are unloaded to make room (a worker's max_memory_mb overrides it)"),
    _s("ollama_auto_pull", "OLLAMA_AUTO_PULL", False, FLAG,
       "1: a model no Ollama instance has is pulled on the one with the most free memory"
       " budget; another worker answers meanwhile"),
    _s("health_check_interval", "HEALTH_CHECK_INTERVAL", 30.0, NUMBER,
       "seconds between health probes of each worker"),
    _s("health_check_timeout", "HEALTH_CHECK_TIMEOUT", 5.0, NUMBER,
       "seconds one whole probe may take: connecting, headers and body"),
    _s("request_timeout", "CORTEX_REQUEST_TIMEOUT", 60.0, NUMBER,
       "seconds for one client request, failover included"),
    _s("connect_timeout", "CORTEX_CONNECT_TIMEOUT", 10.0, NUMBER,
       "seconds to open a connection to an upstream"),
    _s("max_body_bytes", "CORTEX_MAX_BODY_BYTES", 1_048_576, INTEGER, "largest request body"),
    _s("shutdown_grace", "CORTEX_SHUTDOWN_GRACE", 10.0, NUMBER,
       "seconds in-flight streams get on shutdown"),
    _s("processes", "CORTEX_WORKERS", 1, INTEGER,
       "server processes sharing the port (more than 1 needs CORTEX_REDIS_URL)",
       flag="--workers"),
    _s("process_restarts", "CORTEX_WORKERS_RESTARTS", 5, INTEGER,
       "crashed server processes restarted within CORTEX_WORKERS_PERIOD before the parent"
       " gives up", least=0),
    _s("process_period", "CORTEX_WORKERS_PERIOD", 10.0, NUMBER,
       "seconds of that restart window"),
    _s("log_level", "CORTEX_LOG_LEVEL", "info", TEXT, "minimum log level",
       lower=True, one_of=LOG_LEVELS),
    _s("log_format", "CORTEX_LOG_FORMAT", "auto", TEXT,
       "log output (auto: console on a terminal)", lower=True, one_of=LOG_FORMATS),
    _s("admin_token", "CORTEX_ADMIN_TOKEN", "", Kind.SECRET,
       "bearer token of the /admin API; unset turns the admin API off", live=True),
    Setting("api_keys", "CORTEX_API_KEYS", None, None, (), Kind.KEYS,
            "comma-separated gateway keys clients must send on /v1/* and /api/chat"
            "; unset: no client authentication", live=True),
    _s("protect_monitoring", "CORTEX_PROTECT_MONITORING", False, FLAG,
       "1: /api/health, /api/workers, /api/stats, /metrics and the dashboard need a"
       " gateway key too", live=True),
    _s("cors_origins", "CORTEX_CORS_ORIGINS", (), Kind.ORIGINS,
       "comma-separated origins browser pages may call Cortex from (https://app.example.com),"
       " or *; unset: CORS off", live=True),
    _s("fault_drills", "CORTEX_FAULT_DRILLS", False, FLAG,
       "1: allow POST /admin/actors/{name}/crash", live=True),
    _s("max_messages", "CORTEX_MAX_MESSAGES", 1000, INTEGER,
       "most messages in one chat request", live=True),
    _s("max_header_bytes", "CORTEX_MAX_HEADER_BYTES", 8190, INTEGER,
       "longest request line or header field"),
    _s("max_connections_per_client", "CORTEX_MAX_CONNECTIONS_PER_CLIENT", 4096, INTEGER,
       "requests one client address may have in flight", live=True),
    _s("redis_url", "CORTEX_REDIS_URL", "", Kind.SECRET,
       "redis:// or rediss:// (TLS) URL of the Redis a fleet shares its state through;"
       " unset: this process keeps its state to itself"),
    _s("redis_prefix", "CORTEX_REDIS_PREFIX", "cortex", TEXT,
       "prefix of every Redis key and channel: one per deployment sharing a Redis"),
    Setting("redis_budget", "CORTEX_REDIS_BUDGET_MS", "server", "redis_budget_ms", 0.05,
            NUMBER, "milliseconds a request may wait on Redis before going on without it",
            scale=0.001, at_most=5000.0),
    _s("db", "CORTEX_DB", "./cortex.db", TEXT,
       "SQLite file of the gateway key records and the spend ledger"),
    _c("enabled", FLAG, "0: turn the response cache off"),
    _c("ttl", NUMBER, "seconds a cached answer stays valid"),
    _c("max_entries", INTEGER, "most answers kept; least recently used go first"),
    _c("max_bytes", INTEGER, "most answer bytes kept"),
    _c("nondeterministic", FLAG, "1: also cache requests whose temperature is not 0"),
    _c("coalesce", FLAG, "0: identical requests in flight do not share an answer"),
    _c("shared", FLAG, "1: gateway keys share cached answers (0: each key its own)"),
)
# fmt: on
"""Every setting, in the order the loader reads them and ``--help`` lists them."""

BY_FIELD = {row.field: row for row in SETTINGS}


def default(field: str) -> Any:  # noqa: ANN401 - a setting's value is of its row's type
    """The declared default of the top-level setting ``field`` (for the dataclass)."""
    return BY_FIELD[field].default


def file_keys(section: str) -> frozenset[str]:
    """The keys a config file table may hold: the rows' keys of that section."""
    return frozenset(row.key for row in SETTINGS if row.section == section and row.key)


def file_tables() -> frozenset[str]:
    """The top-level tables a config file may hold."""
    return frozenset(row.section for row in SETTINGS if row.section is not None)


def live_fields() -> frozenset[str]:
    """Top-level ``Settings`` fields a reload applies at once: every row of them is live."""
    fields: dict[str, bool] = {}
    for row in SETTINGS:
        top = row.field.split(".")[0]
        fields[top] = fields.get(top, True) and row.live
    return frozenset(name for name, live in fields.items() if live)


HELP_COLUMN = 34
HELP_WIDTH = 92


def help_lines() -> str:
    """The environment section of ``--help``: one entry per row, generated.

    The worker entries' own block (``CORTEX_PROVIDERS`` and the legacy names) is written
    by hand in :mod:`cortex.__main__`; its row is listed there, not here.
    """
    lines = []
    for row in SETTINGS:
        if row.field == "workers":
            continue
        text = row.help
        if row.choices is not None:
            text += ": " + ", ".join(member.value for member in row.choices)
        elif row.one_of:
            text += ": " + ", ".join(row.one_of)
        if row.shown_default:
            text += f" ({row.shown_default})"
        if row.live:
            text += " [live]"
        lines.extend(_entry(row.env, text))
    return "\n".join(lines) + "\n"


def _entry(name: str, text: str) -> list[str]:
    """One name and its wrapped text, the text from column :data:`HELP_COLUMN`."""
    indent = " " * HELP_COLUMN
    wrapped = textwrap.wrap(text, HELP_WIDTH, initial_indent=indent, subsequent_indent=indent)
    head = f"  {name}"
    if len(head) < HELP_COLUMN - 1:
        return [head.ljust(HELP_COLUMN) + wrapped[0][HELP_COLUMN:], *wrapped[1:]]
    return [head, *wrapped]
