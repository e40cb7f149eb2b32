"""Simulated upstream LLM providers: real HTTP servers on loopback with scriptable faults.

Each server speaks one provider's exact wire format, so the official SDKs, the
gateway's adapters and the ``--demo`` mode can all talk to it without API keys
or network access::

    with SimulatedOpenAI(keys=("sk-a", "sk-b")) as upstream:
        upstream.set_rate_limit_every(3, key="sk-b")
        client = openai.OpenAI(base_url=upstream.base_url, api_key="sk-a")

Servers run on their own thread and event loop; every control method is
thread-safe.
"""

from __future__ import annotations

from cortex.simulated.anthropic import SimulatedAnthropic
from cortex.simulated.cohere import SimulatedCohere
from cortex.simulated.content import ChatCall, Completion
from cortex.simulated.faults import ErrorKind, Fault, FaultPlan, FaultRule
from cortex.simulated.gemini import SimulatedGemini
from cortex.simulated.ollama import SimulatedOllama
from cortex.simulated.openai import Dialect, SimulatedOpenAI
from cortex.simulated.server import SimulatedServer
from cortex.simulated.wire import RecordedRequest

__all__ = [
    "ChatCall",
    "Completion",
    "Dialect",
    "ErrorKind",
    "Fault",
    "FaultPlan",
    "FaultRule",
    "RecordedRequest",
    "SimulatedAnthropic",
    "SimulatedCohere",
    "SimulatedGemini",
    "SimulatedOllama",
    "SimulatedOpenAI",
    "SimulatedServer",
]
