"""The answer length a worker asks for when the client names none."""

from __future__ import annotations

import pytest

from cortex.simulated import SimulatedAnthropic

ANTHROPIC_KEY = "sk-ant-length-key-0000001"
HELLO = {"messages": [{"role": "user", "content": "How long may you answer?"}]}


def sent_max_tokens(server, field="max_tokens"):
    (chat,) = [r for r in server.requests if r.method == "POST"]
    return chat.body.get(field)


@pytest.fixture
def anthropic():
    with SimulatedAnthropic(keys=(ANTHROPIC_KEY,), chunk_delay=0.0) as server:
        yield server


def test_anthropic_gets_the_configured_default_when_the_client_names_none(cortex_daemon, anthropic):
    daemon = cortex_daemon(
        {
            "ANTHROPIC_API_KEYS": ANTHROPIC_KEY,
            "ANTHROPIC_BASE_URL": anthropic.base_url,
            "ANTHROPIC_MAX_TOKENS": "300",
        }
    )

    assert daemon.post("/v1/chat/completions", json=HELLO).status_code == 200
    assert sent_max_tokens(anthropic) == 300


def test_anthropic_gets_1024_when_neither_client_nor_configuration_names_a_length(
    cortex_daemon, anthropic
):
    daemon = cortex_daemon(
        {"ANTHROPIC_API_KEYS": ANTHROPIC_KEY, "ANTHROPIC_BASE_URL": anthropic.base_url}
    )

    assert daemon.post("/v1/chat/completions", json=HELLO).status_code == 200
    assert sent_max_tokens(anthropic) == 1024


def test_the_client_s_own_max_tokens_wins_over_the_worker_default(cortex_daemon, primary):
    daemon = cortex_daemon(
        {
            "CORTEX_PROVIDERS": (
                f'{{"primary": {{"type": "openai", "base_url": "{primary.base_url}",'
                ' "api_keys": ["sk-primary-key-one-000001"], "max_tokens": 300}}'
            )
        }
    )

    daemon.post("/v1/chat/completions", json={**HELLO, "max_tokens": 5})
    assert sent_max_tokens(primary) == 5


def test_a_worker_default_reaches_openai_format_workers_too(cortex_daemon, primary):
    daemon = cortex_daemon(
        {
            "CORTEX_PROVIDERS": (
                f'{{"primary": {{"type": "openai", "base_url": "{primary.base_url}",'
                ' "api_keys": ["sk-primary-key-one-000001"], "max_tokens": 300}}'
            )
        }
    )

    daemon.post("/v1/chat/completions", json=HELLO)
    assert sent_max_tokens(primary) == 300
