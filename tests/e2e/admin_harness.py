"""Helpers for the admin, access, reload and drill tests: admin calls and bounded waits."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests
from daemon_harness import CortexProcess

ADMIN_TOKEN = "admin-token-for-tests-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def node(daemon: CortexProcess, name: str) -> dict[str, Any]:
    """One actor's node from ``/admin/actors/{name}``."""
    response = daemon.get(f"/admin/actors/{name}", headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


def wait_until(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


def restarted(daemon: CortexProcess, name: str, old_urn: str) -> dict[str, Any] | None:
    """The node once a new, live incarnation replaced ``old_urn``; None before."""
    current = node(daemon, name)
    if current["alive"] and current["incarnation"] not in (None, old_urn):
        return current
    return None


def chat(daemon: CortexProcess, text: str = "hi", **extra: Any) -> Any:
    """A non-streaming chat completion."""
    body = {"messages": [{"role": "user", "content": text}], **extra}
    return daemon.post("/v1/chat/completions", json=body)


def delete(daemon: CortexProcess, path: str) -> requests.Response:
    """An authenticated admin DELETE."""
    return requests.delete(daemon.url + path, headers=ADMIN, timeout=10)
