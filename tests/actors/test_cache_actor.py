"""The cache actor under a supervisor: stores, counts, clears, purges, survives a crash."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from actors.cache import CacheActor, ClearCache, StoreAnswer, purge_interval
from actors.response_store import CacheLimits, ResponseStore
from cortex.chat import Usage, WholeAnswer
from supervisors import ChildSpec, Directory, Handle, RootLink, SupFlags, start_supervisor

WAIT = 5.0
ANSWER = WholeAnswer("primary", "gpt-4o-mini", ("Hel", "lo"), "stop", Usage(4, 2))


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> ResponseStore:
    return ResponseStore(CacheLimits(ttl=30.0, max_entries=10, max_bytes=10_000), clock=clock)


@pytest.fixture
def directory(store: ResponseStore[WholeAnswer]) -> Iterator[Directory]:
    directory, root = Directory(), RootLink("root")
    spec = ChildSpec("cache", lambda link: CacheActor.start(link, store, sweep_interval=0.02))
    ref = start_supervisor("root", SupFlags(intensity=3), [spec], root, directory)
    yield directory
    root.stop(ref, timeout=WAIT)


@pytest.fixture
def cache(directory: Directory) -> Handle:
    return Handle(directory, "cache")


def wait_until(predicate, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def test_a_stored_answer_is_readable_from_the_store(
    cache: Handle, store: ResponseStore[WholeAnswer]
):
    assert cache.ask(StoreAnswer("k", ANSWER), timeout=WAIT) is True
    assert store.get("k") == ANSWER


def test_an_answer_without_text_is_not_stored(cache: Handle, store: ResponseStore[WholeAnswer]):
    empty = WholeAnswer("primary", "m", (), "stop")
    assert cache.ask(StoreAnswer("k", empty), timeout=WAIT) is False
    assert store.get("k") is None


def test_an_answer_too_large_for_the_cache_is_refused_and_logged(
    cache: Handle, store: ResponseStore[WholeAnswer]
):
    huge = WholeAnswer("primary", "m", ("x" * 20_000,), "stop")
    with capture_logs() as logs:
        assert cache.ask(StoreAnswer("k", huge), timeout=WAIT) is False
    assert [e["event"] for e in logs] == ["cache_entry_too_large"]


def test_clear_cache_replies_how_many_entries_it_dropped(
    cache: Handle, store: ResponseStore[WholeAnswer]
):
    cache.ask(StoreAnswer("a", ANSWER), timeout=WAIT)
    cache.ask(StoreAnswer("b", ANSWER), timeout=WAIT)
    with capture_logs() as logs:
        assert cache.ask(ClearCache(), timeout=WAIT) == 2
    assert store.stats().entries == 0
    assert {"event": "cache_cleared", "entries": 2, "log_level": "info"} in logs


def test_the_timer_purges_expired_entries(
    cache: Handle, store: ResponseStore[WholeAnswer], clock: FakeClock
):
    cache.ask(StoreAnswer("k", ANSWER), timeout=WAIT)
    clock.now += 31.0
    wait_until(lambda: store.stats().expirations == 1)
    assert store.stats().entries == 0


def test_entries_and_counters_survive_a_crash_of_the_actor(
    cache: Handle, store: ResponseStore[WholeAnswer], directory: Directory
):
    cache.ask(StoreAnswer("k", ANSWER), timeout=WAIT)
    store.record_lookup("k", hit=True)
    crashed = cache.ref().actor_urn
    cache.ref().proxy().crash(RuntimeError("drill")).get(timeout=WAIT)
    wait_until(lambda: (r := directory.lookup("cache")) is not None and r.actor_urn != crashed)
    assert cache.ask(StoreAnswer("k2", ANSWER), timeout=WAIT) is True
    stats = store.stats()
    assert (stats.entries, stats.hits) == (2, 1)
    assert store.get("k") == ANSWER


@pytest.mark.parametrize(("ttl", "interval"), [(1.0, 0.5), (30.0, 15.0), (3600.0, 60.0)])
def test_the_purge_runs_at_half_the_ttl_at_most_once_a_minute(ttl, interval):
    assert purge_interval(ttl) == interval
