"""SimulatedOllama, checked with the official ollama SDK as the client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import ollama
import pytest

from cortex.simulated import Fault, SimulatedOllama

HELLO = [{"role": "user", "content": "why is the sky blue"}]
EXPECTED = "Hello from ollama! You said: why is the sky blue"


@pytest.fixture(scope="module")
def client(ollama_module: SimulatedOllama) -> Iterator[ollama.Client]:
    with ollama.Client(host=ollama_module.base_url, timeout=5) as client:
        yield client


def test_non_streaming_chat_returns_one_final_object(client: ollama.Client) -> None:
    result = client.chat(model="llama3.1:8b", messages=HELLO, stream=False)
    assert result.message.content == EXPECTED
    assert result.done is True
    assert result.done_reason == "stop"
    assert (result.prompt_eval_count, result.eval_count) == (5, 10)
    assert result.total_duration is not None
    assert result.total_duration > 0


def test_streaming_chat_yields_pieces_then_done(client: ollama.Client) -> None:
    parts = list(client.chat(model="llama3.1:8b", messages=HELLO, stream=True))
    assert "".join(p.message.content or "" for p in parts) == EXPECTED
    assert [p.done for p in parts] == [False] * 10 + [True]
    assert parts[-1].eval_count == 10
    assert parts[-1].done_reason == "stop"


def test_num_predict_cuts_the_reply_with_done_reason_length(client: ollama.Client) -> None:
    result = client.chat(
        model="llama3.1:8b", messages=HELLO, stream=False, options={"num_predict": 2}
    )
    assert result.message.content == "Hello from"
    assert result.done_reason == "length"


def test_stream_is_the_default_when_the_flag_is_omitted(
    ollama_server: SimulatedOllama, http: httpx.Client
) -> None:
    body = {"model": "llama3.1:8b", "messages": HELLO}
    response = http.post(f"{ollama_server.url}/api/chat", json=body)
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert len(response.text.splitlines()) == 11


def test_list_returns_every_pulled_model(client: ollama.Client) -> None:
    assert [m.model for m in client.list().models] == ["llama3.1:8b", "qwen2.5:7b"]


def test_version_and_root_answer_like_ollama(
    ollama_server: SimulatedOllama, http: httpx.Client
) -> None:
    assert "version" in http.get(f"{ollama_server.url}/api/version").json()
    assert http.get(ollama_server.url).text == "Ollama is running"


def test_unknown_model_is_a_404_response_error(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model="mistral:7b", messages=HELLO, stream=False)
    assert caught.value.status_code == 404
    assert caught.value.error == 'model "mistral:7b" not found, try pulling it first'


@pytest.mark.parametrize(
    ("fault", "status", "message"),
    [
        (Fault.SERVER_ERROR, 500, "llama runner process has terminated"),
        (Fault.OVERLOADED, 503, "server busy"),
        (Fault.RATE_LIMIT, 429, "too many requests"),
        (Fault.BAD_REQUEST, 400, "invalid request"),
    ],
)
def test_status_faults_raise_response_error_with_status(
    ollama_server: SimulatedOllama,
    client: ollama.Client,
    fault: Fault,
    status: int,
    message: str,
) -> None:
    ollama_server.set_fault(fault)
    for stream in (False, True):
        with pytest.raises(ollama.ResponseError) as caught:
            list(client.chat(model="llama3.1:8b", messages=HELLO, stream=stream))
        assert caught.value.status_code == status
        assert message in caught.value.error


def test_stream_error_fault_arrives_as_an_error_line(
    ollama_server: SimulatedOllama, client: ollama.Client
) -> None:
    ollama_server.set_fault(Fault.STREAM_ERROR)
    received: list[str] = []
    with pytest.raises(ollama.ResponseError) as caught:
        received.extend(
            p.message.content or "" for p in client.chat("llama3.1:8b", HELLO, stream=True)
        )
    assert caught.value.status_code == -1
    assert received == ["Hello", " from"]


def test_drop_mid_stream_cuts_the_connection(
    ollama_server: SimulatedOllama, client: ollama.Client
) -> None:
    ollama_server.set_fault(Fault.DROP_MID_STREAM)
    with pytest.raises(httpx.RemoteProtocolError):
        list(client.chat(model="llama3.1:8b", messages=HELLO, stream=True))


def test_ends_early_closes_the_stream_cleanly_before_done(
    ollama_server: SimulatedOllama, client: ollama.Client
) -> None:
    ollama_server.set_fault(Fault.ENDS_EARLY)
    parts = list(client.chat(model="llama3.1:8b", messages=HELLO, stream=True))
    assert [(p.message.content, p.done) for p in parts] == [("Hello", False), (" from", False)]


def test_empty_stream_yields_only_a_done_object(
    ollama_server: SimulatedOllama, client: ollama.Client
) -> None:
    ollama_server.set_fault(Fault.EMPTY_STREAM)
    parts = list(client.chat(model="llama3.1:8b", messages=HELLO, stream=True))
    assert [(p.message.content, p.done, p.eval_count) for p in parts] == [("", True, 0)]


def test_keys_turn_on_bearer_auth() -> None:
    with (
        SimulatedOllama(keys=("cloud-key",)) as cloud,
        ollama.Client(host=cloud.base_url, timeout=5) as anonymous,
        ollama.Client(
            host=cloud.base_url, timeout=5, headers={"Authorization": "Bearer cloud-key"}
        ) as authed,
    ):
        with pytest.raises(ollama.ResponseError) as caught:
            anonymous.list()
        assert caught.value.status_code == 401
        assert authed.list().models
