"""Structured logging: JSON lines for machines, readable lines on a terminal.

Configured once by the entry point (never at import time). Standard-library loggers
(aiohttp, pykka) are routed through the same renderer so one stream carries everything.
Every finished line, tracebacks included, passes through the gateway's redactor last, so
no configured secret reaches the log whichever code logged it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TextIO

import structlog

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class RedactingFormatter(logging.Formatter):
    """Formats with another formatter, then redacts the finished line.

    Redacting the rendered line (rather than each field) also covers exception texts and
    tracebacks, and the JSON-escaped form of a secret (see :func:`actors.redaction.forms`).
    """

    def __init__(self, inner: logging.Formatter, redact: Callable[[str], str]) -> None:
        super().__init__()
        self._inner = inner
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        """The inner formatter's line, with every configured secret masked."""
        return self._redact(self._inner.format(record))


def configure_logging(
    level: str = "info",
    fmt: str = "auto",
    stream: TextIO | None = None,
    redact: Callable[[str], str] | None = None,
) -> None:
    """Set up structlog and the standard library for the daemon.

    Args:
        level: ``debug``, ``info``, ``warning`` or ``error``.
        fmt: ``json``, ``console`` or ``auto`` (console when ``stream`` is a terminal).
        stream: where log lines go; standard error by default.
        redact: applied to every finished line (the gateway's
            :meth:`~actors.redaction.Redactor.redact`); None leaves lines as rendered.
    """
    out = stream or sys.stderr
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(out)
    formatter: logging.Formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler.setFormatter(formatter if redact is None else RedactingFormatter(formatter, redact))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
    logging.getLogger("pykka").setLevel(max(_LEVELS[level], logging.WARNING))
