"""Every finished log line, traceback included, passes through the redactor."""

from __future__ import annotations

import io
import json
import logging

from actors.redaction import Redactor, mask_key
from cortex.observability.logs import RedactingFormatter

SECRET = 'tok_live_"quoted"_0123456789'


def _logger(stream: io.StringIO, redactor: Redactor) -> logging.Logger:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter(logging.Formatter("%(message)s"), redactor.redact))
    logger = logging.getLogger(f"test.redaction.{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    return logger


def _fail() -> None:
    raise ValueError(f"upstream said {SECRET}")


def test_a_secret_in_a_message_or_a_traceback_is_masked() -> None:
    redactor, stream = Redactor(), io.StringIO()
    redactor.use("worker:w", [SECRET])
    logger = _logger(stream, redactor)

    try:
        _fail()
    except ValueError:
        logger.exception("failed with %s", json.dumps({"key": SECRET}))

    text = stream.getvalue()
    assert "Traceback" in text
    assert SECRET not in text
    assert json.dumps(SECRET)[1:-1] not in text
    assert text.count(mask_key(SECRET)) == 2
