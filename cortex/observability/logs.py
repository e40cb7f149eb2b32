"""Structured logging: JSON lines for machines, readable lines on a terminal.

Configured once by the entry point (never at import time). Standard-library loggers
(aiohttp, pykka) are routed through the same renderer so one stream carries everything.
Every finished line, tracebacks included, passes through the gateway's redactor last, so
no configured secret reaches the log whichever code logged it.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
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


@contextlib.contextmanager
def held_until_started(*, keep_on_failure: bool = False) -> Iterator[None]:
    """Hold back every log record while the daemon starts; release them once it runs.

    A start that fails is reported by the caller as one clear line; the records of the
    attempt (children started, then the error reports and tracebacks of the failure)
    would bury it, so they are dropped unless ``keep_on_failure`` (debug level), in which
    case they come out before the caller's line. Once the start succeeded they come out
    in their order, nothing lost.
    """
    root = logging.getLogger()
    handlers = root.handlers[:]
    held = _Held()
    root.handlers[:] = [held]
    try:
        yield
    except BaseException:
        if not keep_on_failure:
            held.records.clear()
        raise
    finally:
        root.handlers[:] = handlers
        for record in held.records:
            for handler in handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)


HELD_LIMIT = 10_000
"""Most records held while starting; a start logs a few dozen, the oldest go first."""


class _Held(logging.Handler):
    """Keeps records in memory, in order, for :func:`held_until_started`."""

    def __init__(self) -> None:
        super().__init__()
        self.records: collections.deque[logging.LogRecord] = collections.deque(maxlen=HELD_LIMIT)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


LIBRARY_LOGGERS = ("cortex", "supervisors")
"""The standard-library loggers Cortex's own events go to (``cortex.*`` and ``supervisors``)."""


def log_through_stdlib(level: str = "info", redact: Callable[[str], str] | None = None) -> None:
    """Send Cortex's structured events to the standard logging machinery, for library use.

    An embedded gateway must never write to standard output, yet structlog's default
    configuration prints there. When the application has not configured structlog, its
    events are rendered as ``key=value`` text and handed to the standard library loggers
    in :data:`LIBRARY_LOGGERS`, at ``level`` (``CORTEX_LOG_LEVEL``), so the application's
    own handlers decide where they go. If the application configured no handler at all,
    these loggers get one on standard error: warnings and errors are never lost, and
    its lines pass through ``redact`` like the daemon's. An application that configured
    structlog keeps its configuration.

    Args:
        level: ``debug``, ``info``, ``warning`` or ``error``.
        redact: applied to every line of the standard-error handler (the gateway's
            :meth:`~actors.redaction.Redactor.redact`).
    """
    if not structlog.is_configured():
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.format_exc_info,
                structlog.processors.KeyValueRenderer(key_order=["event"]),
            ],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
            # Not cached: structlog.testing.capture_logs and a later configuration by the
            # application must still reach loggers that already logged.
            cache_logger_on_first_use=False,
        )
    unhandled = not logging.getLogger().handlers
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(_LEVELS[level])
        ours = [h for h in logger.handlers if isinstance(h, _StandardError)]
        if unhandled and not ours:
            ours = [_StandardError()]
            logger.addHandler(ours[0])
        for handler in ours:
            handler.redact_with(redact)


class _StandardError(logging.StreamHandler[TextIO]):
    """The handler a library logger gets when the application configured none."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.redact_with(None)

    def redact_with(self, redact: Callable[[str], str] | None) -> None:
        """Format plainly, then pass each line through ``redact`` when one is given."""
        plain = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
        self.setFormatter(plain if redact is None else RedactingFormatter(plain, redact))
