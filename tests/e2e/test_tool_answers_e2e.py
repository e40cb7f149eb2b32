"""Tool answers through a real daemon: never spliced, cached exactly, drops declared or refused.

A stream that breaks in the middle of a tool call ends with an error event instead of
being continued on another worker (half a call cannot be joined to another model's); a
tool-call answer is cached and replayed with the same ids and arguments; a field the
answering worker leaves out is named in ``X-Cortex-Dropped-Params`` and the access log,
and with ``CORTEX_STRICT_PARAMS=1`` it is refused instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from daemon_harness import BACKUP_KEYS, PRIMARY_KEYS, CortexProcess, providers_json
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from cortex.simulated import Fault, SimulatedOllama, SimulatedOpenAI

WEATHER: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
ASK: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "What is the weather in Paris"}
]
ANSWER = '{"city": "Paris"}'
SLOW = 0.05  # seconds between chunks: the first fragment reaches Cortex before the fault


class Gateway:
    """A daemon in front of a slow primary, a backup that may continue answers, and Ollama."""

    def __init__(
        self,
        primary: SimulatedOpenAI,
        backup: SimulatedOpenAI,
        local: SimulatedOllama,
        daemon: CortexProcess,
    ) -> None:
        self.primary, self.backup, self.local, self.daemon = primary, backup, local, daemon
        self.client = openai.OpenAI(
            base_url=daemon.url + "/v1", api_key="unused", max_retries=0, timeout=20
        )


def start(tmp_path: Path, name: str, **env: str) -> Iterator[Gateway]:
    with (
        SimulatedOpenAI("primary", keys=PRIMARY_KEYS, chunk_delay=SLOW) as primary,
        SimulatedOpenAI("backup", keys=BACKUP_KEYS, models=["llama-3.1-8b-instant"]) as backup,
        SimulatedOllama("local") as local,
    ):
        entries = json.loads(providers_json(primary, backup, local))
        entries["backup"]["supports_prefill"] = True
        environment = {
            "CORTEX_PROVIDERS": json.dumps(entries),
            "HEALTH_CHECK_INTERVAL": "300",
            **env,
        }
        daemon = CortexProcess(environment, tmp_path / f"{name}.log")
        try:
            daemon.wait_ready()
            gateway = Gateway(primary, backup, local, daemon)
            with gateway.client:
                yield gateway
        finally:
            daemon.stop()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    yield from start(tmp_path, "cortex")


@pytest.fixture
def strict_gateway(tmp_path: Path) -> Iterator[Gateway]:
    yield from start(tmp_path, "strict", CORTEX_STRICT_PARAMS="1")


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := predicate():
            return found
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def posts(server: SimulatedOpenAI | SimulatedOllama) -> list[Any]:
    return [r for r in server.requests if r.method == "POST"]


def test_a_stream_broken_inside_a_tool_call_ends_in_an_error_and_is_not_continued(
    gateway: Gateway,
) -> None:
    gateway.primary.set_fault(Fault.STREAM_ERROR, times=1)
    with gateway.daemon.post(
        "/v1/chat/completions",
        json={"messages": ASK, "tools": [WEATHER], "stream": True},
        stream=True,
    ) as response:
        text = response.text
    frames = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]

    calls = [c for f in frames for c in f.get("choices") or [] if c["delta"].get("tool_calls")]
    assert calls[0]["delta"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert "error" in frames[-1]
    assert not any(c.get("finish_reason") for f in frames for c in f.get("choices") or [])
    assert posts(gateway.backup) == []


def test_a_plain_stream_broken_midway_is_still_continued(gateway: Gateway) -> None:
    gateway.primary.set_fault(Fault.STREAM_ERROR, times=1)
    chunks = list(gateway.client.chat.completions.create(model="auto", messages=ASK, stream=True))

    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert len(posts(gateway.backup)) == 1


def test_a_tool_call_answer_is_cached_and_replayed_with_the_same_ids(gateway: Gateway) -> None:
    def ask() -> Any:
        return gateway.client.chat.completions.with_raw_response.create(
            model="auto",
            messages=ASK,
            tools=[WEATHER],
            temperature=0,
        )

    first, second = ask(), ask()
    with gateway.client.chat.completions.stream(
        model="auto",
        messages=ASK,
        tools=[WEATHER],
        temperature=0,
    ) as stream:
        streamed = stream.get_final_completion()

    assert (first.headers["X-Cortex-Cache"], second.headers["X-Cortex-Cache"]) == ("miss", "hit")
    messages = [a.choices[0].message for a in (first.parse(), second.parse(), streamed)]
    calls = [
        [
            (c.id, c.function.name, c.function.arguments)
            for c in m.tool_calls or []
            if c.type == "function"
        ]
        for m in messages
    ]
    assert calls[0] == calls[1] == calls[2] == [("call_get_weather_1", "get_weather", ANSWER)]
    assert len(posts(gateway.primary)) == 1


def test_a_dropped_field_is_named_in_the_header_and_the_access_log(gateway: Gateway) -> None:
    raw = gateway.client.chat.completions.with_raw_response.create(
        model="local/llama3.1:8b",
        messages=ASK,
        logit_bias={"42": 5},
    )
    raw.parse()

    assert raw.headers["X-Cortex-Dropped-Params"] == "logit_bias"
    line = wait_until(
        lambda: next(
            (
                e
                for e in gateway.daemon.events("request")
                if e.get("request_id") == raw.headers["X-Request-ID"]
            ),
            None,
        )
    )
    assert line["dropped_params"] == ["logit_bias"]
    assert "logit_bias" not in json.dumps(posts(gateway.local)[0].body)


def test_strict_params_refuse_what_a_worker_would_drop(strict_gateway: Gateway) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        strict_gateway.client.chat.completions.create(
            model="local/llama3.1:8b",
            messages=ASK,
            logit_bias={"42": 5},
        )

    assert caught.value.code == "unsupported_parameter"
    assert "local (ollama): logit_bias" in caught.value.message
    assert posts(strict_gateway.local) == []
    answered = strict_gateway.client.chat.completions.create(
        model="auto",
        messages=ASK,
        logit_bias={"42": 5},
    )
    assert answered.choices[0].message.content
