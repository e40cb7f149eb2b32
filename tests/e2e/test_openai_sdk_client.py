"""The official openai SDK as a client of a real Cortex daemon."""

from __future__ import annotations

import openai
import pytest
from daemon_harness import providers_json


@pytest.fixture
def client(cortex_daemon, primary, local):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary, local=local)})
    with openai.OpenAI(
        base_url=daemon.url + "/v1", api_key="unused", max_retries=0, timeout=20
    ) as sdk:
        yield sdk


def test_a_non_streaming_completion_carries_text_usage_and_the_serving_worker(client):
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Hello there"}]
    )
    completion = raw.parse()
    assert raw.headers["x-cortex-worker"] == "primary"
    assert "Hello there" in completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "gpt-4o-mini"
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0
    assert (
        completion.usage.total_tokens
        == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


def test_a_streamed_completion_arrives_in_pieces_and_ends_with_usage(client):
    stream = client.chat.completions.create(
        model="auto",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Stream me"}],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert "Stream me" in text
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert finishes == ["stop"]
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


def test_a_worker_pinned_model_is_served_by_that_worker_through_its_native_format(client, local):
    raw = client.chat.completions.with_raw_response.create(
        model="local/llama3.1:8b", messages=[{"role": "user", "content": "Hi local"}]
    )
    assert raw.headers["x-cortex-worker"] == "local"
    assert raw.parse().model == "llama3.1:8b"
    assert [r.path for r in local.requests if r.path == "/api/chat"] == ["/api/chat"]


def test_the_model_list_offers_auto_bare_models_and_worker_pins(client):
    ids = {model.id for model in client.models.list()}
    assert {"auto", "gpt-4o-mini", "primary/gpt-4o-mini", "local/llama3.1:8b"} <= ids


def test_an_unknown_model_is_a_not_found_error_for_the_sdk(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.body["code"] == "model_not_found"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_model_auto_with_a_provider_pin_sends_that_workers_default_model_upstream(
    cortex_daemon, primary, backup, stream
):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary, backup)})
    with openai.OpenAI(
        base_url=daemon.url + "/v1", api_key="unused", max_retries=0, timeout=20
    ) as sdk:
        raw = sdk.chat.completions.with_raw_response.create(
            model="auto",
            messages=[{"role": "user", "content": "Pinned"}],
            stream=stream,
            extra_body={"provider": "backup"},
        )
        if stream:
            list(raw.parse())

    (received,) = [r for r in backup.requests if r.method == "POST"]
    assert raw.headers["x-cortex-worker"] == "backup"
    assert received.body is not None
    assert received.body["model"] == "llama-3.1-8b-instant"
    assert not [r for r in primary.requests if r.method == "POST"]
