"""Reading Ollama's model lists: sizes and, for loaded models, when they expire."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from cortex.providers.ollama_models import parse_inventory

NOON = datetime(2024, 6, 4, 12, 0, tzinfo=UTC).timestamp()


def body(*models: dict[str, object]) -> bytes:
    return json.dumps({"models": list(models)}).encode()


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2024-06-04T12:00:00Z", NOON),
        ("2024-06-04T05:00:00-07:00", NOON),
        ("2024-06-04T12:00:00.123456789Z", NOON + 0.123456),  # Go writes nanoseconds
        ("2024-06-04T14:00:00.5+02:00", NOON + 0.5),
        ("not a time", None),
        ("", None),
        (None, None),
    ],
)
def test_a_loaded_models_expiry_is_read_as_epoch_seconds(
    stamp: str | None, expected: float | None
) -> None:
    loaded = {"name": "llama3.1:8b", "size": 5_000_000_000}
    if stamp is not None:
        loaded["expires_at"] = stamp
    inventory = parse_inventory(body({"name": "llama3.1:8b", "size": 4}), body(loaded))
    (entry,) = inventory.loaded
    assert entry.size == 5_000_000_000
    if expected is None:
        assert entry.expires_at is None
    else:
        assert entry.expires_at == pytest.approx(expected, abs=1e-6)
    assert inventory.entry("llama3.1:8b") == entry  # the loaded entry: its memory size
