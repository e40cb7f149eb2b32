"""The chaos suite: thousands of requests through the real daemon while upstreams fail at random.

Five upstreams, one per wire format (OpenAI, Anthropic, Gemini, Cohere, Ollama), fail on a
seeded share of their requests in every way real providers fail (429 with and without
Retry-After, 500, 503 or 529, hang, slow first byte, a drop after a few tokens, a body
that ends cleanly after a few tokens without the provider's end signal, a malformed
chunk, an empty 200); a sixth never fails, so some worker is always healthy. Each request
enters through one chaotic upstream (a route per upstream: it, the next chaotic one, then
the steady one), so every wire format gets its share of the faults. Concurrent clients
send streaming (``/v1/chat/completions`` and ``/api/chat``) and non-streaming requests,
some on routes that forbid mid-stream continuation. The run is done once per module; each
test checks one promise against its record, and a summary table is printed to the
terminal.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests
from daemon_harness import CortexProcess

from cortex.simulated import (
    Fault,
    SimulatedAnthropic,
    SimulatedCohere,
    SimulatedGemini,
    SimulatedOllama,
    SimulatedOpenAI,
    SimulatedServer,
)

REQUESTS = 2400
CONCURRENCY = 64
DEADLINE = 10.0  # X-Cortex-Timeout of every request, seconds
CLIENT_TIMEOUT = DEADLINE + 10.0  # beyond this a request counts as hung
SETTLE = 6.0  # seconds allowed for connections and counters to come to rest afterwards
RSS_MARGIN_MB = 40.0

CHAOS_RATES = {
    Fault.RATE_LIMIT: 0.04,
    Fault.RATE_LIMIT_BARE: 0.02,
    Fault.SERVER_ERROR: 0.04,
    Fault.OVERLOADED: 0.04,
    Fault.HANG: 0.015,
    Fault.SLOW_FIRST_BYTE: 0.015,
    Fault.DROP_MID_STREAM: 0.04,
    Fault.ENDS_EARLY: 0.04,
    Fault.MALFORMED_CHUNK: 0.04,
    Fault.EMPTY_STREAM: 0.03,
}


@dataclass(frozen=True)
class Upstream:
    """One simulated provider of the run, in its own wire format."""

    server: type[SimulatedServer]
    type: str
    model: str
    keys: tuple[str, ...]
    chat_path: str


UPSTREAMS = {
    "chaos-a": Upstream(
        SimulatedOpenAI,
        "openai",
        "gpt-4o-mini",
        ("sk-chaos-a-key-one-00001", "sk-chaos-a-key-two-00002"),
        "/chat/completions",
    ),
    "chaos-b": Upstream(
        SimulatedAnthropic,
        "anthropic",
        "claude-haiku-4-5",
        ("sk-ant-chaos-b-key-00001", "sk-ant-chaos-b-key-00002"),
        "/v1/messages",
    ),
    "chaos-c": Upstream(
        SimulatedGemini,
        "gemini",
        "gemini-2.5-flash",
        ("AIza-chaos-c-key-00000001", "AIza-chaos-c-key-00000002"),
        ":streamGenerateContent",
    ),
    "chaos-d": Upstream(
        SimulatedCohere,
        "cohere",
        "command-a-03-2025",
        ("co-chaos-d-key-000000001", "co-chaos-d-key-000000002"),
        "/v2/chat",
    ),
    "chaos-e": Upstream(SimulatedOllama, "ollama", "llama3.1:8b", (), "/api/chat"),
    "steady": Upstream(
        SimulatedOpenAI, "openai", "gpt-4o-mini", ("sk-steady-key-one-000001",), "/chat/completions"
    ),
}
CHAOTIC = ("chaos-a", "chaos-b", "chaos-c", "chaos-d", "chaos-e")
VIA = "via-"  # routes that enter through one chaotic upstream and may continue broken streams
STRICT = "strict-"  # the same chains, whose broken streams end with an error instead

SERVED = "served"
ERROR_EVENT = "error event"
FAILED_WITH_ATTEMPTS = "failed, attempts named"
FAILED_SILENTLY = "failed, no attempts named"
TRUNCATED = "truncated success"
SERVER_ERROR = "500"
HUNG = "hung"


@dataclass(frozen=True)
class Outcome:
    """What one client saw."""

    index: int
    stream: bool
    strict: bool
    entry: str  # the chaotic upstream the request entered through
    path: str
    status: int
    verdict: str
    elapsed: float
    worker: str | None
    partial_text: bool
    body: str = ""  # the start of a failure's body, for the assertion messages


@dataclass
class ChaosRun:
    """The record of the run and the state of everything after it."""

    outcomes: list[Outcome]
    upstreams: dict[str, SimulatedServer]
    daemon: CortexProcess
    wall_seconds: float
    rss_before_mb: float
    rss_after_mb: float
    tasks_before: int
    tasks_after: int
    active_upstream_requests: dict[str, int]
    workers: dict[str, dict[str, Any]]
    stats: dict[str, Any]
    faults_dealt: dict[str, dict[Fault, int]]


def entry_of(index: int) -> str:
    return CHAOTIC[index % len(CHAOTIC)]


def prompt_of(index: int) -> str:
    return f"chaos request number {index}"


def expected_ending(index: int) -> str:
    return f"You said: {prompt_of(index)}"


def providers() -> dict[str, dict[str, Any]]:
    """Tight time limits on the chaotic workers (their hangs cost little), loose ones on
    the steady worker, which a busy CI machine must not push past its limits."""
    return {
        name: {
            "type": upstream.type,
            "api_keys": list(upstream.keys),
            "models": [upstream.model],
            "priority": priority,
            "timeout": 8 if name == "steady" else 2,
            "first_token_timeout": 8 if name == "steady" else 1,
            "supports_prefill": name == "steady",
        }
        for priority, (name, upstream) in enumerate(UPSTREAMS.items(), start=1)
    }


def routes() -> dict[str, dict[str, Any]]:
    """Per chaotic upstream, a chain through it, the next chaotic one and the steady one."""
    found: dict[str, dict[str, Any]] = {}
    for position, name in enumerate(CHAOTIC):
        after = CHAOTIC[(position + 1) % len(CHAOTIC)]
        targets = [f"{n}/{UPSTREAMS[n].model}" for n in (name, after, "steady")]
        found[VIA + name] = {"targets": targets}
        found[STRICT + name] = {"targets": targets, "continuation": False}
    return found


def judge_stream(index: int, status: int, body: str) -> tuple[str, bool]:
    """The verdict on one streamed answer, and whether text arrived before any error.

    Served means whole: the expected text, a finish reason and the closing ``[DONE]``.
    """
    if status != 200:
        return judge_failure(status, body), False
    text, errored, done, finished = [], False, False, False
    for line in body.splitlines():
        if line == "data: [DONE]":
            done = True
        elif line.startswith("data: {"):
            chunk = json.loads(line[6:])
            if "error" in chunk:
                errored = True
            elif chunk.get("choices"):
                text.append(chunk["choices"][0]["delta"].get("content") or "")
                finished = finished or bool(chunk["choices"][0].get("finish_reason"))
    answer = "".join(text)
    if errored:
        return ERROR_EVENT, bool(answer)
    if done and finished and answer.endswith(expected_ending(index)):
        return SERVED, False
    return TRUNCATED, bool(answer)


def judge_api_chat(index: int, status: int, body: str) -> tuple[str, bool]:
    """The verdict on one ``/api/chat`` stream: a ``done`` event is a claim of a whole answer."""
    if status != 200:
        return judge_failure(status, body), False
    text, ending = [], None
    event = "message"
    for line in body.splitlines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
            if event == "message":
                text.append(data.get("content") or "")
            else:
                ending = (event, data)
            event = "message"
    answer = "".join(text)
    if ending is not None and ending[0] == "error":
        return ERROR_EVENT, bool(answer)
    done = ending is not None and ending[0] == "done" and ending[1].get("finish_reason")
    if done and answer.endswith(expected_ending(index)):
        return SERVED, False
    return TRUNCATED, bool(answer)


def judge_plain(index: int, status: int, body: str) -> str:
    if status != 200:
        return judge_failure(status, body)
    choice = json.loads(body)["choices"][0]
    whole = choice["message"]["content"].endswith(expected_ending(index))
    return SERVED if whole and choice["finish_reason"] else TRUNCATED


def judge_failure(status: int, body: str) -> str:
    if status == 500:
        return SERVER_ERROR
    try:
        attempts = json.loads(body)["error"].get("attempts")
    except (ValueError, KeyError, AttributeError):
        attempts = None
    return FAILED_WITH_ATTEMPTS if attempts else FAILED_SILENTLY


async def one_request(
    session: aiohttp.ClientSession, url: str, index: int, gate: asyncio.Semaphore
) -> Outcome:
    stream = index % 2 == 0
    strict = stream and index % 4 == 0
    path = "/api/chat" if index % 8 == 2 else "/v1/chat/completions"
    entry = entry_of(index)
    body: dict[str, Any] = {
        "messages": [{"role": "user", "content": prompt_of(index)}],
        "stream": stream,
        "model": (STRICT if strict else VIA) + entry,
    }
    headers = {"X-Cortex-Timeout": str(DEADLINE), "Cache-Control": "no-cache, no-store"}
    async with gate:
        started = time.monotonic()
        try:
            async with session.post(
                url + path,
                json=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=CLIENT_TIMEOUT),
            ) as response:
                text = await response.text()
                status, worker = response.status, response.headers.get("X-Cortex-Worker")
        except (TimeoutError, aiohttp.ClientError):
            elapsed = time.monotonic() - started
            return Outcome(index, stream, strict, entry, path, 0, HUNG, elapsed, None, False)
    elapsed = time.monotonic() - started
    if path == "/api/chat":
        verdict, partial = judge_api_chat(index, status, text)
    elif stream:
        verdict, partial = judge_stream(index, status, text)
    else:
        verdict, partial = judge_plain(index, status, text), False
    detail = "" if verdict == SERVED else text[:400]
    return Outcome(
        index, stream, strict, entry, path, status, verdict, elapsed, worker, partial, detail
    )


async def send_all(url: str, indices: range) -> list[Outcome]:
    gate = asyncio.Semaphore(CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        return list(await asyncio.gather(*(one_request(session, url, i, gate) for i in indices)))


def chat_calls(name: str, server: SimulatedServer) -> int:
    return sum(r.path.endswith(UPSTREAMS[name].chat_path) for r in server.requests)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS line")


def loop_tasks(daemon: CortexProcess) -> int:
    return int(requests.get(daemon.url + "/api/stats", timeout=10).json()["loop_tasks"])


def settle(predicate: Any, timeout: float = SETTLE) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.1)


@pytest.fixture(scope="module")
def chaos(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[ChaosRun]:
    upstreams = {
        name: u.server(name, keys=u.keys, models=(u.model,), chunk_delay=0.002)
        for name, u in UPSTREAMS.items()
    }
    for server in upstreams.values():
        server.start()
    try:
        entries = providers()
        for name, server in upstreams.items():
            entries[name]["base_url"] = server.base_url
        daemon = CortexProcess(
            {
                "CORTEX_PROVIDERS": json.dumps(entries),
                "CORTEX_ROUTES": json.dumps(routes()),
                "CORTEX_BREAKER_FAILURES": "5",
                "CORTEX_BREAKER_COOLDOWN": "1",
                "RATE_LIMIT_BLOCK_MINUTES": "0.02",
                "CORTEX_MAX_CONNECTIONS_PER_CLIENT": "1000",
                "CORTEX_LOG_LEVEL": "warning",
            },
            tmp_path_factory.mktemp("chaos") / "cortex.log",
        ).wait_ready()
        try:
            yield run_chaos(daemon, upstreams, request)
        finally:
            daemon.stop()
    finally:
        for server in upstreams.values():
            server.stop()


def run_chaos(
    daemon: CortexProcess, upstreams: dict[str, SimulatedServer], request: pytest.FixtureRequest
) -> ChaosRun:
    warmup = asyncio.run(send_all(daemon.url, range(REQUESTS, REQUESTS + 300)))
    assert all(o.verdict == SERVED for o in warmup), Counter(o.verdict for o in warmup)
    settle(lambda: False, timeout=0.5)
    rss_before, tasks_before = rss_mb(daemon.proc.pid), loop_tasks(daemon)
    for seed, name in enumerate(CHAOTIC, start=1):
        upstreams[name].set_random_faults(CHAOS_RATES, seed=seed, retry_after=1.0)
    started = time.monotonic()
    outcomes = asyncio.run(send_all(daemon.url, range(REQUESTS)))
    wall = time.monotonic() - started
    dealt = {name: server.faults.dealt() for name, server in upstreams.items()}
    for server in upstreams.values():
        server.clear_faults()

    def at_rest() -> bool:
        views = requests.get(daemon.url + "/api/workers", timeout=10).json()["workers"]
        idle_upstreams = all(s.active_requests == 0 for s in upstreams.values())
        return idle_upstreams and all(w["in_flight"] == 0 for w in views)

    settle(at_rest)
    settle(lambda: loop_tasks(daemon) <= tasks_before)
    run = ChaosRun(
        outcomes=outcomes,
        upstreams=upstreams,
        daemon=daemon,
        wall_seconds=wall,
        rss_before_mb=rss_before,
        rss_after_mb=rss_mb(daemon.proc.pid),
        tasks_before=tasks_before,
        tasks_after=loop_tasks(daemon),
        active_upstream_requests={n: s.active_requests for n, s in upstreams.items()},
        workers={
            w["name"]: w
            for w in requests.get(daemon.url + "/api/workers", timeout=10).json()["workers"]
        },
        stats=requests.get(daemon.url + "/api/stats", timeout=10).json(),
        faults_dealt=dealt,
    )
    report(run, request)
    return run


def report(run: ChaosRun, request: pytest.FixtureRequest) -> None:
    """Print the summary table to the terminal, whatever the tests then decide."""
    rows: list[tuple[str, str]] = []
    outcomes = run.outcomes
    groups = {
        "non-streaming": [o for o in outcomes if not o.stream],
        "streaming, continuation allowed": [
            o for o in outcomes if o.stream and not o.strict and o.path != "/api/chat"
        ],
        "/api/chat, continuation allowed": [o for o in outcomes if o.path == "/api/chat"],
        "streaming, continuation off": [o for o in outcomes if o.strict],
    }
    rows.append(("requests", f"{len(outcomes)} at concurrency {CONCURRENCY}"))
    rows.append(
        ("wall time", f"{run.wall_seconds:.1f} s ({len(outcomes) / run.wall_seconds:.0f}/s)")
    )
    for name, group in groups.items():
        counts = Counter(o.verdict for o in group)
        served = 100.0 * counts[SERVED] / len(group)
        detail = ", ".join(f"{verdict} {n}" for verdict, n in counts.most_common())
        rows.append((name, f"{served:.1f} % served ({detail})"))
    elapsed = sorted(o.elapsed for o in outcomes)
    rows.append(
        (
            "latency",
            f"p50 {statistics.median(elapsed) * 1000:.0f} ms, "
            f"p99 {elapsed[int(len(elapsed) * 0.99)] * 1000:.0f} ms, max {elapsed[-1]:.2f} s "
            f"(deadline {DEADLINE:.0f} s)",
        )
    )
    answered = Counter(o.worker for o in outcomes if o.verdict == SERVED)
    rows.append(("answered by", ", ".join(f"{w} {n}" for w, n in sorted(answered.items()))))
    for name, server in run.upstreams.items():
        chats = chat_calls(name, server)
        counts = run.stats["workers"][name]
        early = run.faults_dealt[name].get(Fault.ENDS_EARLY, 0)
        rows.append(
            (
                f"upstream {name} ({UPSTREAMS[name].type})",
                f"{chats} calls, {counts['failures']} failed ({early} ended early), "
                f"breaker {run.workers[name]['breaker']}",
            )
        )
    rows.append(("HTTP 500 from Cortex", str(sum(o.verdict == SERVER_ERROR for o in outcomes))))
    rows.append(("loop tasks before / after", f"{run.tasks_before} / {run.tasks_after}"))
    rows.append(("RSS before / after", f"{run.rss_before_mb:.1f} / {run.rss_after_mb:.1f} MB"))
    width = max(len(label) for label, _ in rows)
    lines = ["", "chaos summary", *(f"  {label:<{width}}  {value}" for label, value in rows)]
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n".join(lines))


def test_every_request_ended_before_its_deadline(chaos: ChaosRun) -> None:
    assert not [o for o in chaos.outcomes if o.verdict == HUNG]
    assert max(o.elapsed for o in chaos.outcomes) < DEADLINE + 2.0


def test_requests_whose_failures_came_before_the_first_byte_were_all_served(
    chaos: ChaosRun,
) -> None:
    continuable = [o for o in chaos.outcomes if not o.strict]
    unserved = [o for o in continuable if o.verdict != SERVED]
    assert unserved == []


def test_a_stream_that_may_not_be_continued_is_served_or_ends_with_an_error_after_text(
    chaos: ChaosRun,
) -> None:
    strict = [o for o in chaos.outcomes if o.strict]
    broken = [o for o in strict if o.verdict != SERVED]
    assert all(o.verdict == ERROR_EVENT and o.partial_text for o in broken), broken[:5]
    assert broken, "the chaos never broke a stream mid-answer: the faults are not reaching it"


def test_cortex_never_answers_500_and_every_failure_names_its_attempts(chaos: ChaosRun) -> None:
    verdicts = Counter(o.verdict for o in chaos.outcomes)
    assert verdicts[SERVER_ERROR] == 0
    assert verdicts[FAILED_SILENTLY] == 0


def test_no_success_is_a_truncated_answer(chaos: ChaosRun) -> None:
    assert [o for o in chaos.outcomes if o.verdict == TRUNCATED] == []


@pytest.mark.parametrize("name", CHAOTIC)
def test_every_wire_format_ended_answers_early_and_none_became_a_success(
    chaos: ChaosRun, name: str
) -> None:
    assert chaos.faults_dealt[name].get(Fault.ENDS_EARLY, 0) > 0, "the fault never reached it"
    entered = [o for o in chaos.outcomes if o.entry == name]
    assert [o for o in entered if o.verdict == TRUNCATED] == []
    assert all(o.verdict in (SERVED, ERROR_EVENT) for o in entered), Counter(
        o.verdict for o in entered
    )


def test_no_upstream_request_is_left_open_and_in_flight_counts_return_to_zero(
    chaos: ChaosRun,
) -> None:
    assert chaos.active_upstream_requests == dict.fromkeys(UPSTREAMS, 0)
    assert {name: w["in_flight"] for name, w in chaos.workers.items()} == dict.fromkeys(
        UPSTREAMS, 0
    )


def test_no_asyncio_task_is_left_behind(chaos: ChaosRun) -> None:
    assert chaos.tasks_after <= chaos.tasks_before


def test_breakers_and_keys_agree_with_what_the_upstreams_did(chaos: ChaosRun) -> None:
    keys = chaos.stats["workers"]
    assert keys["steady"]["failures"] == 0
    assert chaos.workers["steady"]["breaker"] == "closed"
    assert not any(k["blocked"] and k["block_reason"] for k in keys["steady"]["keys"])
    for name in CHAOTIC:
        assert keys[name]["failures"] > 0
        reasons = {k["block_reason"] for k in keys[name]["keys"] if k["blocked"]}
        assert reasons <= {"rate_limited"}
    for name, server in chaos.upstreams.items():
        assert keys[name]["requests"] == chat_calls(name, server), name


def test_the_daemon_holds_no_more_memory_than_before_within_a_small_margin(
    chaos: ChaosRun,
) -> None:
    assert chaos.rss_after_mb <= chaos.rss_before_mb + RSS_MARGIN_MB
