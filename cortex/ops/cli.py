"""Operator commands of ``python -m cortex``: ``chat``, ``status``, ``check-config``, ``ollama``,
``keys`` and ``spend`` (:mod:`cortex.ops.keys_cli`).

``chat`` and ``status`` talk to a running Cortex over HTTP (``--url``, default
``$CORTEX_URL`` or ``http://127.0.0.1:4000``); ``check-config`` reads the configuration
exactly as the daemon would and starts nothing. Every network call has a timeout, and
keys are only ever shown masked. ``ollama pull|delete`` lives in :mod:`cortex.ops.ollama_cli`.

Exit status: 0 on success, 1 when the gateway could not be reached or answered with an
error, 2 for an invalid configuration or command line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import requests
import sseclient

from actors.redaction import mask_key
from actors.workers import WorkerView
from cortex.config.settings import ConfigError, Settings, load_settings
from cortex.ops import keys_cli, ollama_cli

COMMANDS = ("chat", "status", "check-config", "ollama", "keys", "spend")
DEFAULT_URL = "http://127.0.0.1:4000"
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 120.0


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    """The subcommands' command line."""
    parser = argparse.ArgumentParser(prog="python -m cortex")
    commands = parser.add_subparsers(dest="command", required=True)
    url = environ.get("CORTEX_URL") or DEFAULT_URL
    chat = commands.add_parser("chat", help="stream an answer from a running Cortex")
    chat.add_argument("prompt", help="what to ask")
    chat.add_argument("--model", help="auto (default), a model, or worker/model")
    chat.add_argument("--strategy", help="routing strategy for this request")
    chat.add_argument("--provider", help="pin the request to this worker")
    status = commands.add_parser("status", help="workers, keys and health of a running Cortex")
    for sub in (chat, status):
        sub.add_argument("--url", default=url, help=f"Cortex's URL ($CORTEX_URL, {url})")
        sub.add_argument(
            "--api-key",
            default=environ.get("CORTEX_API_KEY"),
            help="gateway key, when the gateway requires one ($CORTEX_API_KEY)",
        )
    check = commands.add_parser("check-config", help="validate the configuration, start nothing")
    check.add_argument("--config", type=Path, help="TOML config file (CORTEX_CONFIG)")
    check.add_argument("--env-file", type=Path, default=Path(".env"), help="dotenv file (.env)")
    check.add_argument("--host", help="address the daemon would listen on")
    check.add_argument("--port", type=int, help="port the daemon would listen on")
    ollama_cli.add_parser(commands, url, environ.get("CORTEX_ADMIN_TOKEN"))
    keys_cli.add_parsers(commands, environ)
    return parser


