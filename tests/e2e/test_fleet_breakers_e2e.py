"""Three daemons and one real redis-server: a breaker opened by one is respected by all."""

from __future__ import annotations

import time

from daemon_harness import providers_json
from fleet_harness import eventually, fleet_env

from cortex.simulated import Fault, SimulatedOpenAI

HELLO = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}
COOLDOWN = 3.0
BREAKER = {
    # Two failures open the breaker; no retry of the same target and no probe muddles the
    # count of chat requests the primary receives.
    "CORTEX_BREAKER_FAILURES": "2",
    "CORTEX_BREAKER_COOLDOWN": str(COOLDOWN),
    "CORTEX_SAME_TARGET_RETRIES": "0",
    "HEALTH_CHECK_INTERVAL": "3600",
}


def chat_requests(server: SimulatedOpenAI) -> int:
    """How many generation requests ``server`` received."""
    return sum(1 for r in server.requests if r.path.endswith("/chat/completions"))


def stats_breaker(daemon, worker: str = "primary") -> str:
    """The breaker state of ``worker`` as the daemon's ``/api/stats`` shows it."""
    return daemon.get("/api/stats").json()["workers"][worker]["breaker"]


def start_fleet(cortex_daemon, redis_server, redis_prefix, primary, backup):
    env = fleet_env(redis_server.url, redis_prefix, primary, **BREAKER)
    env["CORTEX_PROVIDERS"] = providers_json(primary, backup)
    return [cortex_daemon(env) for _ in range(3)]


def open_on(daemon, primary: SimulatedOpenAI) -> None:
    """Fail the primary until ``daemon``'s breaker of it opens (each request is answered)."""
    primary.set_fault(Fault.SERVER_ERROR)
    for _ in range(2):
        answer = daemon.post("/v1/chat/completions", json=HELLO)
        assert answer.status_code == 200
        assert answer.headers["X-Cortex-Worker"] == "backup"
    eventually(lambda: stats_breaker(daemon), lambda state: state == "open")


def test_a_breaker_opened_by_one_instance_is_skipped_by_the_others_within_a_second(
    cortex_daemon, redis_server, redis_prefix, primary, backup
):
    a, b, c = start_fleet(cortex_daemon, redis_server, redis_prefix, primary, backup)
    a_id = a.get("/api/fleet").json()["this"]

    open_on(a, primary)
    opened = time.monotonic()
    for other in (b, c):
        eventually(lambda d=other: stats_breaker(d), lambda state: state == "open")
    seen = chat_requests(primary)
    answers = [d.post("/v1/chat/completions", json=HELLO) for d in (b, c, b, c)]

    assert time.monotonic() - opened < COOLDOWN  # still within the cool-down
    assert [r.headers["X-Cortex-Worker"] for r in answers] == ["backup"] * 4
    assert chat_requests(primary) == seen  # the failing upstream was not touched
    stats = b.get("/api/stats").json()["workers"]["primary"]
    assert stats["breaker_opened_by"] == a_id
    assert stats["next_trial_in"] <= COOLDOWN


def test_after_the_cooldown_one_trial_request_reaches_the_upstream_for_the_whole_fleet(
    cortex_daemon, redis_server, redis_prefix, primary, backup
):
    daemons = start_fleet(cortex_daemon, redis_server, redis_prefix, primary, backup)
    open_on(daemons[0], primary)
    for daemon in daemons[1:]:
        eventually(lambda d=daemon: stats_breaker(d), lambda state: state == "open")
    seen = chat_requests(primary)
    time.sleep(COOLDOWN + 0.5)  # the cool-down itself is what is under test

    # Every instance is asked, several times: only the trial holder sends its trial.
    for _ in range(3):
        for daemon in daemons:
            assert daemon.post("/v1/chat/completions", json=HELLO).status_code == 200
    primary.wait_for_requests(len(primary.requests), timeout=1.0)

    assert chat_requests(primary) - seen == 1


def test_a_successful_trial_closes_the_breaker_on_every_instance(
    cortex_daemon, redis_server, redis_prefix, primary, backup
):
    daemons = start_fleet(cortex_daemon, redis_server, redis_prefix, primary, backup)
    open_on(daemons[0], primary)
    for daemon in daemons[1:]:
        eventually(lambda d=daemon: stats_breaker(d), lambda state: state == "open")
    primary.clear_faults()
    time.sleep(COOLDOWN)  # the cool-down itself is what is under test

    def workers_that_answered() -> set[str]:
        return {
            d.post("/v1/chat/completions", json=HELLO).headers["X-Cortex-Worker"] for d in daemons
        }

    eventually(workers_that_answered, lambda workers: "primary" in workers)
    for daemon in daemons:
        eventually(lambda d=daemon: stats_breaker(d), lambda state: state == "closed")
