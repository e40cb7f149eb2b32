"""A gateway key's limits and budgets through the real daemon: rpm, tpm, budgets, revocation."""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from admin_harness import wait_until
from daemon_harness import CortexProcess
from tenant_harness import (
    ADMIN,
    assert_token_limit_held,
    chat,
    chats_served,
    create_key,
    priced_env,
)

from cortex.simulated import SimulatedOpenAI


def test_the_sixth_request_in_a_minute_is_refused_with_retry_after(cortex_daemon, primary):
    cortex = cortex_daemon(priced_env(primary))
    key = create_key(cortex, rpm=5)["key"]

    answers = [chat(cortex, key, words=f"question {n}") for n in range(6)]
    sixth = answers[-1]

    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert sixth.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(sixth.headers["Retry-After"]) <= 60
    assert sixth.headers["x-ratelimit-limit-requests"] == "5"
    assert sixth.headers["x-ratelimit-remaining-requests"] == "0"
    assert answers[0].headers["x-ratelimit-remaining-requests"] == "4"
    assert chats_served(primary) == 5


def test_a_token_limit_holds_under_fifty_concurrent_requests(cortex_daemon, primary):
    cortex = cortex_daemon(priced_env(primary))
    tpm = 600
    key = create_key(cortex, tpm=tpm)["key"]

    def one(n: int):
        return chat(cortex, key, words=f"tell me about number {n}", max_tokens=40)

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(one, range(50)))

    assert len(answers) == 50
    assert_token_limit_held(answers, tpm)


def shift_ledger_back_a_day(db: Path) -> None:
    """What the calendar does overnight: every spend row becomes yesterday's."""
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE spend SET at = at - 86400, day = date(day, '-1 day')")
    conn.close()


def test_a_budget_stops_a_key_and_the_next_days_window_restores_it(
    cortex_daemon, primary, tmp_path
):
    db = tmp_path / "shared.db"
    cortex = cortex_daemon(priced_env(primary, str(db)))
    # 2 per million tokens: the first answer (a few dozen tokens) spends the whole budget.
    key = create_key(cortex, budget_daily=0.00001)["key"]

    first = chat(cortex, key)
    second = chat(cortex, key)
    wait_until(lambda: cortex.get("/api/spend").json()["ledger"]["written"] >= 1)
    cortex.stop()
    shift_ledger_back_a_day(db)
    restarted = cortex_daemon(priced_env(primary, str(db)))
    next_day = chat(restarted, key)

    assert first.status_code == 200
    assert second.status_code == 429
    assert second.json()["error"]["code"] == "budget_exceeded"
    assert int(second.headers["Retry-After"]) <= 86400
    assert next_day.status_code == 200, next_day.text


def test_the_spent_budget_survives_a_restart(cortex_daemon, primary, tmp_path):
    db = str(tmp_path / "shared.db")
    cortex = cortex_daemon(priced_env(primary, db))
    created = create_key(cortex, budget_monthly=0.00001)
    assert chat(cortex, created["key"]).status_code == 200
    wait_until(lambda: cortex.get("/api/spend").json()["ledger"]["written"] >= 1)
    cortex.stop()

    restarted = cortex_daemon(priced_env(primary, db))
    listed = restarted.get("/admin/gateway-keys", headers=ADMIN).json()["data"]
    after = chat(restarted, created["key"])

    assert [k["id"] for k in listed] == [created["id"]]
    assert after.status_code == 429
    assert after.json()["error"]["code"] == "budget_exceeded"


def revoke(cortex: CortexProcess, key_id: str) -> None:
    response = requests.delete(
        f"{cortex.url}/admin/gateway-keys/{key_id}", headers=ADMIN, timeout=10
    )
    assert response.status_code == 200


def test_a_revoked_key_is_refused_at_once_here_and_within_a_second_by_another_daemon(
    cortex_daemon, primary: SimulatedOpenAI, tmp_path
):
    db = str(tmp_path / "shared.db")
    here = cortex_daemon(priced_env(primary, db))
    there = cortex_daemon(priced_env(primary, db))
    created = create_key(here)
    wait_until(lambda: chat(there, created["key"]).status_code == 200)

    revoke(here, created["id"])
    revoked_at = time.monotonic()
    at_once = chat(here, created["key"])
    wait_until(lambda: chat(there, created["key"]).status_code == 401, timeout=5.0)
    elsewhere = time.monotonic() - revoked_at

    assert at_once.status_code == 401
    assert elsewhere < 1.0