def run_command(
    argv: Sequence[str],
    *,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run one subcommand and return its exit status."""
    env = os.environ if environ is None else environ
    stdout, stderr = out or sys.stdout, err or sys.stderr
    args = build_parser(env).parse_args(list(argv))
    if args.command in {"check-config", "keys", "spend"}:
        return _offline(args, env, stdout, stderr)
    if args.command == "ollama":
        return _ollama(args, stdout, stderr)
    session = requests.Session()
    if args.api_key:
        session.headers["Authorization"] = f"Bearer {args.api_key}"
    try:
        if args.command == "chat":
            return chat(session, args, stdout, stderr)
        return status(session, args.url.rstrip("/"), stdout)
    except requests.RequestException as exc:
        print(f"cortex: cannot reach {args.url}: {type(exc).__name__}", file=stderr)
        return 1
    except _HttpError as exc:
        print(f"cortex: {exc}", file=stderr)
        return 1
    finally:
        session.close()


def _offline(args: argparse.Namespace, env: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    """The commands that work without a running gateway."""
    if args.command == "check-config":
        return check_config(args, env, out, err)
    return keys_cli.run(args, out, err)


def _ollama(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        return ollama_cli.run(args, out, _check)
    except requests.RequestException as exc:
        print(f"cortex: cannot reach {args.url}: {type(exc).__name__}", file=err)
    except (ollama_cli.OllamaCommandError, _HttpError) as exc:
        print(f"cortex: {exc}", file=err)
    return 1


class _HttpError(Exception):
    """The gateway answered with an error status; the message is its error message."""


def _check(response: requests.Response) -> requests.Response:
    if response.status_code < 400:
        return response
    try:
        error = response.json()["error"]
        message = f"{response.status_code} {error.get('code')}: {error.get('message')}"
    except (ValueError, KeyError, TypeError, AttributeError):
        message = f"{response.status_code} {response.reason}"
    raise _HttpError(message)


def chat(session: requests.Session, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Stream the answer's text to ``out``, then name the worker that gave it on ``err``."""
    body: dict[str, Any] = {"messages": [{"role": "user", "content": args.prompt}]}
    for name in ("model", "strategy", "provider"):
        if getattr(args, name):
            body[name] = getattr(args, name)
    response = session.post(
        args.url.rstrip("/") + "/api/chat",
        json=body,
        stream=True,
        headers={"Accept": "text/event-stream"},
        timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
    )
    with response:
        _check(response)
        for event in sseclient.SSEClient(response.iter_content(chunk_size=None)).events():
            data = json.loads(event.data) if event.data else {}
            if event.event == "error":
                error = data.get("error", {})
                print(f"\ncortex: {data.get('worker')} failed: {error.get('message')}", file=err)
                return 1
            if event.event == "done":
                usage = data.get("usage") or {}
                tokens = f", {usage.get('total_tokens')} tokens" if usage else ""
                print(file=out)
                print(f"[{data.get('worker')} · {data.get('model')}{tokens}]", file=err)
                return 0
            out.write(data.get("content", ""))
            out.flush()
    print("\ncortex: the stream ended without a done event", file=err)
    return 1


def status(session: requests.Session, url: str, out: TextIO) -> int:
    """Print the health summary and a table of workers and their keys."""
    timeout = (CONNECT_TIMEOUT, 10.0)
    health = _check(session.get(url + "/api/health", timeout=timeout)).json()
    workers = _check(session.get(url + "/api/workers", timeout=timeout)).json()["workers"]
    stats = _check(session.get(url + "/api/stats", timeout=timeout)).json()["workers"]
    print(
        f"{url}: {health['system_health']}, "
        f"{health['available_workers']}/{health['total_workers']} workers available",
        file=out,
    )
    rows = [("WORKER", "TYPE", "STATUS", "IN FLIGHT", "LATENCY", "REQUESTS", "FAILURES")]
    for worker in workers:
        latency = worker.get("latency_ms")
        counts = stats.get(worker["name"], {})
        rows.append(
            (
                worker["name"],
                worker["type"],
                worker["status"],
                str(worker["in_flight"]),
                "-" if latency is None else f"{latency:.0f} ms",
                str(counts.get("requests", 0)),
                str(counts.get("failures", 0)),
            )
        )
    _table(rows, out)
    keys = [("WORKER", "KEY", "REQUESTS", "OK", "FAILED", "STATE")]
    for name, counts in stats.items():
        for key in counts.get("keys", ()):
            state = f"blocked ({key['block_reason']})" if key["blocked"] else "in rotation"
            keys.append(
                (
                    name,
                    key["key"],
                    str(key["requests"]),
                    str(key["successes"]),
                    str(key["failures"]),
                    state,
                )
            )
    if len(keys) > 1:
        print(file=out)
        _table(keys, out)
    return 0


def _table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)), file=out
        )


def check_config(
    args: argparse.Namespace, environ: Mapping[str, str], out: TextIO, err: TextIO
) -> int:
    """Load the configuration as the daemon would; print what would start, or every problem."""
    try:
        settings = load_settings(
            environ=environ,
            cli={"host": args.host, "port": args.port},
            env_file=args.env_file,
            config_file=args.config,
        )
    except ConfigError as exc:
        print(f"cortex: the configuration has {len(exc.problems)} problem(s):", file=err)
        for problem in exc.problems:
            print(f"  - {problem}", file=err)
        return 2
    print(describe_settings(settings), file=out)
    return 0


def describe_settings(settings: Settings) -> str:
    """What the daemon would start with these settings, keys masked."""
    lines = [
        f"configuration OK: would listen on http://{settings.host}:{settings.port}",
        f"routing: {settings.strategy.value}, key rotation: {settings.key_rotation.value}",
        f"workers ({len(settings.workers)}):" if settings.workers else "workers: none configured",
    ]
    for worker in settings.workers:
        keys = ", ".join(mask_key(k) for k in worker.api_keys) or "no keys"
        models = ", ".join(worker.models) or "any"
        lines.append(
            f"  {worker.name} ({worker.type}, priority {worker.priority}) "
            f"{worker.base_url} models: {models}; keys: {keys}"
        )
    return "\n".join(lines)


def startup_summary(url: str, views: Sequence[WorkerView]) -> str:
    """The lines the daemon prints after its banner: workers with health, and the dashboard."""
    workers = ", ".join(f"{v.name} ({v.config.type}, {v.status.value})" for v in views)
    return (
        f"Workers found: {workers or 'none (configure providers, or try --demo)'}\n"
        f"Dashboard: {url}/dashboard   Metrics: {url}/metrics"
    )


__all__ = [
    "COMMANDS",
    "build_parser",
    "describe_settings",
    "run_command",
    "startup_summary",
]
