"""Content-based routing through a real daemon: rules decide, say why, explain, and reload.

Three simulated upstreams (an OpenAI primary, a Groq-type backup behind a ``long-context``
route, and an Ollama server with a general and a code model) and rules in a config file:
long prompts go to the route, code to the code model, a request tagged by header to the
local general model. The rule that decided is named in ``X-Cortex-Route`` and the access
log; ``/admin/route/explain`` shows the plan without any upstream call; a reload changes
the rules in force.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from daemon_harness import BACKUP_KEYS, PRIMARY_KEYS, CortexProcess

from cortex.simulated import SimulatedOllama, SimulatedOpenAI

ADMIN = "admin-token-for-content-rules"
CODE = "Why does this fail?\n```python\nprint(1/0)\n```"
LONG = "Summarise this report. " + "The quarterly numbers went up again. " * 40
RULES = """
[routes]
long-context = ["backup/llama-3.1-8b-instant"]

[[content_rules]]
name = "long"
when = { min_prompt_tokens = 200 }
route = "long-context"

[[content_rules]]
name = "code"
when = { has_code = true }
target = "local/qwen2.5-coder:7b"

[[content_rules]]
name = "cheap-task"
when = { headers = { "X-Cortex-Task" = "cheap" } }
target = "local/llama3.1:8b"
"""


class Routed:
    def __init__(
        self,
        primary: SimulatedOpenAI,
        backup: SimulatedOpenAI,
        local: SimulatedOllama,
        daemon: CortexProcess,
        config: Path,
    ) -> None:
        self.primary, self.backup, self.local = primary, backup, local
        self.daemon, self.config = daemon, config
        self.client = openai.OpenAI(
            base_url=daemon.url + "/v1", api_key="unused", max_retries=0, timeout=20
        )

    def ask(self, text: str, model: str = "auto", **headers: str) -> Any:
        raw = self.client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": text}], extra_headers=headers
        )
        raw.parse()
        return raw

    def posts(self) -> dict[str, list[Any]]:
        servers = {"primary": self.primary, "backup": self.backup, "local": self.local}
        return {
            name: [r.body for r in server.requests if r.method == "POST"]
            for name, server in servers.items()
        }


@pytest.fixture
def routed(tmp_path: Path) -> Iterator[Routed]:
    config = tmp_path / "cortex.toml"
    config.write_text(RULES)
    with (
        SimulatedOpenAI("primary", keys=PRIMARY_KEYS) as primary,
        SimulatedOpenAI("backup", keys=BACKUP_KEYS, models=["llama-3.1-8b-instant"]) as backup,
        SimulatedOllama("local", models=["llama3.1:8b", "qwen2.5-coder:7b"]) as local,
    ):
        providers = {
            "primary": {
                "type": "openai",
                "base_url": primary.base_url,
                "api_keys": list(PRIMARY_KEYS),
                "models": ["gpt-4o-mini"],
                "priority": 1,
            },
            "backup": {
                "type": "groq",
                "base_url": backup.base_url,
                "api_keys": list(BACKUP_KEYS),
                "models": ["llama-3.1-8b-instant"],
                "priority": 2,
            },
            "local": {
                "type": "ollama",
                "base_url": local.base_url,
                "models": ["llama3.1:8b", "qwen2.5-coder:7b"],
                "priority": 3,
            },
        }
        env = {
            "CORTEX_PROVIDERS": json.dumps(providers),
            "CORTEX_CONFIG": str(config),
            "CORTEX_ADMIN_TOKEN": ADMIN,
            "HEALTH_CHECK_INTERVAL": "300",
        }
        daemon = CortexProcess(env, tmp_path / "cortex.log")
        try:
            daemon.wait_ready()
            routed = Routed(primary, backup, local, daemon, config)
            with routed.client:
                yield routed
        finally:
            daemon.stop()


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := predicate():
            return found
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_a_code_question_goes_to_the_code_model_and_says_which_rule_sent_it(
    routed: Routed,
) -> None:
    raw = routed.ask(CODE)

    assert raw.headers["X-Cortex-Worker"] == "local"
    assert raw.headers["X-Cortex-Route"] == "code -> local/qwen2.5-coder:7b"
    assert [body["model"] for body in routed.posts()["local"]] == ["qwen2.5-coder:7b"]
    line = wait_until(
        lambda: next(
            (
                e
                for e in routed.daemon.events("request")
                if e.get("request_id") == raw.headers["X-Request-ID"]
            ),
            None,
        )
    )
    assert line["route_rule"] == "code -> local/qwen2.5-coder:7b"


def test_a_long_prompt_goes_to_the_route_its_rule_names(routed: Routed) -> None:
    raw = routed.ask(LONG)

    assert raw.headers["X-Cortex-Worker"] == "backup"
    assert raw.headers["X-Cortex-Route"] == "long -> long-context"


def test_a_plain_request_is_not_rerouted_and_a_pinned_one_never_is(routed: Routed) -> None:
    plain = routed.ask("Hello there")
    pinned = routed.ask(CODE, model="primary/gpt-4o-mini")

    assert plain.headers["X-Cortex-Worker"] == pinned.headers["X-Cortex-Worker"] == "primary"
    assert "X-Cortex-Route" not in plain.headers
    assert "X-Cortex-Route" not in pinned.headers


def test_a_request_header_can_decide_and_streams_say_so_too(routed: Routed) -> None:
    with routed.client.chat.completions.with_streaming_response.create(
        model="auto",
        messages=[{"role": "user", "content": "Hello"}],
        stream=True,
        extra_headers={"X-Cortex-Task": "cheap"},
    ) as response:
        route = response.headers.get("X-Cortex-Route")
        worker = response.headers.get("X-Cortex-Worker")
        list(response.iter_lines())

    assert (worker, route) == ("local", "cheap-task -> local/llama3.1:8b")


def test_explain_returns_the_rule_and_the_plan_without_calling_any_provider(
    routed: Routed,
) -> None:
    before = routed.posts()
    answer = routed.daemon.post(
        "/admin/route/explain",
        json={"model": "auto", "messages": [{"role": "user", "content": CODE}]},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )

    assert answer.status_code == 200
    explained = answer.json()
    assert explained["rule"] == {"name": "code", "to": "local/qwen2.5-coder:7b"}
    assert (explained["pin"], explained["model"]) == ("local", "qwen2.5-coder:7b")
    assert explained["plan"] == [{"worker": "local", "type": "ollama", "model": "qwen2.5-coder:7b"}]
    assert routed.posts() == before
    refused = routed.daemon.post("/admin/route/explain", json={"messages": []})
    assert refused.status_code == 401


def test_a_reload_puts_new_rules_in_force(routed: Routed) -> None:
    routed.config.write_text(
        RULES.replace("has_code = true", 'keywords = ["weather"]').replace('"code"', '"weather"')
    )
    reloaded = routed.daemon.post("/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"})

    assert reloaded.status_code == 200
    assert routed.ask(CODE).headers["X-Cortex-Worker"] == "primary"
    weather = routed.ask("What is the weather like")
    assert weather.headers["X-Cortex-Route"] == "weather -> local/qwen2.5-coder:7b"
