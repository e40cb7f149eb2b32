"""The built-in demo: simulated providers on loopback, so a newcomer needs no API key.

Two simulated upstreams speak the real wire formats over real sockets:

- ``openai`` (OpenAI format, priority 5) with two keys that each get rate limited every
  few requests, so key rotation and key blocking show in ``/api/stats``;
- ``ollama`` (native Ollama format, priority 50), always up, so when both OpenAI keys
  are resting the request fails over to it (``X-Cortex-Worker`` says which served).
"""

from __future__ import annotations

from contextlib import ExitStack

from actors.workers import WorkerConfig
from cortex.providers.profiles import PROFILES
from cortex.simulated import SimulatedOllama, SimulatedOpenAI

DEMO_KEYS = ("sk-demo-alpha-0000000001", "sk-demo-bravo-0000000002")
RATE_LIMIT_EVERY = (3, 4)
RETRY_AFTER = 5.0


def start_demo_upstreams(stack: ExitStack) -> tuple[WorkerConfig, ...]:
    """Start the simulated upstreams (stopped when ``stack`` closes); return their workers."""
    openai = stack.enter_context(SimulatedOpenAI("openai", keys=DEMO_KEYS, chunk_delay=0.03))
    for key, every in zip(DEMO_KEYS, RATE_LIMIT_EVERY, strict=True):
        openai.set_rate_limit_every(every, key=key, retry_after=RETRY_AFTER)
    ollama = stack.enter_context(SimulatedOllama("ollama", chunk_delay=0.03))
    return (
        WorkerConfig(
            name="openai",
            type="openai",
            base_url=openai.base_url,
            api_keys=DEMO_KEYS,
            models=("gpt-4o-mini", "gpt-4o"),
            priority=5,
            timeout=30.0,
        ),
        WorkerConfig(
            name="ollama",
            type="ollama",
            base_url=ollama.base_url,
            models=("llama3.1:8b",),
            priority=50,
            timeout=30.0,
            is_local=PROFILES["ollama"].local,
            needs_key=PROFILES["ollama"].needs_key,
        ),
    )
