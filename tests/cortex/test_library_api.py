"""The embedded library API: the same gateway, driven in-process without HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import pykka
import pytest

import cortex
from actors.workers import HealthStatus
from cortex.config.settings import load_settings
from cortex.errors import AllUpstreamsFailed, BadRequest, NotFound
from cortex.simulated import Fault, SimulatedOllama, SimulatedOpenAI
from cortex.simulated.embedding import vector
from supervisors import StartError

KEYS = ("sk-library-key-one-00001", "sk-library-key-two-00002")


@pytest.fixture(autouse=True)
def _stop_stray_actors():
    yield
    pykka.ActorRegistry.stop_all(timeout=10)


@pytest.fixture
def upstream():
    with SimulatedOpenAI("lib", keys=KEYS, chunk_delay=0.0) as server:
        yield server


@pytest.fixture
def gateway(upstream):
    settings = load_settings(
        environ={"OPENAI_API_KEYS": ",".join(KEYS), "OPENAI_BASE_URL": upstream.base_url}
    )
    with cortex.start(settings) as running:
        yield running


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_chat_yields_the_answer_in_pieces(gateway):
    pieces = list(gateway.chat([{"role": "user", "content": "Hello library"}]))

    assert len(pieces) > 1
    assert "Hello library" in "".join(pieces)


def test_achat_yields_the_answer_on_the_callers_own_loop(gateway):
    async def collect():
        return [piece async for piece in gateway.achat([{"role": "user", "content": "async hi"}])]

    assert "async hi" in "".join(asyncio.run(collect()))


def test_chat_fails_over_between_keys_like_the_daemon(gateway, upstream):
    upstream.set_fault(Fault.RATE_LIMIT, key=KEYS[0], retry_after=60)

    assert "again" in "".join(gateway.chat([{"role": "user", "content": "again"}]))
    assert [r.api_key for r in upstream.requests if r.path.endswith("/chat/completions")] == list(
        KEYS
    )


def test_chat_raises_when_the_answer_ends_before_its_end_signal(gateway, upstream):
    upstream.chunk_delay = 0.05  # the first token is delivered before the body ends
    upstream.set_fault(Fault.ENDS_EARLY)
    received: list[str] = []

    with pytest.raises(AllUpstreamsFailed) as caught:
        received.extend(gateway.chat([{"role": "user", "content": "cut short"}]))

    assert "".join(received) == "Hello from"
    [attempt] = caught.value.attempts
    assert (attempt.reason, attempt.worker) == ("upstream_error", "openai")
    assert "ended before the answer was complete" in attempt.message


def test_chat_rejects_invalid_messages_before_any_upstream_call(gateway, upstream):
    with pytest.raises(BadRequest):
        list(gateway.chat([{"role": "wizard", "content": "x"}]))
    assert not [r for r in upstream.requests if r.path.endswith("/chat/completions")]


def test_workers_can_be_added_and_removed_at_run_time(gateway):
    with SimulatedOllama("extra", chunk_delay=0.0) as extra:
        view = gateway.add_worker(
            "extra", {"type": "ollama", "base_url": extra.base_url, "models": ["llama3.1:8b"]}
        )
        assert view.name == "extra"
        wait_until(lambda: any(w.name == "extra" and w.last_check for w in gateway.list_workers()))

        answer = "".join(gateway.chat([{"role": "user", "content": "to extra"}], provider="extra"))
        assert "Hello from extra" in answer

        assert gateway.remove_worker("extra") is True
        assert [w.name for w in gateway.list_workers()] == ["openai"]
        with pytest.raises(NotFound):
            list(gateway.chat([{"role": "user", "content": "x"}], model="extra/llama3.1:8b"))


def test_a_worker_whose_actor_does_not_start_leaves_nothing_of_it_behind(gateway):
    gateway.control.fail_next_start("extra")

    with pytest.raises(StartError):
        gateway.add_worker(
            "extra", {"type": "openai", "base_url": "http://127.0.0.1:9", "api_keys": ["sk-x1"]}
        )

    assert gateway.tree.board.config("extra") is None
    assert "extra" not in gateway.tree.ledger.snapshot()
    assert gateway.tree.workers.lookup("extra") is None
    assert [w.name for w in gateway.list_workers()] == ["openai"]


def test_adding_a_worker_with_a_taken_name_is_refused(gateway):
    with pytest.raises(BadRequest):
        gateway.add_worker("openai", {"type": "openai", "api_keys": ["sk-another-key-000000001"]})


def test_health_status_counts_workers(gateway):
    wait_until(lambda: gateway.list_workers()[0].last_check is not None)

    health = gateway.health_status()

    assert health["total_workers"] == 1
    assert health["available_workers"] == 1
    assert health["system_health"] == "healthy"
    assert gateway.list_workers()[0].status is HealthStatus.AVAILABLE


def test_a_failed_start_raises_and_leaves_no_thread_of_its_own_running(upstream):
    before = set(threading.enumerate())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = load_settings(
            environ={
                "OPENAI_API_KEYS": ",".join(KEYS),
                "OPENAI_BASE_URL": upstream.base_url,
                "CORTEX_PORT": str(taken.getsockname()[1]),
            }
        )
        with pytest.raises(StartError, match="front"):
            cortex.start(settings, serve_http=True)

    wait_until(lambda: not [t for t in threading.enumerate() if t not in before])


def test_embed_returns_one_vector_per_text_and_fails_over(upstream):
    with SimulatedOpenAI("spare", keys=KEYS, chunk_delay=0.0) as spare:
        workers = {
            name: {
                "type": "openai",
                "base_url": server.base_url,
                "api_keys": list(KEYS),
                "embedding_models": ["text-embedding-3-small"],
                "priority": priority,
            }
            for name, server, priority in (("lib", upstream, 1), ("spare", spare, 2))
        }
        settings = load_settings(environ={"CORTEX_PROVIDERS": json.dumps(workers)})
        upstream.set_fault(Fault.SERVER_ERROR)
        with cortex.start(settings) as running:
            vectors = running.embed(["one", "two"], dimensions=4)
            with pytest.raises(BadRequest):
                running.embed([])
        answered = [r for r in spare.requests if r.method == "POST"]

    assert vectors == [vector("one", 4), vector("two", 4)]
    assert len(answered) == 1
