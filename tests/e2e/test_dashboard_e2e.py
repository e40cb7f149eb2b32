"""``GET /dashboard`` and its event stream over real HTTP: content, offline use and access."""

from __future__ import annotations

import json
import re
from typing import Any

import requests
import sseclient
from daemon_harness import PRIMARY_KEYS, CortexProcess, providers_json

from cortex.simulated import Fault

TOKEN = "dashboard-token-for-tests-0000001"
GATEWAY_KEY = "dashboard-gateway-key-000000001"
HELLO = {"messages": [{"role": "user", "content": "Hello"}]}


def first_state(daemon: CortexProcess, query: str = "") -> dict[str, Any]:
    """The first ``state`` event of ``/dashboard/events`` (bounded by the read timeout)."""
    with requests.get(
        f"{daemon.url}/dashboard/events{query}", stream=True, timeout=(5, 10)
    ) as response:
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("text/event-stream")
        for event in sseclient.SSEClient(response.iter_content(chunk_size=None)).events():
            if event.event == "state":
                return json.loads(event.data)
    raise AssertionError("the stream ended without a state event")


def test_the_page_is_self_contained_html_with_no_external_resource(cortex_daemon, primary):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})

    response = daemon.get("/dashboard")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<canvas" in response.text
    assert "EventSource" in response.text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", response.text)


def test_the_event_stream_carries_workers_keys_tree_and_charts(cortex_daemon, primary):
    daemon = cortex_daemon(
        {"CORTEX_PROVIDERS": providers_json(primary), "CORTEX_ADMIN_TOKEN": TOKEN}
    )
    assert daemon.post("/api/chat", json=HELLO).status_code == 200

    state = first_state(daemon, f"?token={TOKEN}")

    (worker,) = state["workers"]
    assert worker["name"] == "primary"
    assert worker["status"] == "available"
    assert worker["breaker"] == "closed"
    assert [k["key"] for k in worker["keys"]] == ["sk-pri***0001", "sk-pri***0002"]
    assert state["tree"]["name"] == "root"
    assert len(state["series"]["requests"]) == 300
    assert sum(state["series"]["requests"]) == 1
    assert state["failovers"] == []


def test_without_the_admin_api_the_event_stream_leaves_the_tree_out(cortex_daemon, primary):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})

    state = first_state(daemon)

    assert state["tree"] is None
    assert state["workers"][0]["name"] == "primary"


def test_protected_monitoring_protects_the_page_and_stream_like_api_stats(cortex_daemon, primary):
    daemon = cortex_daemon(
        {
            "CORTEX_PROVIDERS": providers_json(primary),
            "CORTEX_API_KEYS": GATEWAY_KEY,
            "CORTEX_PROTECT_MONITORING": "1",
        }
    )
    wrong = {"Authorization": "Bearer not-a-gateway-key"}

    refused = [
        daemon.get(path, headers=headers).status_code
        for path in ("/api/stats", "/dashboard", "/dashboard/events")
        for headers in ({}, wrong)
    ]
    page = daemon.get("/dashboard", headers={"Authorization": f"Bearer {GATEWAY_KEY}"})
    state = first_state(daemon, f"?token={GATEWAY_KEY}")

    assert refused == [401] * 6
    assert page.status_code == 200
    assert state["workers"][0]["name"] == "primary"
    assert state["tree"] is None


def test_with_an_admin_token_a_gateway_key_does_not_open_the_dashboard(cortex_daemon, primary):
    daemon = cortex_daemon(
        {
            "CORTEX_PROVIDERS": providers_json(primary),
            "CORTEX_API_KEYS": GATEWAY_KEY,
            "CORTEX_PROTECT_MONITORING": "1",
            "CORTEX_ADMIN_TOKEN": TOKEN,
        }
    )

    by_key = daemon.get("/dashboard/events", headers={"Authorization": f"Bearer {GATEWAY_KEY}"})

    assert by_key.status_code == 401
    assert first_state(daemon, f"?token={TOKEN}")["tree"]["name"] == "root"


def test_the_event_stream_never_carries_a_full_key(cortex_daemon, primary):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})

    text = json.dumps(first_state(daemon))

    assert all(key not in text for key in PRIMARY_KEYS)


def test_with_an_admin_token_the_page_and_stream_refuse_anonymous_readers(cortex_daemon, primary):
    daemon = cortex_daemon(
        {"CORTEX_PROVIDERS": providers_json(primary), "CORTEX_ADMIN_TOKEN": TOKEN}
    )

    page = daemon.get("/dashboard")
    events = daemon.get("/dashboard/events")
    wrong = daemon.get("/dashboard", headers={"Authorization": "Bearer not-the-token"})

    assert [page.status_code, events.status_code, wrong.status_code] == [401, 401, 401]
    assert page.json()["error"]["code"]


def test_with_an_admin_token_the_page_opens_with_the_bearer_header_or_the_query_token(
    cortex_daemon, primary
):
    daemon = cortex_daemon(
        {"CORTEX_PROVIDERS": providers_json(primary), "CORTEX_ADMIN_TOKEN": TOKEN}
    )

    by_header = daemon.get("/dashboard", headers={"Authorization": f"Bearer {TOKEN}"})
    by_query = daemon.get(f"/dashboard?token={TOKEN}")
    state = first_state(daemon, f"?token={TOKEN}")

    assert [by_header.status_code, by_query.status_code] == [200, 200]
    assert state["workers"][0]["name"] == "primary"


def test_the_query_token_never_reaches_the_access_log(cortex_daemon, primary):
    daemon = cortex_daemon(
        {"CORTEX_PROVIDERS": providers_json(primary), "CORTEX_ADMIN_TOKEN": TOKEN}
    )

    assert daemon.get(f"/dashboard?token={TOKEN}").status_code == 200
    daemon.stop()

    assert TOKEN not in daemon.logs()
    assert any(line.get("path") == "/dashboard" for line in daemon.events("request"))


def test_a_key_rejected_for_good_shows_as_blocked_until_reload(cortex_daemon, primary):
    primary.set_fault(Fault.UNAUTHORIZED, key=PRIMARY_KEYS[0])
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})
    daemon.post("/api/chat", json=HELLO)

    (worker,) = first_state(daemon)["workers"]

    rejected, good = worker["keys"]
    assert rejected["blocked"] is True
    assert rejected["blocked_for"] is None
    assert rejected["block_reason"] == "invalid_key"
    assert good["blocked"] is False
