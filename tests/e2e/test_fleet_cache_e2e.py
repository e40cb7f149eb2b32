"""Daemons sharing one real redis-server share one response cache.

Each test asks its own question and uses its own key prefix; the simulated upstream counts
what reached it, so "no upstream request" is observed, not assumed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from cache_harness import chat_requests, messages, openai_client
from daemon_harness import CortexProcess, providers_json
from fleet_harness import eventually, fleet_env

ADMIN = "fleet-cache-admin-token"


@pytest.fixture
def prompt(request) -> str:
    """A question of this test's own."""
    return f"What is the capital of France? ({request.node.name})"


def status(daemon: CortexProcess, prompt: str, *, stream: bool = False) -> str:
    """Ask ``prompt`` (cacheable) through the official SDK; the cache status it reports."""
    with openai_client(daemon) as sdk:
        raw = sdk.chat.completions.with_raw_response.create(
            model="auto", messages=messages(prompt), temperature=0, stream=stream
        )
        parsed: Any = raw.parse()
        if stream:
            text = "".join(c.choices[0].delta.content or "" for c in parsed if c.choices)
        else:
            text = parsed.choices[0].message.content
        assert "capital of France" in text
        return str(raw.headers["x-cortex-cache"])


def cache_figures(daemon: CortexProcess) -> dict[str, Any]:
    return dict(daemon.get("/api/stats").json()["cache"])


def metric(daemon: CortexProcess, name: str) -> float:
    for line in daemon.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not exported")


def stored_answers(url: str, prefix: str) -> list[bytes]:
    client = redis.Redis.from_url(url)
    try:
        return list(client.scan_iter(f"{prefix}:cache:a:*"))
    finally:
        client.close()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_an_answer_cached_through_one_instance_is_a_hit_on_another(
    cortex_daemon, primary, redis_server, redis_prefix, prompt, stream
):
    env = fleet_env(redis_server.url, redis_prefix, primary)
    first, second, third = (cortex_daemon(env) for _ in range(3))

    assert status(first, prompt, stream=stream) == "miss"
    assert status(second, prompt, stream=stream) == "hit"
    assert status(third, prompt, stream=not stream) == "hit"
    assert len(chat_requests(primary, prompt)) == 1
    assert len(stored_answers(redis_server.url, redis_prefix)) == 1


def test_stats_and_metrics_of_every_instance_show_the_fleets_hits(
    cortex_daemon, primary, redis_server, redis_prefix, prompt
):
    env = fleet_env(redis_server.url, redis_prefix, primary)
    first, second = cortex_daemon(env), cortex_daemon(env)

    assert [status(first, prompt), status(second, prompt), status(first, prompt)] == [
        "miss",
        "hit",
        "hit",
    ]

    for daemon in (first, second):
        figures = eventually(lambda d=daemon: cache_figures(d), lambda f: f["hits"] == 2)
        assert figures["misses"] == 1
        assert figures["entries"] == 1
        assert figures["bytes"] > 0
        assert figures["scope"] == "fleet"
        eventually(lambda d=daemon: metric(d, "cortex_cache_hits_total"), lambda v: v == 2)


def test_an_answer_expires_from_the_fleets_cache_after_the_ttl(
    cortex_daemon, primary, redis_server, redis_prefix, prompt
):
    env = fleet_env(redis_server.url, redis_prefix, primary, CORTEX_CACHE_TTL="1")
    first, second = cortex_daemon(env), cortex_daemon(env)
    assert status(first, prompt) == "miss"
    assert status(second, prompt) == "hit"

    eventually(lambda: stored_answers(redis_server.url, redis_prefix), lambda keys: not keys)

    assert status(second, prompt) == "miss"
    assert len(chat_requests(primary, prompt)) == 2
    eventually(lambda: cache_figures(first), lambda f: f["expirations"] >= 1)


def test_the_entry_bound_holds_for_the_whole_fleet(
    cortex_daemon, primary, redis_server, redis_prefix, prompt
):
    env = fleet_env(redis_server.url, redis_prefix, primary, CORTEX_CACHE_MAX_ENTRIES="2")
    first, second = cortex_daemon(env), cortex_daemon(env)

    assert status(first, prompt + " one") == "miss"
    assert status(second, prompt + " two") == "miss"
    assert status(first, prompt + " three") == "miss"

    for daemon in (first, second):
        figures = eventually(lambda d=daemon: cache_figures(d), lambda f: f["evictions"] == 1)
        assert figures["entries"] == 2
    assert status(second, prompt + " three") == "hit"
    assert status(second, prompt + " two") == "hit"
    assert status(second, prompt + " one") == "miss"  # the oldest stored was evicted


