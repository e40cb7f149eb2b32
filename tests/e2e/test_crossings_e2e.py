"""Thread hand-offs per request, read from a real daemon's ``cortex_actor_crossings_total``.

In steady state a chat request costs one ask (the pool's plan) and no blocking call; the
provider actors hear of successes in batches, at most one per flush interval. A change
that adds a crossing to the hot path fails here instead of showing up later as lost
throughput in the benchmark.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor

from daemon_harness import providers_json
from test_metrics_e2e import eventually, scrape, settled, value

from cortex.dataplane.success_reports import FLUSH_SECONDS

HELLO = {"messages": [{"role": "user", "content": "Hello"}]}
REQUESTS = 40


def crossings(daemon) -> dict[str, float]:
    metrics = scrape(daemon)
    return {
        kind: value(metrics, "cortex_actor_crossings_total", kind=kind)
        for kind in ("ask", "tell", "run")
    }


def test_a_steady_request_costs_one_ask_and_its_success_reports_are_batched(cortex_daemon, primary):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})
    assert daemon.post("/v1/chat/completions", json=HELLO).status_code == 200
    available = lambda: value(  # noqa: E731
        scrape(daemon), "cortex_worker_health", worker="primary", status="available"
    )
    assert eventually(available, expected=1.0)
    settled(daemon)
    before = crossings(daemon)

    def one(index: int) -> int:
        body = {**HELLO, "stream": index % 2 == 1}
        return daemon.post("/v1/chat/completions", json=body).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(one, range(REQUESTS)))
    elapsed = time.monotonic() - started
    settled(daemon, chat_requests=REQUESTS + 1)
    after = crossings(daemon)

    assert statuses == [200] * REQUESTS
    assert after["ask"] - before["ask"] == REQUESTS
    assert after["run"] - before["run"] == 0
    assert after["tell"] - before["tell"] <= math.ceil(elapsed / FLUSH_SECONDS) + 1
