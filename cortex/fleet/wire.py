"""What instances leave in Redis for each other is JSON objects; reading one back.

Anything in Redis may have been written by another version of Cortex, or by hand, so
every value and message is read defensively: what is not a JSON object is not one of
ours, and is ignored rather than raised.
"""

from __future__ import annotations

from typing import Any

import orjson


def read_object(raw: object) -> dict[str, Any] | None:
    """The JSON object in a stored value or published message; None for anything else."""
    if not isinstance(raw, bytes | str):
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