def test_the_byte_bound_holds_for_the_whole_fleet(
    cortex_daemon, primary, redis_server, redis_prefix, prompt
):
    # An entry (answer, key and names) is about 140 bytes: room for one, not for two.
    env = fleet_env(redis_server.url, redis_prefix, primary, CORTEX_CACHE_MAX_BYTES="200")
    first, second = cortex_daemon(env), cortex_daemon(env)

    assert status(first, prompt + " one") == "miss"
    assert status(second, prompt + " two") == "miss"

    figures = eventually(lambda: cache_figures(first), lambda f: f["evictions"] == 1)
    assert figures["entries"] == 1
    assert 0 < figures["bytes"] <= 200
    assert status(first, prompt + " two") == "hit"


def test_a_clear_through_one_instance_makes_every_other_miss(
    cortex_daemon, primary, redis_server, redis_prefix, prompt
):
    env = fleet_env(redis_server.url, redis_prefix, primary, CORTEX_ADMIN_TOKEN=ADMIN)
    first, second = cortex_daemon(env), cortex_daemon(env)
    assert status(first, prompt) == "miss"
    assert status(second, prompt) == "hit"

    cleared = first.post("/admin/cache/clear", headers={"Authorization": f"Bearer {ADMIN}"})

    assert cleared.status_code == 200
    assert cleared.json()["cleared"] == 1
    assert status(second, prompt) == "miss"
    assert len(chat_requests(primary, prompt)) == 2
    assert cache_figures(second)["hits"] == 1  # counters stay


def test_with_redis_killed_requests_are_still_served_and_the_fleet_cache_returns(
    cortex_daemon, primary, fresh_redis, redis_prefix, prompt
):
    env = fleet_env(fresh_redis.url, redis_prefix, primary)
    first, second = cortex_daemon(env), cortex_daemon(env)
    assert status(first, prompt) == "miss"

    fresh_redis.kill()
    answered = [
        status(daemon, prompt, stream=n % 2 == 1) for n in range(6) for daemon in (first, second)
    ]

    # Each instance serves from its own stand-in meanwhile: at most one miss apiece.
    assert set(answered) <= {"hit", "miss"}
    assert answered.count("miss") <= 2
    assert first.get("/api/stats").status_code == 200

    fresh_redis.start()
    for daemon in (first, second):
        eventually(
            lambda d=daemon: d.get("/api/fleet").json()["shared_state"]["available"],
            lambda up: up is True,
        )
    again = prompt + " again"
    assert status(first, again) == "miss"
    assert status(second, again) == "hit"
    assert status(second, prompt) == "miss"  # the stand-in was dropped; Redis came back empty
    # Redis restarted empty: its counts are the twelve lookups of the outage, which each
    # instance added once it was back, and the three since.
    figures = eventually(lambda: cache_figures(first), lambda f: f["hits"] + f["misses"] == 15)
    assert figures["hits"] == answered.count("hit") + 1


def test_embeddings_cached_through_one_instance_are_a_hit_on_another(
    cortex_daemon, primary, redis_server, redis_prefix, prompt
):
    providers = json.loads(providers_json(primary))
    providers["primary"]["embedding_models"] = ["text-embedding-3-small"]
    env = fleet_env(redis_server.url, redis_prefix, primary, CORTEX_PROVIDERS=json.dumps(providers))
    first, second = cortex_daemon(env), cortex_daemon(env)
    body = {"model": "text-embedding-3-small", "input": [prompt, "a second text"]}

    miss, hit = (daemon.post("/v1/embeddings", json=body) for daemon in (first, second))

    assert (miss.status_code, hit.status_code) == (200, 200)
    assert (miss.headers["X-Cortex-Cache"], hit.headers["X-Cortex-Cache"]) == ("miss", "hit")
    assert [e["embedding"] for e in hit.json()["data"]] == [
        e["embedding"] for e in miss.json()["data"]
    ]
    embedded = [r for r in primary.requests if r.path.endswith("/embeddings")]
    assert len(embedded) == 1
