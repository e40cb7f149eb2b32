"""A key rests at most CORTEX_MAX_KEY_REST, whatever Retry-After its upstream sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from admin_harness import chat
from daemon_harness import PRIMARY_KEYS

from cortex.simulated import Fault

A_YEAR = 31_536_000.0


def test_a_retry_after_of_a_year_rests_the_key_for_the_longest_rest_only(cortex_daemon, primary):
    primary.set_fault(Fault.RATE_LIMIT, key=PRIMARY_KEYS[0], times=1, retry_after=A_YEAR)
    providers = {
        "primary": {
            "type": "openai",
            "base_url": primary.base_url,
            "api_keys": list(PRIMARY_KEYS),
            "models": ["gpt-4o-mini"],
        }
    }
    daemon = cortex_daemon(
        {
            "CORTEX_PROVIDERS": json.dumps(providers),
            "CORTEX_MAX_KEY_REST": "120",
            "RATE_LIMIT_BLOCK_MINUTES": "1",
            "QUOTA_BLOCK_MINUTES": "2",
        }
    )

    asked_at = datetime.now(UTC)
    answer = chat(daemon)

    keys = daemon.get("/api/stats").json()["workers"]["primary"]["keys"]
    (rested,) = [k for k in keys if k["blocked"]]
    until = datetime.fromisoformat(rested["blocked_until"])
    assert answer.status_code == 200
    assert rested["block_reason"] == "rate_limited"
    assert asked_at + timedelta(seconds=100) < until <= datetime.now(UTC) + timedelta(seconds=120)
