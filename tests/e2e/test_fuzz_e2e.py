"""Bounded fuzzing of the real daemon: schemathesis from /openapi.json, hypothesis bodies.

No generated request may produce a 5xx, and the daemon must stay healthy afterwards. The
runs are bounded (a fixed number of examples per operation, no example database) so CI
time stays predictable; upstreams are simulated, and the admin API is fuzzed with a valid
token but without fault drills, so generated requests cannot crash actors on purpose.
"""

from __future__ import annotations

import json

import pytest
import requests
import schemathesis
from admin_harness import ADMIN_TOKEN
from daemon_harness import providers_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cortex.http.endpoints import ENDPOINTS, Access

EXAMPLES = 15
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
# Mutating admin operations would reconfigure the daemon under test mid-run.
SKIPPED = {
    ("POST", "/admin/reload"),
    ("POST", "/admin/workers"),
    ("DELETE", "/admin/workers/{name}"),
    # An event stream never ends by itself (it is cut after an hour).
    ("GET", "/dashboard/events"),
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
chat_bodies = st.fixed_dictionaries(
    {},
    optional={
        "messages": st.lists(
            st.fixed_dictionaries({}, optional={"role": json_values, "content": json_values})
            | json_values,
            max_size=3,
        ),
        "model": json_values,
        "stream": json_values,
        "temperature": json_values,
        "max_tokens": json_values,
        "stop": json_values,
        "provider": json_values,
        "strategy": json_values,
    },
)

blocks = st.lists(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["text", "image", "tool_use", "tool_result", "thinking", "x"])},
        optional={
            "text": json_values,
            "source": json_values,
            "id": json_values,
            "name": json_values,
            "input": json_values,
            "tool_use_id": json_values,
            "content": json_values,
            "is_error": json_values,
        },
    ),
    max_size=3,
)
anthropic_bodies = st.fixed_dictionaries(
    {"model": st.just("auto"), "max_tokens": st.just(20)},
    optional={
        "messages": st.lists(
            st.fixed_dictionaries(
                {"role": st.sampled_from(["user", "assistant"])},
                optional={"content": st.text(max_size=10) | blocks},
            ),
            max_size=3,
        ),
        "system": json_values,
        "tools": json_values,
        "tool_choice": json_values,
        "thinking": json_values,
        "stream": st.booleans(),
        "stop_sequences": json_values,
        "temperature": json_values,
    },
)


@pytest.fixture
def fuzzed(cortex_daemon, primary, local):
    return cortex_daemon(
        {
            "CORTEX_PROVIDERS": providers_json(primary, local=local),
            "CORTEX_ADMIN_TOKEN": ADMIN_TOKEN,
            "CORTEX_LOG_LEVEL": "warning",
        }
    )


def test_no_schemathesis_case_gets_a_5xx(fuzzed):
    schema = schemathesis.openapi.from_url(fuzzed.url + "/openapi.json")
    server_errors: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) not in SKIPPED:
            _fuzz_operation(operation, fuzzed.url, server_errors)

    assert server_errors == []
    assert fuzzed.get("/healthz").status_code == 200
    assert fuzzed.proc.poll() is None


def test_the_served_document_describes_every_row_of_the_endpoint_table(fuzzed):
    paths = fuzzed.get("/openapi.json").json()["paths"]

    described = {(m.upper(), path) for path, ops in paths.items() for m in ops if m != "parameters"}
    assert described == {(e.method, e.path) for e in ENDPOINTS}
    for endpoint in ENDPOINTS:
        probe = endpoint.path.replace("{", "").replace("}", "")
        if endpoint.access is Access.OPEN and endpoint.method == "GET":
            assert fuzzed.get(probe).status_code in (200, 503), endpoint.path


def _fuzz_operation(operation, url: str, server_errors: list[str]) -> None:
    @FUZZ_SETTINGS
    @given(case=operation.as_strategy())
    def run(case) -> None:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        response = case.call(base_url=url, headers=headers, timeout=20)
        if response.status_code >= 500:
            server_errors.append(f"{operation.method} {case.formatted_path}: {response.text}")

    run()


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/chat", "/v1/messages"])
def test_no_generated_chat_body_gets_a_5xx(fuzzed, path):
    statuses: list[int] = []

    @FUZZ_SETTINGS
    @given(body=chat_bodies)
    def run(body) -> None:
        raw = json.dumps(body, allow_nan=True)
        response = requests.post(
            fuzzed.url + path, data=raw, headers={"Content-Type": "application/json"}, timeout=20
        )
        response.content  # noqa: B018 - read the whole (possibly streamed) answer
        statuses.append(response.status_code)
        assert response.status_code < 500, response.text

    run()

    assert len(statuses) == EXAMPLES
    assert fuzzed.get("/healthz").status_code == 200


def test_no_generated_anthropic_body_gets_a_5xx(fuzzed):
    @FUZZ_SETTINGS
    @given(body=anthropic_bodies)
    def run(body) -> None:
        raw = json.dumps(body, allow_nan=True)
        headers = {"Content-Type": "application/json"}
        response = requests.post(fuzzed.url + "/v1/messages", data=raw, headers=headers, timeout=20)
        response.content  # noqa: B018 - read the whole (possibly streamed) answer
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert response.json()["type"] == "error", response.text

    run()

    assert fuzzed.get("/healthz").status_code == 200
