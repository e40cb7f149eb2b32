"""A health endpoint that drip-feeds its answer stalls nothing: not the boot, not a worker's
mailbox, not its removal, not the shutdown.

The primary's model listing answers 200 at once and then one byte every few hundredths of
a second, forever: every read succeeds quickly, so only a deadline on the whole exchange
(``HEALTH_CHECK_TIMEOUT``) ends a probe of it. Chat requests to it are answered normally.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest
from admin_harness import ADMIN, ADMIN_TOKEN, chat, delete, node, wait_until
from daemon_harness import providers_json

from cortex.simulated import Fault, SimulatedOpenAI

LONG_PROBE = 30.0
"""A probe timeout far beyond every bound these tests assert, so a wait on it shows."""
REQUESTS = 60


@pytest.fixture
def dripping(primary: SimulatedOpenAI) -> SimulatedOpenAI:
    """The primary, its model listing never finishing; its chat endpoint works."""
    primary.drip_interval = 0.05
    primary.set_fault(Fault.DRIP_FEED, probes=True, chat=False)
    return primary


def _env(primary: SimulatedOpenAI, backup: SimulatedOpenAI, probe_timeout: float) -> dict[str, str]:
    return {
        "CORTEX_PROVIDERS": providers_json(primary, backup),
        "CORTEX_ADMIN_TOKEN": ADMIN_TOKEN,
        "HEALTH_CHECK_TIMEOUT": str(probe_timeout),
        "CORTEX_SHUTDOWN_GRACE": "3",
    }


def test_the_boot_does_not_wait_for_a_probe_that_never_finishes(cortex_daemon, dripping, backup):
    daemon = cortex_daemon(_env(dripping, backup, LONG_PROBE))

    workers = {w["name"]: w for w in daemon.get("/api/workers").json()["workers"]}

    assert dripping.wait_for_requests(1)
    assert set(workers) == {"primary", "backup"}
    assert workers["primary"]["last_check"] is None  # its probe is still dripping
    assert chat(daemon).headers["X-Cortex-Worker"] == "primary"


def test_a_probe_is_cut_at_the_health_check_timeout_for_the_whole_exchange(
    cortex_daemon, dripping, backup
):
    daemon = cortex_daemon(_env(dripping, backup, 1.5))

    def timed_out():
        worker = node(daemon, "primary")["state"]
        return worker if worker["last_check"] is not None else None

    worker = wait_until(timed_out, timeout=15)

    assert worker["status"] == "unavailable"
    assert worker["last_error"] == "probe timeout: health probe got no whole answer within 1.5s"


def test_the_provider_mailbox_stays_small_while_its_probe_is_stuck(cortex_daemon, dripping, backup):
    daemon = cortex_daemon(_env(dripping, backup, LONG_PROBE))
    depths: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            depths.append(node(daemon, "primary")["mailbox"])
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        statuses = [chat(daemon, model="primary/gpt-4o-mini").status_code for _ in range(REQUESTS)]
    finally:
        done.set()
        watcher.join(10)
    stats = daemon.get("/api/stats").json()["workers"]["primary"]

    assert statuses == [200] * REQUESTS
    assert depths
    assert max(depths) <= 5
    assert (stats["requests"], stats["successes"], stats["in_flight"]) == (REQUESTS, REQUESTS, 0)


def test_removing_a_worker_whose_probe_is_stuck_answers_at_once(cortex_daemon, dripping, backup):
    daemon = cortex_daemon(_env(dripping, backup, LONG_PROBE))
    dripping.wait_for_requests(1)

    began = time.monotonic()
    response = delete(daemon, "/admin/workers/primary")
    took = time.monotonic() - began

    assert response.status_code == 200, response.text
    assert took < LONG_PROBE / 3
    assert [w["name"] for w in daemon.get("/api/workers").json()["workers"]] == ["backup"]
    assert daemon.get("/admin/actors", headers=ADMIN).status_code == 200


def test_sigterm_exits_zero_within_the_grace_period_while_a_probe_is_stuck(
    cortex_daemon, dripping, backup
):
    daemon = cortex_daemon(_env(dripping, backup, LONG_PROBE))
    dripping.wait_for_requests(1)

    began = time.monotonic()
    code = daemon.stop(signal.SIGTERM, timeout=LONG_PROBE)

    assert code == 0
    assert time.monotonic() - began < 3 + 5
    assert daemon.events("stopped")
    assert not daemon.events("shutdown_error")
