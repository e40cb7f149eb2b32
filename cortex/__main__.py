"""``python -m cortex``: run the gateway as a long-lived daemon.

Exit status: 0 after a graceful stop (SIGTERM/SIGINT), 1 when the root supervisor gives
up (so systemd or Kubernetes restarts the process), 2 for an invalid configuration.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from contextlib import ExitStack
from pathlib import Path
from types import FrameType

import structlog

from cortex.gateway import Gateway
from cortex.logs import configure_logging
from cortex.settings import ConfigError, Settings, load_settings

ENVIRONMENT_HELP = """\
environment (flags win over the environment, which wins over .env, then the config file):
  CORTEX_HOST, CORTEX_PORT        where to listen (default 127.0.0.1:4000)
  CORTEX_CONFIG                   TOML config file (see config/cortex.example.toml)
  CORTEX_PROVIDERS                JSON object: worker name -> {type, api_keys, models,
                                  priority, timeout, base_url}
  OPENAI_API_KEYS, GROQ_API_KEYS, XAI_API_KEYS, ANTHROPIC_API_KEYS, GEMINI_API_KEYS,
  COHERE_API_KEYS                 comma-separated keys; each set makes a worker
  <PROVIDER>_MODEL(S), <PROVIDER>_BASE_URL, <PROVIDER>_PRIORITY
  OLLAMA_BASE_URL, OLLAMA_BASE_URLS, OLLAMA_MODEL(S)   local Ollama server(s)
  CORTEX_STRATEGY                 priority (default) or local_first
  API_KEY_ROTATION_STRATEGY       round_robin (default), least_used, random
  RATE_LIMIT_BLOCK_MINUTES        rest for a rate-limited key without Retry-After (15)
  HEALTH_CHECK_INTERVAL, HEALTH_CHECK_TIMEOUT   seconds (30, 5)
  CORTEX_REQUEST_TIMEOUT, CORTEX_CONNECT_TIMEOUT seconds (120, 10)
  CORTEX_MAX_BODY_BYTES           largest request body (1048576)
  CORTEX_SHUTDOWN_GRACE           seconds in-flight streams get on shutdown (10)
  CORTEX_LOG_LEVEL, CORTEX_LOG_FORMAT           info; auto, json or console
"""


def build_parser() -> argparse.ArgumentParser:
    """The command line, documented with every environment variable."""
    parser = argparse.ArgumentParser(
        prog="python -m cortex",
        description="Cortex: a self-hosted AI gateway with failover and key rotation.",
        epilog=ENVIRONMENT_HELP,
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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the daemon until a signal or a fatal supervision failure; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(
            environ=os.environ,
            cli={"host": args.host, "port": args.port},
            env_file=args.env_file,
            config_file=args.config,
        )
    except ConfigError as exc:
        print(f"cortex: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    with ExitStack() as stack:
        if args.demo:
            from cortex.demo import start_demo_upstreams

            settings = settings.with_workers(start_demo_upstreams(stack))
        return _serve(settings)


def _serve(settings: Settings) -> int:
    log = structlog.get_logger("cortex")
    stop_requested = threading.Event()

    def on_signal(signum: int, _: FrameType | None) -> None:
        log.info("shutdown_requested", signal=signal.Signals(signum).name)
        stop_requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    gateway = Gateway(settings).start()
    url = f"http://{settings.host}:{gateway.port}"
    print(_banner(url), flush=True)
    try:
        while not stop_requested.wait(0.2):
            if gateway.root_exit() is not None:
                log.error("root_supervisor_gave_up", reason=str(gateway.root_exit()))
                return 1
    finally:
        gateway.stop()
    log.info("stopped")
    return 0


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
