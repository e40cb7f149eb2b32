"""A gateway key's limits, budgets and revocation across two daemons sharing one redis-server.

Each daemon has a database file of its own (as on two machines) unless a test says the
file is shared (as for a fleet on one machine).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
import requests
from admin_harness import wait_until
from daemon_harness import CortexProcess
from fleet_harness import BUDGET_MS, eventually
from tenant_harness import (
    ADMIN,
    assert_token_limit_held,
    chat,
    chats_served,
    create_key,
    priced_env,
)

from cortex.simulated import SimulatedOpenAI


def two_daemons(
    cortex_daemon: Any,
    server: Any,
    prefix: str,
    primary: SimulatedOpenAI,
    db: str | None = None,
) -> tuple[CortexProcess, CortexProcess]:
    """Two daemons of one fleet; one database file for both when ``db`` is given."""
    env = {
        **priced_env(primary, db),
        "CORTEX_REDIS_URL": server.url,
        "CORTEX_REDIS_PREFIX": prefix,
        "CORTEX_REDIS_BUDGET_MS": BUDGET_MS,
    }
    return cortex_daemon(env), cortex_daemon(env)


def guarded(daemon: CortexProcess) -> bool:
    """Whether ``daemon`` refuses a request without a known key: it has read a record.

    Until then the gateway is open, and the probe is served like any request.
    """
    return chat(daemon, "ck-not-a-key").status_code == 401


def create_everywhere(a: CortexProcess, b: CortexProcess, **fields: Any) -> dict[str, Any]:
    """The first key of the fleet, created through ``a``, once ``b`` enforces it too."""
    created = create_key(a, **fields)
    eventually(lambda: guarded(b), bool)
    return created


@pytest.mark.parametrize("database", ["one per daemon", "one shared file"])
def test_the_sixth_request_spread_over_two_daemons_is_refused_with_retry_after(
    cortex_daemon, redis_server, redis_prefix, primary, tmp_path, database
):
    db = str(tmp_path / "shared.db") if database == "one shared file" else None
    a, b = two_daemons(cortex_daemon, redis_server, redis_prefix, primary, db)
    key = create_everywhere(a, b, rpm=5)["key"]
    before = chats_served(primary)

    answers = [chat(a if n % 2 else b, key, words=f"question {n}") for n in range(6)]
    sixth = answers[-1]

    assert [r.status_code for r in answers] == [200] * 5 + [429]
    assert sixth.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(sixth.headers["Retry-After"]) <= 60
    assert sixth.headers["x-ratelimit-remaining-requests"] == "0"
    assert answers[4].headers["x-ratelimit-remaining-requests"] == "0"
    assert chats_served(primary) - before == 5


def test_a_token_limit_holds_under_fifty_concurrent_requests_over_two_daemons(
    cortex_daemon, redis_server, redis_prefix, primary
):
    a, b = two_daemons(cortex_daemon, redis_server, redis_prefix, primary)
    tpm = 600
    key = create_everywhere(a, b, tpm=tpm)["key"]

    def one(n: int) -> requests.Response:
        return chat(a if n % 2 else b, key, words=f"tell me about number {n}", max_tokens=40)

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(one, range(50)))

    assert len(answers) == 50
    assert_token_limit_held(answers, tpm)


def test_a_budget_spent_through_one_daemon_stops_the_key_on_the_other(
    cortex_daemon, redis_server, redis_prefix, primary
):
    a, b = two_daemons(cortex_daemon, redis_server, redis_prefix, primary)
    # 2 per million tokens: one answer (a few dozen tokens) spends the whole budget.
    created = create_everywhere(a, b, budget_daily=0.00001)
    spend = f"{redis_prefix}:tenants:spend:{created['id']}:{datetime.now(UTC):%Y-%m-%d}"
    before = chats_served(primary)

    first = chat(a, created["key"])
    with redis.Redis.from_url(redis_server.url) as client:
        wait_until(lambda: float(client.get(spend) or 0) > 0)
    elsewhere = chat(b, created["key"])

    assert first.status_code == 200
    assert elsewhere.status_code == 429
    assert elsewhere.json()["error"]["code"] == "budget_exceeded"
    assert chats_served(primary) - before == 1


def test_a_key_revoked_through_one_daemon_is_refused_by_the_other_within_a_second(
    cortex_daemon, redis_server, redis_prefix, primary
):
    a, b = two_daemons(cortex_daemon, redis_server, redis_prefix, primary)
    created = create_everywhere(a, b)
    assert chat(b, created["key"]).status_code == 200

    revoked = requests.delete(
        f"{a.url}/admin/gateway-keys/{created['id']}", headers=ADMIN, timeout=10
    )
    revoked_at = time.monotonic()
    wait_until(lambda: chat(b, created["key"]).status_code == 401, timeout=5.0)
    elsewhere = time.monotonic() - revoked_at

    assert revoked.status_code == 200
    assert elsewhere < 1.0
    listed = b.get(f"/admin/gateway-keys/{created['id']}", headers=ADMIN).json()
    assert listed["status"] == "revoked"


def test_a_key_rotated_through_one_daemon_takes_its_new_secret_on_the_other(
    cortex_daemon, redis_server, redis_prefix, primary
):
    a, b = two_daemons(cortex_daemon, redis_server, redis_prefix, primary)
    created = create_everywhere(a, b)

    rotated = a.post(f"/admin/gateway-keys/{created['id']}/rotate", headers=ADMIN).json()
    eventually(lambda: chat(b, rotated["key"]).status_code, lambda status: status == 200)

    assert chat(b, created["key"]).status_code == 401


def test_with_redis_killed_limited_keys_are_served_under_local_limits_and_never_a_5xx(
    cortex_daemon, fresh_redis, redis_prefix, primary
):
    a, b = two_daemons(cortex_daemon, fresh_redis, redis_prefix, primary)
    key = create_everywhere(a, b, rpm=3)["key"]

    fresh_redis.kill()
    on_a = [chat(a, key, words=f"a {n}").status_code for n in range(4)]
    on_b = [chat(b, key, words=f"b {n}").status_code for n in range(4)]

    # Limits are per daemon while Redis is away: each serves the key's three.
    assert on_a == [200, 200, 200, 429]
    assert on_b == [200, 200, 200, 429]
    eventually(a.logs, lambda text: "shared_state_unavailable" in text)
