"""``python -m cortex ollama pull|delete WORKER MODEL``: manage a running Cortex's Ollama models.

Both call the admin API (``--admin-token``, default ``$CORTEX_ADMIN_TOKEN``). ``pull``
shows the progress Ollama reports: on a terminal one line redrawn in place with a bar
(``pulling 6a0746a1ec1a [#########-----------]  45%  2.1/4.7 GB``); otherwise plain lines,
one per status and per tenth of a download, so logs stay short.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any, TextIO
from urllib.parse import quote

import requests

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 300.0  # silence allowed between two progress lines of a pull
BAR_WIDTH = 20


def add_parser(commands: Any, url: str, token: str | None) -> None:  # noqa: ANN401 - argparse's private subparsers type
    """Add ``ollama pull`` and ``ollama delete`` to the command line."""
    ollama = commands.add_parser("ollama", help="pull or delete a model on an Ollama worker")
    actions = ollama.add_subparsers(
        dest="action", required=True, metavar="action", help="pull or delete"
    )
    for action, summary in (
        ("pull", "pull a model onto a worker, showing its progress"),
        ("delete", "delete a model from a worker"),
    ):
        sub = actions.add_parser(action, help=summary)
        sub.add_argument("worker", help="the Ollama worker's name (ollama-1)")
        sub.add_argument("model", help="the model (llama3.1:8b)")
        sub.add_argument("--url", default=url, help=f"Cortex's URL ($CORTEX_URL, {url})")
        sub.add_argument(
            "--admin-token", default=token, help="the admin token ($CORTEX_ADMIN_TOKEN)"
        )


class OllamaCommandError(Exception):
    """The gateway or the Ollama instance refused; the message says why."""


def run(args: argparse.Namespace, out: TextIO, check: Callable[[requests.Response], object]) -> int:
    """Run ``ollama pull`` or ``ollama delete``; returns the exit status.

    Args:
        args: the parsed command line.
        out: where progress and the result go.
        check: raises the CLI's error for an error answer of the gateway.

    Raises:
        OllamaCommandError: no admin token, or the pull ended without success.
        requests.RequestException: the gateway could not be reached.
    """
    if not args.admin_token:
        raise OllamaCommandError("an admin token is needed: --admin-token or $CORTEX_ADMIN_TOKEN")
    base = f"{args.url.rstrip('/')}/admin/ollama/{quote(args.worker, safe='')}"
    headers = {"Authorization": f"Bearer {args.admin_token}"}
    if args.action == "delete":
        response = requests.delete(
            f"{base}/models/{quote(args.model, safe=':')}",
            headers=headers,
            timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
        )
        check(response)
        print(f"deleted {args.model} from {args.worker}", file=out)
        return 0
    with requests.post(
        f"{base}/pull",
        json={"model": args.model},
        headers=headers,
        stream=True,
        timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
    ) as response:
        check(response)
        progress = Progress(out, tty=out.isatty())
        for line in response.iter_lines():
            if line:
                progress.show(json.loads(line))
        progress.close()
    if not progress.succeeded:
        raise OllamaCommandError(progress.error or "the pull ended without success")
    print(f"pulled {args.model} onto {args.worker}", file=out)
    return 0


def _gigabytes(count: int) -> str:
    return f"{count / 1e9:.1f}"


class Progress:
    """Shows Ollama's progress objects: a redrawn bar on a terminal, plain lines elsewhere."""

    def __init__(self, out: TextIO, *, tty: bool) -> None:
        self._out = out
        self._tty = tty
        self._last: tuple[str, int] | None = None
        self._drawn = False
        self.succeeded = False
        self.error: str | None = None

    def show(self, event: dict[str, Any]) -> None:
        """Show one progress object."""
        if event.get("error"):
            self.error = str(event["error"])
            return
        status = str(event.get("status", ""))
        self.succeeded = status == "success"
        total, completed = event.get("total"), event.get("completed") or 0
        if isinstance(total, int) and total > 0:
            percent = min(100, completed * 100 // total)
            bar = "#" * (percent * BAR_WIDTH // 100)
            line = (
                f"{status} [{bar:-<{BAR_WIDTH}}] {percent:3d}%  "
                f"{_gigabytes(completed)}/{_gigabytes(total)} GB"
            )
            self._emit(line, (status, percent // 10))
        else:
            self._emit(status, (status, -1))

    def _emit(self, line: str, step: tuple[str, int]) -> None:
        if self._tty:
            self._out.write(f"\r\x1b[2K{line}")
            self._drawn = True
        elif step != self._last:
            print(line, file=self._out)
        self._last = step
        self._out.flush()

    def close(self) -> None:
        """End the redrawn line, if one was drawn."""
        if self._drawn:
            print(file=self._out)
