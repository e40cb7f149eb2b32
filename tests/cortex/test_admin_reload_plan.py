"""plan_reload: the pure diff between the loaded and the freshly read configuration."""

from __future__ import annotations

import dataclasses

from actors.keys import RotationStrategy
from actors.planning import RoutingStrategy
from actors.workers import WorkerConfig
from cortex.config.settings import Settings
from cortex.ops.reload import plan_reload


def _worker(name: str, **changes: object) -> WorkerConfig:
    base = WorkerConfig(name, "openai", "http://127.0.0.1:9", ("sk-a",), ("m",), 1)
    return dataclasses.replace(base, **changes)


def _settings(*workers: WorkerConfig, **changes: object) -> Settings:
    return dataclasses.replace(Settings(workers=workers), **changes)


def _running(settings: Settings) -> dict[str, WorkerConfig]:
    return {w.name: w for w in settings.workers}


def test_identical_settings_plan_nothing():
    old = _settings(_worker("a"))

    plan = plan_reload(old, old, _running(old))

    assert plan == type(plan)()


def test_new_workers_are_added_and_missing_ones_removed():
    old = _settings(_worker("a"), _worker("b"))
    new = _settings(_worker("a"), _worker("c"))

    plan = plan_reload(old, new, _running(old))

    assert [w.name for w in plan.add] == ["c"]
    assert plan.remove == ("b",)


def test_a_key_only_change_is_a_rekey_without_restart():
    old = _settings(_worker("a"))
    new = _settings(_worker("a", api_keys=("sk-b",)))

    plan = plan_reload(old, new, _running(old))

    assert [w.name for w in plan.rekey] == ["a"]
    assert plan.reconfigure == ()


def test_any_other_worker_change_is_a_reconfigure():
    old = _settings(_worker("a"))
    new = _settings(_worker("a", priority=9, api_keys=("sk-b",)))

    plan = plan_reload(old, new, _running(old))

    assert [w.name for w in plan.reconfigure] == ["a"]
    assert plan.rekey == ()


def test_workers_added_through_the_admin_api_are_left_alone():
    old = _settings(_worker("a"))
    running = {**_running(old), "extra": _worker("extra")}

    plan = plan_reload(old, old, running)

    assert plan.remove == ()


def test_a_configured_worker_that_is_not_running_is_started_again():
    old = _settings(_worker("a"))

    plan = plan_reload(old, old, {})

    assert [w.name for w in plan.add] == ["a"]


def test_strategy_and_rotation_changes_are_flagged():
    old = _settings()
    new = _settings(strategy=RoutingStrategy.LOCAL_FIRST, key_rotation=RotationStrategy.LEAST_USED)

    plan = plan_reload(old, new, {})

    assert (plan.routing_changed, plan.rotation_changed) == (True, True)


def test_secrets_and_limits_apply_live_and_listeners_need_a_restart():
    old = _settings()
    new = _settings(api_keys=("gw",), admin_token="t", max_messages=5, port=9999)

    plan = plan_reload(old, new, {})

    assert set(plan.live) == {"api_keys", "admin_token", "max_messages"}
    assert plan.needs_restart == ("port",)
