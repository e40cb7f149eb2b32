"""An agent framework as the client: LangChain's tool loop against the demo, unchanged.

``python -m cortex --demo`` runs the built-in simulated providers (an OpenAI upstream
whose keys get rate limited, and an Ollama upstream behind it). LangChain's ``ChatOpenAI``
with ``bind_tools`` asks, runs the tool the model called, sends the result back and gets
the final answer: a two-step tool task, streamed and not, with no client change.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from daemon_harness import CortexProcess
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolMessage,
)
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

MAX_STEPS = 4


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return json.dumps({"city": city, "temp_c": 18})


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CortexProcess]:
    log = tmp_path_factory.mktemp("agent-demo") / "cortex.log"
    daemon = CortexProcess({}, log, args=("--demo",))
    try:
        daemon.wait_ready()
        yield daemon
    finally:
        daemon.stop()


def ask(model: ChatOpenAI, messages: list[BaseMessage], *, stream: bool) -> AIMessage:
    tooled = model.bind_tools([get_weather])
    if not stream:
        answer = tooled.invoke(messages)
        assert isinstance(answer, AIMessage)
        return answer
    whole: AIMessageChunk | None = None
    for chunk in tooled.stream(messages):
        assert isinstance(chunk, AIMessageChunk)
        whole = chunk if whole is None else whole + chunk
    assert whole is not None
    return whole


@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
def test_a_langchain_tool_agent_finishes_a_two_step_task(demo: CortexProcess, stream: bool) -> None:
    model = ChatOpenAI(
        base_url=demo.url + "/v1",
        api_key=SecretStr("unused"),
        model="auto",
        max_retries=0,
        timeout=30,
    )
    messages: list[BaseMessage] = [HumanMessage("What is the weather in Paris")]
    steps = 0
    while steps < MAX_STEPS:
        steps += 1
        answer = ask(model, messages, stream=stream)
        messages.append(answer)
        if not answer.tool_calls:
            break
        for call in answer.tool_calls:
            assert call["name"] == "get_weather"
            assert call["args"] == {"city": "Paris"}
            messages.append(ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"]))

    assert steps == 2
    assert messages[-1].content == 'Tool said: {"city": "Paris", "temp_c": 18}'
