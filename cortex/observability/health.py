"""The gateway's health summary: one definition for ``GET /api/health`` and the library.

``system_health`` is ``healthy`` when every worker is available, ``degraded`` when some
worker can still answer (available or degraded), and ``unhealthy`` when none can (or none
is configured). The shape is the original project's ``health_status``.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from actors.workers import HealthStatus, WorkerView


def iso_time(timestamp: float | None) -> str | None:
    """A wall-clock time as ISO 8601; None when unset or never (a key rejected for good)."""
    if timestamp is None or not math.isfinite(timestamp):
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def system_health(by_status: Counter[str], total: int) -> str:
    """``healthy``, ``degraded`` or ``unhealthy``, from worker counts by status."""
    available = by_status.get(HealthStatus.AVAILABLE.value, 0)
    if total and available == total:
        return "healthy"
    if available or by_status.get(HealthStatus.DEGRADED.value, 0):
        return "degraded"
    return "unhealthy"


def health_summary(views: Iterable[WorkerView]) -> dict[str, Any]:
    """Worker counts by status and by provider type, the overall health, the last check.

    ``pid`` is the answering process's: it tells apart the server processes of
    ``--workers N``, which share one port.
    """
    views = tuple(views)
    by_status = Counter(v.status.value for v in views)
    checks = [v.last_check for v in views if v.last_check is not None]
    return {
        "total_workers": len(views),
        "available_workers": by_status.get(HealthStatus.AVAILABLE.value, 0),
        "workers_by_status": dict(by_status),
        "workers_by_provider": dict(Counter(str(v.config.type) for v in views)),
        "system_health": system_health(by_status, len(views)),
        "last_health_check": iso_time(max(checks)) if checks else None,
        "pid": os.getpid(),
    }
