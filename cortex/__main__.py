"""``python -m cortex``: run the gateway as a long-lived daemon.

Exit status: 0 after a graceful stop (SIGTERM/SIGINT; a second one cuts the drain short),
1 when the gateway cannot start (one line on standard error says why) or when the root
supervisor gives up (so systemd or Kubernetes restarts the process), 2 for an invalid
configuration.
"""

from __future__ import annotations

import argparse
import errno
import functools
import os
import signal
import sys
import textwrap
import threading
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from types import FrameType

import structlog

from actors.redaction import Redactor
from cortex.config.settings import ConfigError, Settings, load_settings
from cortex.config.table import help_lines
from cortex.errors import GatewayError
from cortex.http.access import warn_if_exposed
from cortex.observability.logs import configure_logging, held_until_started
from cortex.ops.cli import COMMANDS, run_command, startup_summary
from cortex.ops.demo import start_demo_upstreams
from cortex.ops.gateway import Gateway
from cortex.ops.open_files import lift_open_files_limit
from cortex.ops.processes import CHANNEL_FLAG, ProcessParent, report_ready
from cortex.providers.profiles import PROFILES
from supervisors import Error, StartError

PROVIDERS_HELP = """\
environment (flags win over the environment, which wins over .env, then the config file):
  CORTEX_CONFIG                   TOML config file (see config/cortex.example.toml)
  CORTEX_PROVIDERS                JSON object: worker name -> {type, api_keys, models,
                                  embedding_models, priority, timeout, base_url,
                                  first_token_timeout, supports_prefill, max_concurrent,
                                  price, max_tokens, similar_models, warm,
                                  max_memory_mb}:
    timeout                       seconds of silence allowed between chunks (60)
    first_token_timeout           seconds allowed before the first token (30; local 45)
    supports_prefill              true: may continue a stream another worker dropped (false)
    max_concurrent                attempts it serves at once (unlimited)
    price                         cost per million tokens, for cost_optimized
    max_tokens                    answer length when the client names none
    embedding_models              models it serves on POST /v1/embeddings (not anthropic)
    similar_models                Ollama, true: a model no instance has -> the closest (false)
    warm                          Ollama: models loaded at start and kept loaded ([])
    max_memory_mb                 Ollama: MiB its loaded models may take (OLLAMA_MAX_MEMORY_MB)
                                  A worker also serves every model its upstream lists; key
                                  rests, breaker and supports_prefill are per worker.
{providers}"""

ENVIRONMENT_HELP = (
    PROVIDERS_HELP
    + "settings (default in parentheses; a reload applies [live] ones, others need a restart):\n"
    + help_lines()
    + """\
  CORTEX_URL, CORTEX_API_KEY      where `chat` and `status` find a running Cortex
signals: SIGTERM/SIGINT stop gracefully (in-flight streams get CORTEX_SHUTDOWN_GRACE
  seconds; a second SIGTERM/SIGINT ends them at once); SIGHUP re-reads the configuration
  (like POST /admin/reload).
exit status: 0 stopped, 1 could not start or the supervision tree gave up, 2 bad config.

commands (each has --help):
  python -m cortex chat "prompt" [--model M] [--strategy S] [--provider W] [--url URL]
                                  stream an answer from a running Cortex
  python -m cortex status [--url URL]         workers, keys and health of a running Cortex
  python -m cortex check-config [--config F]  validate the configuration, start nothing
  python -m cortex ollama pull|delete WORKER MODEL [--url URL] [--admin-token T]
                                  pull (with progress) or delete a model on an Ollama worker
  python -m cortex keys create|list|update|revoke|rotate [--db F]
                                  manage gateway keys with limits (records in CORTEX_DB)
  python -m cortex spend [--since DAY] [--until DAY] [--key ID] [--db F]
                                  spend by gateway key, model, worker and day
"""
)


def provider_help() -> str:
    """The help lines on provider types and their variables, generated from the profiles."""
    keyed = [p for p in PROFILES.values() if p.needs_key]
    by_url = [p for p in PROFILES.values() if not p.needs_key]
    lines = [
        *_listing("provider types: ", [p.type for p in PROFILES.values()]),
        "                                  (a CORTEX_PROVIDERS entry's type; default: its name)",
        *_listing("", [p.key_variable for p in keyed]),
        "                                  comma-separated keys; each set makes a worker",
        "  <PROVIDER>_API_KEY(S), <PROVIDER>_MODEL(S), <PROVIDER>_BASE_URL, <PROVIDER>_PRIORITY,",
        "  <PROVIDER>_MAX_TOKENS           per provider above (PROVIDER: OPENAI, GROQ, ...)",
        *_listing("", [f"{p.env_prefix}_BASE_URL, {p.env_prefix}_BASE_URLS" for p in by_url]),
        "                                  <PROVIDER>_BASE_URL(S) of a type whose key is optional:",
        "                                  a worker per URL (Ollama, vLLM, LM Studio, ...)",
    ]
    return "\n".join(lines) + "\n"


