"""Keys fleet-wide: daemons sharing one real redis-server rest, unblock and count keys as one.

The upstream is the simulated OpenAI server with two keys; which key a request carried is
read from its own request log.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import requests
from admin_harness import ADMIN, ADMIN_TOKEN, chat
from daemon_harness import PRIMARY_KEYS
from fleet_harness import eventually, fleet_env

from cortex.simulated import Fault, SimulatedOpenAI

CHAT_PATH = "/v1/chat/completions"
LONG_REST = 600.0


def key_view(daemon: Any, index: int) -> dict[str, Any]:
    """The primary worker's key ``index`` as ``/api/stats`` on ``daemon`` shows it."""
    return daemon.get("/api/stats").json()["workers"]["primary"]["keys"][index]


def keys_used(upstream: SimulatedOpenAI) -> Counter[str | None]:
    """How many chat requests the upstream received with each key."""
    return Counter(r.api_key for r in upstream.requests if r.path.endswith(CHAT_PATH))


def served(daemon: Any, count: int) -> None:
    for _ in range(count):
        assert chat(daemon).status_code == 200


def test_a_key_rested_through_one_daemon_is_skipped_by_the_others_and_shown_resting(
    cortex_daemon, primary, redis_server, redis_prefix
):
    env = fleet_env(redis_server.url, redis_prefix, primary)
    first, second, third = (cortex_daemon(env) for _ in range(3))
    primary.set_fault(Fault.RATE_LIMIT, key=PRIMARY_KEYS[0], times=1, retry_after=LONG_REST)

    served(first, 1)  # the first key answers 429 and rests; the second one serves
    rested = eventually(lambda: key_view(second, 0), lambda view: view["blocked"])
    eventually(lambda: key_view(third, 0), lambda view: view["blocked"])
    primary.reset()
    served(second, 3)
    served(third, 3)

    assert rested["block_reason"] == "rate_limited"
    assert rested["blocked_until"] == key_view(first, 0)["blocked_until"]
    assert keys_used(primary) == {PRIMARY_KEYS[1]: 6}


def test_an_unblock_through_one_daemon_reaches_the_others(
    cortex_daemon, primary, redis_server, redis_prefix
):
    env = fleet_env(redis_server.url, redis_prefix, primary, CORTEX_ADMIN_TOKEN=ADMIN_TOKEN)
    first, second = cortex_daemon(env), cortex_daemon(env)
    primary.set_fault(Fault.RATE_LIMIT, key=PRIMARY_KEYS[0], times=1, retry_after=LONG_REST)
    served(first, 1)
    key = eventually(lambda: key_view(second, 0), lambda view: view["blocked"])["key_id"]

    answer = first.post(f"/admin/keys/primary/{key}/unblock", headers=ADMIN)

    assert answer.status_code == 200, answer.text
    eventually(lambda: key_view(second, 0), lambda view: not view["blocked"])
    primary.reset()
    served(second, 2)
    assert keys_used(primary) == {PRIMARY_KEYS[0]: 1, PRIMARY_KEYS[1]: 1}


def test_least_used_spreads_usage_by_the_fleets_counts(
    cortex_daemon, primary, redis_server, redis_prefix
):
    # The first daemon knows only the first key, so the fleet's usage is lopsided.
    only_first = {
        "primary": {
            "type": "openai",
            "base_url": primary.base_url,
            "api_keys": [PRIMARY_KEYS[0]],
            "models": ["gpt-4o-mini"],
        }
    }
    strategy = {"API_KEY_ROTATION_STRATEGY": "least_used"}
    lopsided = cortex_daemon(
        {**fleet_env(redis_server.url, redis_prefix, primary, **strategy),
         "CORTEX_PROVIDERS": json.dumps(only_first)}
    )  # fmt: skip
    balanced = cortex_daemon(fleet_env(redis_server.url, redis_prefix, primary, **strategy))
    served(lopsided, 4)

    eventually(lambda: key_view(balanced, 0), lambda view: view["requests"] == 4)
    primary.reset()
    served(balanced, 4)

    assert keys_used(primary) == {PRIMARY_KEYS[1]: 4}
    eventually(lambda: key_view(lopsided, 0), lambda view: view["requests"] == 4)


class Load:
    """Chat requests sent without pause to some daemons from a few threads, until stopped."""

    def __init__(self, daemons: list[Any], threads: int = 4) -> None:
        self.statuses: Counter[int | str] = Counter()
        self._daemons = daemons
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self, index: int) -> None:
        body = {"messages": [{"role": "user", "content": "hi"}]}
        sent = 0
        while not self._stop.is_set():
            daemon = self._daemons[(index + sent) % len(self._daemons)]
            sent += 1
            try:
                status: int | str = requests.post(
                    daemon.url + CHAT_PATH, json=body, timeout=20
                ).status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            with self._lock:
                self.statuses[status] += 1

    def count(self) -> int:
        with self._lock:
            return sum(self.statuses.values())


def fleet_requests(daemon: Any) -> int:
    """The requests of both keys as ``/api/stats`` on ``daemon`` counts them."""
    return sum(k["requests"] for k in daemon.get("/api/stats").json()["workers"]["primary"]["keys"])


def test_redis_killed_and_restarted_under_load_fails_no_request_and_the_counts_converge(
    cortex_daemon, primary, fresh_redis, redis_prefix
):
    env = fleet_env(fresh_redis.url, redis_prefix, primary)
    daemons = [cortex_daemon(env), cortex_daemon(env)]

    with Load(daemons) as load:
        eventually(load.count, lambda n: n >= 50)
        fresh_redis.kill()
        for daemon in daemons:
            eventually(lambda d=daemon: d.events("shared_state_unavailable"), bool)
        at_kill = load.count()
        eventually(load.count, lambda n: n >= at_kill + 50)
        fresh_redis.start()
        for daemon in daemons:
            eventually(lambda d=daemon: d.events("shared_state_restored"), bool)
        at_restart = load.count()
        eventually(load.count, lambda n: n >= at_restart + 50)

    assert set(load.statuses) == {200}, load.statuses
    for daemon in daemons:
        assert len(daemon.events("shared_state_unavailable")) == 1
    upstream_total = sum(keys_used(primary).values())
    for daemon in daemons:
        eventually(lambda d=daemon: fleet_requests(d), lambda n: n == upstream_total)


def test_a_rest_taken_while_redis_was_down_reaches_the_others_when_it_returns(
    cortex_daemon, primary, fresh_redis, redis_prefix
):
    env = fleet_env(fresh_redis.url, redis_prefix, primary)
    first, second = cortex_daemon(env), cortex_daemon(env)
    fresh_redis.kill()
    served(first, 1)  # the store notices the outage
    eventually(lambda: first.events("shared_state_unavailable"), bool)
    primary.set_fault(Fault.RATE_LIMIT, key=PRIMARY_KEYS[0], times=1, retry_after=LONG_REST)
    served(first, 2)  # one of these meets the 429: the first key rests on this daemon only
    assert key_view(first, 0)["blocked"]
    assert not key_view(second, 0)["blocked"]

    fresh_redis.start()

    rested = eventually(lambda: key_view(second, 0), lambda view: view["blocked"])
    assert rested["blocked_until"] == key_view(first, 0)["blocked_until"]
