"""Three daemons and one real redis-server: every instance sees the whole fleet."""

from __future__ import annotations

import re

from daemon_harness import providers_json
from fleet_harness import dashboard_state, eventually, fleet_env, fleet_ids


def test_every_instance_lists_all_three_instances_with_their_load_and_version(
    cortex_daemon, primary, redis_server, redis_prefix
):
    env = fleet_env(redis_server.url, redis_prefix, primary)
    daemons = [cortex_daemon(env) for _ in range(3)]
    ids = {daemon.get("/api/fleet").json()["this"] for daemon in daemons}

    for daemon in daemons:
        eventually(lambda d=daemon: fleet_ids(d), lambda found: found == ids)
    answer = daemons[1].get("/api/fleet").json()

    assert len(ids) == 3
    assert answer["instances"][0]["id"] == answer["this"]
    assert answer["shared_state"]["mode"] == "redis"
    assert answer["shared_state"]["available"] is True
    for entry in answer["instances"]:
        assert entry["load"].keys() == {"in_flight", "served"}
        assert re.fullmatch(r"[0-9a-f]{12}", entry["config_version"])
        assert entry["uptime_seconds"] >= 0
        assert entry["listen"].startswith("127.0.0.1:")
    assert len({entry["config_version"] for entry in answer["instances"]}) == 1


def test_the_dashboard_of_any_instance_shows_every_instance(
    cortex_daemon, primary, redis_server, redis_prefix
):
    env = fleet_env(redis_server.url, redis_prefix, primary)
    first, second = cortex_daemon(env), cortex_daemon(env)
    ids = {first.get("/api/fleet").json()["this"], second.get("/api/fleet").json()["this"]}
    eventually(lambda: fleet_ids(second), lambda found: found == ids)

    fleet = dashboard_state(second)["fleet"]

    assert {entry["id"] for entry in fleet} == ids
    assert [entry["this"] for entry in fleet] == [True, False]


def test_a_stopped_instance_leaves_the_fleet(cortex_daemon, primary, redis_server, redis_prefix):
    env = fleet_env(redis_server.url, redis_prefix, primary)
    staying, leaving = cortex_daemon(env), cortex_daemon(env)
    gone = leaving.get("/api/fleet").json()["this"]
    eventually(lambda: fleet_ids(staying), lambda found: gone in found)

    leaving.stop()

    eventually(lambda: fleet_ids(staying), lambda found: gone not in found)


def test_without_a_redis_url_the_fleet_is_this_instance_alone_and_no_metric_is_exported(
    cortex_daemon, primary
):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})

    answer = daemon.get("/api/fleet").json()

    assert [entry["id"] for entry in answer["instances"]] == [answer["this"]]
    assert answer["shared_state"] == {"mode": "embedded"}
    assert "cortex_shared_state_available" not in daemon.get("/metrics").text


def test_the_shared_state_metrics_say_redis_answers(
    cortex_daemon, primary, redis_server, redis_prefix
):
    daemon = cortex_daemon(fleet_env(redis_server.url, redis_prefix, primary))

    metrics = daemon.get("/metrics").text

    assert "cortex_shared_state_available 1.0" in metrics
    assert "cortex_shared_state_errors_total 0.0" in metrics