def _listing(head: str, names: list[str]) -> list[str]:
    """Comma-separated ``names`` after ``head``, wrapped to the help's width."""
    return textwrap.wrap(
        head + ", ".join(names), width=92, initial_indent="  ", subsequent_indent="  "
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line, documented with every environment variable."""
    parser = argparse.ArgumentParser(
        prog="python -m cortex",
        description="Cortex: a self-hosted AI gateway with failover and key rotation.",
        epilog=ENVIRONMENT_HELP.replace("{providers}", provider_help()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", help="address to listen on (CORTEX_HOST)")
    parser.add_argument("--port", type=int, help="port to listen on, 0 for any (CORTEX_PORT)")
    parser.add_argument("--config", type=Path, help="TOML config file (CORTEX_CONFIG)")
    parser.add_argument("--env-file", type=Path, default=Path(".env"), help="dotenv file (.env)")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="start simulated providers on loopback and use them (no API keys needed)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="server processes sharing the port (CORTEX_WORKERS; more than 1 needs"
        " CORTEX_REDIS_URL)",
    )
    parser.add_argument(
        CHANNEL_FLAG,
        type=int,
        metavar="FD",
        help="internal: set by the parent of --workers N on each server process it starts",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the daemon until a signal or a fatal supervision failure; return the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in COMMANDS:
        return run_command(argv)
    args = build_parser().parse_args(argv)
    source: Callable[[], Settings] = functools.partial(
        load_settings,
        environ=os.environ,
        cli={"host": args.host, "port": args.port, "processes": args.workers},
        env_file=args.env_file,
        config_file=args.config,
    )
    try:
        settings = source()
    except ConfigError as exc:
        print(f"cortex: {exc}", file=sys.stderr)
        return 2
    # One redactor for the gateway and its log output: it learns every secret the
    # gateway is configured with (at start, on reload, on admin changes).
    redactor = Redactor()
    configure_logging(settings.log_level, settings.log_format, redact=redactor.redact)
    lift_open_files_limit()
    if settings.processes > 1 and args.process_channel is None:
        return ProcessParent(argv, settings).run()
    with ExitStack() as stack:
        if args.demo:
            demo_workers = start_demo_upstreams(stack)
            settings = settings.with_workers(demo_workers)
            plain_source = source

            def source() -> Settings:
                return plain_source().with_workers(demo_workers)

        return _serve(settings, source, redactor, args.process_channel)


def _serve(
    settings: Settings,
    source: Callable[[], Settings],
    redactor: Redactor,
    channel: int | None = None,
) -> int:
    """Serve until stopped; under a ``--workers`` parent, report readiness on ``channel``."""
    log = structlog.get_logger("cortex")
    stop_requested = threading.Event()
    reload_requested = threading.Event()
    gateway = Gateway(settings, settings_source=source, redactor=redactor)

    def on_signal(signum: int, _: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop_requested.is_set():
            log.warning("stopping_now", signal=name, reason="second stop signal")
            gateway.end_drain_now()
            return
        log.info(
            "shutdown_requested",
            signal=name,
            grace=settings.shutdown_grace,
            hint="send it again to stop at once",
        )
        stop_requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, lambda *_: reload_requested.set())
    warn_if_exposed(settings)
    try:
        with held_until_started(keep_on_failure=settings.log_level == "debug"):
            gateway.start()
    except StartError as exc:
        print(f"cortex: {_start_failure(exc, settings)}", file=sys.stderr, flush=True)
        return 1
    url = f"http://{settings.host}:{gateway.port}"
    report = f"{_banner(url)}\n{startup_summary(url, gateway.list_workers())}"
    if channel is None:
        print(report, flush=True)
    else:

        def parent_gone() -> None:
            log.warning("parent_gone", hint="its server processes stop with it")
            stop_requested.set()

        report_ready(channel, report, parent_gone)
    try:
        while not stop_requested.wait(0.2):
            if gateway.root_exit() is not None:
                log.error("root_supervisor_gave_up", reason=str(gateway.root_exit()))
                return 1
            if reload_requested.is_set():
                reload_requested.clear()
                _reload(gateway, log)
    finally:
        gateway.stop()
    log.info("stopped")
    return 0


def _start_failure(error: StartError, settings: Settings) -> str:
    """One line that says why the gateway could not start, and what to do if it is obvious."""
    path, reason = error.root_cause()
    cause = reason.exc if isinstance(reason, Error) else None
    if isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE:
        return (
            f"cannot start: {settings.host}:{settings.port} is already in use "
            "(choose another port with --port or CORTEX_PORT)"
        )
    detail = f"{type(cause).__name__}: {cause}" if cause is not None else str(reason)
    return f"cannot start: {'/'.join(path)} failed to start ({detail})"


def _reload(gateway: Gateway, log: structlog.typing.FilteringBoundLogger) -> None:
    """Apply SIGHUP: a rejected configuration is logged and the running one stays."""
    try:
        gateway.control.reload()
    except GatewayError as exc:
        log.warning("reload_failed", signal="SIGHUP", reason=exc.message)


def _banner(url: str) -> str:
    return (
        f"Cortex is listening on {url}\n"
        f"OpenAI base URL: {url}/v1\n"
        "Try it:\n"
        f"  curl -N {url}/v1/chat/completions -H 'Content-Type: application/json' "
        '-d \'{"stream": true, "messages": [{"role": "user", "content": "Hello!"}]}\'\n'
        f"Workers: {url}/api/workers   Keys and counts: {url}/api/stats"
    )


if __name__ == "__main__":
    sys.exit(main())
