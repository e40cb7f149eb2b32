"""The response store: TTL with an injected clock, LRU by count and by bytes, counters."""

from __future__ import annotations

import threading

import pytest

from actors.response_store import CacheLimits, CacheStats, ResponseStore, answer_size
from cortex.chat import ToolCall, Usage, WholeAnswer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def answer(text: str = "hello", worker: str = "w") -> WholeAnswer:
    return WholeAnswer(worker, "m", (text,), "stop", Usage(3, 1))


def store(clock: FakeClock | None = None, **limits: float) -> ResponseStore:
    return ResponseStore(CacheLimits(**limits), clock=clock or FakeClock())


def test_a_stored_answer_is_returned_whole():
    s = store()
    stored = WholeAnswer("w", "m", ("Hel", "lo"), "length", Usage(5, 2))
    assert s.put("k", stored)
    assert s.get("k") == stored
    assert s.get("k").text == "Hello"


def test_an_unknown_key_is_none():
    assert store().get("nope") is None


def test_an_entry_is_visible_until_its_ttl_passes():
    clock = FakeClock()
    s = store(clock, ttl=10.0)
    s.put("k", answer())
    clock.now += 9.99
    assert s.get("k") is not None
    clock.now += 0.01
    assert s.get("k") is None


def test_purging_drops_expired_entries_and_counts_them():
    clock = FakeClock()
    s = store(clock, ttl=10.0)
    s.put("old", answer())
    clock.now += 5
    s.put("young", answer())
    clock.now += 5
    assert s.purge_expired() == 1
    stats = s.stats()
    assert (stats.entries, stats.expirations) == (1, 1)
    assert s.get("young") is not None


def test_storing_again_restarts_an_entrys_ttl():
    clock = FakeClock()
    s = store(clock, ttl=10.0)
    s.put("k", answer("one"))
    clock.now += 8
    s.put("k", answer("two"))
    clock.now += 8
    assert s.get("k").text == "two"
    assert s.stats().entries == 1


def test_expired_entries_make_room_before_live_ones_are_evicted():
    clock = FakeClock()
    s = store(clock, ttl=10.0, max_entries=2)
    s.put("a", answer())
    clock.now += 6
    s.put("b", answer())
    clock.now += 6
    s.put("c", answer())
    assert s.get("b") is not None
    assert s.get("c") is not None
    assert s.stats().evictions == 0


def test_the_least_recently_stored_entry_is_evicted_past_the_entry_count():
    s = store(max_entries=2)
    s.put("a", answer())
    s.put("b", answer())
    s.put("c", answer())
    assert s.get("a") is None
    assert s.get("b") is not None
    assert s.get("c") is not None
    assert s.stats().evictions == 1


def test_a_recorded_hit_protects_an_entry_from_eviction():
    s = store(max_entries=2)
    s.put("a", answer())
    s.put("b", answer())
    s.record_lookup("a", hit=True)
    s.put("c", answer())
    assert s.get("a") is not None
    assert s.get("b") is None


def test_entries_are_evicted_until_the_bytes_fit():
    one = answer("x" * 100)
    size = answer_size("a", one)
    s = store(max_bytes=2 * size + 10)
    s.put("a", one)
    s.put("b", one)
    s.put("c", one)
    stats = s.stats()
    assert s.get("a") is None
    assert (stats.entries, stats.bytes, stats.evictions) == (2, 2 * size, 1)


def test_a_large_entry_evicts_as_many_small_ones_as_it_needs():
    small = answer("x" * 10)
    big = answer("y" * 100)
    s = store(max_bytes=answer_size("big", big) + answer_size("s1", small))
    for key in ("s1", "s2", "s3"):
        s.put(key, small)
    s.put("big", big)
    assert s.get("big") is not None
    assert s.get("s3") is not None
    assert s.stats().evictions == 2


def test_an_answer_larger_than_the_byte_bound_is_refused():
    s = store(max_bytes=50)
    assert not s.put("k", answer("z" * 100))
    assert s.stats() == CacheStats()


def test_sizes_count_utf8_bytes():
    assert answer_size("k", WholeAnswer("w", "m", ("é",), "stop")) == 1 + 1 + 1 + 2


def test_hits_and_misses_are_counted_with_their_ratio():
    s = store()
    s.record_lookup("k", hit=False)
    s.record_lookup("k", hit=True)
    s.record_lookup("k", hit=True)
    s.record_coalesced()
    stats = s.stats()
    assert (stats.hits, stats.misses, stats.coalesced) == (2, 1, 1)
    assert stats.hit_ratio == pytest.approx(2 / 3)


def test_the_hit_ratio_is_zero_before_any_lookup():
    assert CacheStats().hit_ratio == 0.0


def test_clearing_drops_entries_but_keeps_counters():
    s = store()
    s.put("a", answer())
    s.put("b", answer())
    s.record_lookup("a", hit=True)
    assert s.clear() == 2
    stats = s.stats()
    assert (stats.entries, stats.bytes, stats.hits) == (0, 0, 1)


@pytest.mark.parametrize("limits", [{"ttl": 0.0}, {"max_entries": 0}, {"max_bytes": 0}], ids=str)
def test_limits_must_be_positive(limits):
    with pytest.raises(ValueError, match="positive"):
        CacheLimits(**limits)


def test_concurrent_readers_and_a_writer_keep_the_byte_count_exact():
    s = ResponseStore(CacheLimits(max_entries=50))
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            for key in range(100):
                s.get(str(key))

    readers = [threading.Thread(target=read) for _ in range(4)]
    for thread in readers:
        thread.start()
    for key in range(2000):
        s.put(str(key % 100), answer("t" * (key % 7)))
    stop.set()
    for thread in readers:
        thread.join(5)
    stats = s.stats()
    assert stats.entries == 50
    assert stats.bytes == sum(
        answer_size(str(k), s.get(str(k))) for k in range(100) if s.get(str(k)) is not None
    )


def test_tool_calls_reasoning_and_alternatives_count_against_the_byte_bound() -> None:
    plain = WholeAnswer("w", "m", (), "tool_calls")
    called = WholeAnswer(
        "w",
        "m",
        (),
        "tool_calls",
        tool_calls=(ToolCall("id", "f", "x" * 100),),
        reasoning="r" * 10,
        alternatives=(WholeAnswer("w", "m", ("y" * 20,), "stop"),),
    )

    assert answer_size("k", called) - answer_size("k", plain) == 2 + 1 + 100 + 10 + 20
