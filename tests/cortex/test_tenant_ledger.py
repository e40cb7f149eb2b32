"""The spend ledger's writer and report: batches written, overflow counted, totals folded."""

from __future__ import annotations

from cortex.tenants.ledger import Ledger, SpendRow
from cortex.tenants.spend import report, spent_so_far
from cortex.tenants.store import KeyStore

DAY = 86400.0


def row(n: int, *, key: str = "gk_a", at: float = 10 * DAY, model: str = "m") -> SpendRow:
    return SpendRow(at, key, f"r{n}", "w", model, 10, 5, 0.5, "completed")


def opened(tmp_path) -> KeyStore:
    store = KeyStore(tmp_path / "c.db")
    store.open()
    return store


def test_rows_queued_before_close_are_all_written(tmp_path):
    store = opened(tmp_path)
    ledger = Ledger(store.path)
    ledger.start()

    for n in range(1200):
        ledger.append(row(n))
    ledger.close()

    with store.connection() as conn:
        assert conn.execute("SELECT COUNT(*) FROM spend").fetchone()[0] == 1200
    assert ledger.written == 1200
    assert ledger.overflow == 0


def test_a_full_queue_counts_each_row_it_could_not_take(tmp_path):
    ledger = Ledger(opened(tmp_path).path, capacity=3)

    taken = [ledger.append(row(n)) for n in range(5)]

    assert taken == [True, True, True, False, False]
    assert ledger.overflow == 2
    assert ledger.queued == 3


def test_the_report_folds_rows_by_key_model_worker_and_day(tmp_path):
    store = opened(tmp_path)
    ledger = Ledger(store.path)
    ledger.start()
    for n, (key, at, model) in enumerate(
        [("gk_a", 10 * DAY, "m"), ("gk_a", 11 * DAY, "n"), ("gk_b", 11 * DAY, "m")]
    ):
        ledger.append(row(n, key=key, at=at, model=model))
    ledger.close()

    with store.connection() as conn:
        everything = report(conn)
        later = report(conn, since="1970-01-12")
        daily, monthly = spent_so_far(conn, 11 * DAY + 5)

    a = everything["by_key"]["gk_a"]
    assert (a["requests"], a["tokens_in"], a["tokens_out"], a["cost"]) == (2, 20, 10, 1.0)
    assert set(a["by_model"]) == {"m", "n"}
    assert set(a["by_day"]) == {"1970-01-11", "1970-01-12"}
    assert later["by_key"]["gk_a"]["requests"] == 1
    assert daily == {"gk_a": 0.5, "gk_b": 0.5}
    assert monthly == {"gk_a": 1.0, "gk_b": 0.5}
