"""The response cache's bounds, key and survival through a real daemon, with the openai SDK.

One daemon serves most of the module: at most three entries and 4,000 bytes, coalescing
off, two model routes to the same target, and fault drills on, so the cache actor can be
crashed. Every test asks its own questions; the bound tests only assert what holds
whatever earlier tests left in the cache.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import openai
import pytest
from admin_harness import ADMIN, ADMIN_TOKEN, node, restarted, wait_until
from cache_harness import (
    WAIT,
    cache_stats,
    chat_requests,
    messages,
    openai_client,
    settled,
    start_daemon,
)
from daemon_harness import PRIMARY_KEYS, CortexProcess

from cortex.simulated import SimulatedOpenAI

MAX_ENTRIES = 3
MAX_BYTES = 4000
ROUTES = {"fast": ["primary/gpt-4o-mini"], "quick": ["primary/gpt-4o-mini"]}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


@pytest.fixture(scope="module")
def upstream() -> Iterator[SimulatedOpenAI]:
    with SimulatedOpenAI("primary", keys=PRIMARY_KEYS, chunk_delay=0.0) as server:
        yield server


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, upstream) -> Iterator[CortexProcess]:
    process = start_daemon(
        tmp_path_factory,
        upstream,
        CORTEX_CACHE_MAX_ENTRIES=str(MAX_ENTRIES),
        CORTEX_CACHE_MAX_BYTES=str(MAX_BYTES),
        CORTEX_CACHE_COALESCE="0",
        CORTEX_ROUTES=json.dumps(ROUTES),
        CORTEX_ADMIN_TOKEN=ADMIN_TOKEN,
        CORTEX_FAULT_DRILLS="1",
    )
    yield process
    process.stop()


@pytest.fixture
def sdk(daemon) -> Iterator[openai.OpenAI]:
    with openai_client(daemon) as client:
        yield client


@pytest.fixture
def prompt(request) -> str:
    """A question of this test's own, so no other test's answer is in the cache."""
    return f"Name a prime number. ({request.node.name})"


def status(sdk: openai.OpenAI, prompt: str, *, model: str = "auto", **extra: object) -> str:
    """Ask ``prompt`` at temperature 0 and return the ``X-Cortex-Cache`` header."""
    raw = sdk.chat.completions.with_raw_response.create(
        model=model, messages=messages(prompt), temperature=0, **extra
    )
    raw.parse()
    return raw.headers["x-cortex-cache"]


def streamed_status(sdk: openai.OpenAI, prompt: str) -> str:
    """Ask ``prompt`` as a stream, read it whole and return the ``X-Cortex-Cache`` header."""
    raw = sdk.chat.completions.with_raw_response.create(
        model="auto", messages=messages(prompt), temperature=0, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    return raw.headers["x-cortex-cache"]


def test_the_least_recently_used_answer_is_evicted_past_the_entry_bound(sdk, daemon, prompt):
    before = settled(daemon)
    questions = [f"{prompt} #{n}" for n in range(MAX_ENTRIES + 1)]
    assert [status(sdk, q) for q in questions] == ["miss"] * len(questions)

    stats = settled(daemon)
    assert stats["entries"] == MAX_ENTRIES
    assert stats["evictions"] > before["evictions"]
    assert status(sdk, questions[-1]) == "hit"
    assert status(sdk, questions[0]) == "miss"


@pytest.fixture
def long_reply(upstream) -> Iterator[str]:
    """A reply of about 1,500 bytes, so two fit under the byte bound and three do not."""
    upstream.reply = " ".join(["abcdefghijklmnopqrstuvwxy"] * 60)
    yield upstream.reply
    upstream.reply = None


def test_answers_are_evicted_until_the_bytes_fit(sdk, daemon, long_reply, prompt):
    questions = [f"{prompt} #{n}" for n in range(3)]
    assert [streamed_status(sdk, q) for q in questions] == ["miss"] * 3

    stats = settled(daemon)
    assert stats["entries"] == 2  # under the count bound: the bytes decided
    assert len(long_reply) * 2 < stats["bytes"] <= MAX_BYTES
    assert [streamed_status(sdk, q) for q in questions[1:]] == ["hit", "hit"]
    assert streamed_status(sdk, questions[0]) == "miss"


def test_tools_and_the_response_format_are_part_of_the_key(sdk, upstream, prompt):
    plain = status(sdk, prompt)
    with_tools = [status(sdk, prompt, tools=TOOLS) for _ in range(2)]
    as_json = status(sdk, prompt, response_format={"type": "json_object"})

    assert (plain, with_tools, as_json) == ("miss", ["miss", "hit"], "miss")
    assert len(chat_requests(upstream, prompt)) == 3


def test_routes_to_the_same_target_share_answers(sdk, upstream, prompt):
    assert (status(sdk, prompt, model="fast"), status(sdk, prompt, model="quick")) == (
        "miss",
        "hit",
    )
    assert len(chat_requests(upstream, prompt)) == 1


def test_entries_and_counters_survive_a_crash_of_the_cache_actor(sdk, daemon, upstream, prompt):
    base = settled(daemon)
    assert status(sdk, prompt) == "miss"
    before = cache_stats(
        daemon, until=lambda s: s["misses"] == base["misses"] + 1 and s["in_flight"] == 0
    )
    old = node(daemon, "cache")["incarnation"]

    drill = daemon.post("/admin/actors/cache/crash", headers=ADMIN)
    assert drill.status_code == 202, drill.text
    wait_until(lambda: restarted(daemon, "cache", old), timeout=WAIT)

    assert status(sdk, prompt) == "hit"
    after = cache_stats(daemon, until=lambda s: s["hits"] > before["hits"])
    assert after["hits"] == before["hits"] + 1
    assert after["misses"] == before["misses"]
    assert after["entries"] == before["entries"]
    assert len(chat_requests(upstream, prompt)) == 1
    assert node(daemon, "cache")["restarts"] >= 1


@pytest.fixture
def slow_reply(upstream) -> Iterator[None]:
    """A reply that takes about a second, so a second request surely overlaps the first."""
    upstream.reply, upstream.chunk_delay = " ".join(f"word{i}" for i in range(50)), 0.02
    yield
    upstream.reply, upstream.chunk_delay = None, 0.0


def test_with_coalescing_off_identical_requests_in_flight_each_go_upstream(
    sdk, upstream, slow_reply, prompt
):
    statuses: list[str] = []
    first = threading.Thread(target=lambda: statuses.append(status(sdk, prompt)))
    first.start()
    deadline = time.monotonic() + WAIT
    while not chat_requests(upstream, prompt):
        assert time.monotonic() < deadline, "the first request never reached the upstream"
        time.sleep(0.005)
    statuses.append(status(sdk, prompt))
    first.join(WAIT)

    assert statuses == ["miss", "miss"]
    assert len(chat_requests(upstream, prompt)) == 2


def test_an_answer_expires_after_the_configured_ttl(tmp_path_factory, upstream):
    prompt = "Name an even prime."
    ttl_daemon = start_daemon(tmp_path_factory, upstream, CORTEX_CACHE_TTL="1.5")
    try:
        with openai_client(ttl_daemon) as client:
            fresh = [status(client, prompt), status(client, prompt)]
            wait_until(lambda: status(client, prompt) == "miss", timeout=WAIT, interval=0.1)
    finally:
        ttl_daemon.stop()
    assert fresh == ["miss", "hit"]


def _config(path, primary: SimulatedOpenAI, second: SimulatedOpenAI, smart: str) -> None:
    workers = "\n".join(
        f'[providers.{server.name}]\ntype = "openai"\nbase_url = "{server.base_url}"\n'
        f'api_keys = {json.dumps(list(PRIMARY_KEYS))}\nmodels = ["gpt-4o-mini"]\n'
        for server in (primary, second)
    )
    path.write_text(f'{workers}\n[routes]\nsmart = ["{smart}/gpt-4o-mini"]\n')


def test_a_route_pointed_elsewhere_by_a_reload_never_replays_the_old_answer(
    cortex_daemon, tmp_path, primary
):
    config = tmp_path / "cortex.toml"
    with SimulatedOpenAI("second", keys=PRIMARY_KEYS, chunk_delay=0.0) as second:
        _config(config, primary, second, smart="primary")
        routed = cortex_daemon({"CORTEX_ADMIN_TOKEN": ADMIN_TOKEN}, "--config", str(config))
        with openai_client(routed) as client:

            def ask() -> tuple[str, str, str]:
                raw = client.chat.completions.with_raw_response.create(
                    model="smart", messages=messages("Who are you?"), temperature=0
                )
                text = raw.parse().choices[0].message.content or ""
                return raw.headers["x-cortex-cache"], raw.headers["x-cortex-worker"], text

            before = [ask(), ask()]
            _config(config, primary, second, smart="second")
            reload = routed.post("/admin/reload", headers=ADMIN)
            after = ask()

    assert reload.status_code == 200, reload.text
    assert [(status, worker) for status, worker, _ in before] == [
        ("miss", "primary"),
        ("hit", "primary"),
    ]
    assert after[:2] == ("miss", "second")
    assert "second" in after[2]


def metric(daemon: CortexProcess, name: str) -> float:
    """One unlabelled sample of ``GET /metrics``."""
    for line in daemon.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not exported")


def test_the_cache_counters_and_size_are_exported_to_prometheus(sdk, daemon, prompt):
    hits, misses = "cortex_cache_hits_total", "cortex_cache_misses_total"
    before = {name: metric(daemon, name) for name in (hits, misses)}
    assert [status(sdk, prompt), status(sdk, prompt)] == ["miss", "hit"]

    wait_until(lambda: metric(daemon, hits) == before[hits] + 1)
    assert metric(daemon, misses) == before[misses] + 1
    stats = settled(daemon)
    assert metric(daemon, "cortex_cache_entries") == stats["entries"] > 0
    assert metric(daemon, "cortex_cache_bytes") == stats["bytes"] > 0
    assert metric(daemon, "cortex_cache_evictions_total") == stats["evictions"]
    assert metric(daemon, "cortex_cache_hit_ratio") == pytest.approx(stats["hit_ratio"], abs=1e-3)
