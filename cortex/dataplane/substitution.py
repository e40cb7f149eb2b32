"""Saying that a stand-in model answered: the ``X-Cortex-Model-Substituted`` header.

When no worker has the requested model and a worker with ``similar_models`` answers
with the closest one it has (:mod:`actors.similar`), the answer's ``model`` field names
the model that answered and this header names the one the client asked for. The name
comes from the client, so it is percent-encoded outside the characters model names use.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, unquote

HEADER = "X-Cortex-Model-Substituted"
_MAX = 200  # longest name carried; a longer one is cut (it is only a notice)


def substitution_headers(asked: str | None) -> dict[str, str]:
    """The header naming the model asked for, when a stand-in answered; else none."""
    if not asked:
        return {}
    return {HEADER: quote(asked[:_MAX], safe=":/._-@+")}


def read_substituted(headers: Mapping[str, str]) -> str | None:
    """The model a stand-in answered for, from an answer's headers."""
    value = headers.get(HEADER)
    return unquote(value) if value else None
