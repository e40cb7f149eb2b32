"""Unknown keys and out-of-range values are problems in check-config, boot, reload and admin.

The same validation runs everywhere a configuration comes in, so ``check-config`` says
exactly what the daemon's boot (exit 2), a reload (400 ``invalid_config``) and
``POST /admin/workers`` would say.
"""

from __future__ import annotations

import json
import os
import subprocess

from admin_harness import ADMIN, ADMIN_TOKEN, chat
from daemon_harness import PRIMARY_KEYS, providers_json, run_cortex

BAD_FILE = """\
[serverr]
port = 4000

[server]
breaker_error_rate = 3.5
max_messages = 2.5

[cache]
ttll = 30

[providers.primary]
type = "openai"
base_url = "{url}"
api_key = ["sk-primary-key-one-000001"]
modles = ["gpt-4o-mini"]

[routes]
smart = {{ targets = ["primary/gpt-4o-mini"], fallback = {{}} }}
"""

EXPECTED = [
    "config file: unknown key [serverr] (did you mean [server]?)",
    "config file [server] breaker_error_rate (CORTEX_BREAKER_ERROR_RATE) must be at most 1,"
    " got 3.5",
    "config file [server] max_messages (CORTEX_MAX_MESSAGES) must be a whole number, got 2.5",
    "config file [cache]: unknown key 'ttll' (did you mean 'ttl'?)",
    "provider 'primary': unknown key 'api_key' (did you mean 'api_keys'?)",
    "provider 'primary': unknown key 'modles' (did you mean 'models'?)",
    "route 'smart': unknown key 'fallback' (did you mean 'fallbacks'?)",
    "CORTEX_STARTEGY is not a Cortex setting (did you mean CORTEX_STRATEGY?)",
]


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_cortex(*args, "--env-file", os.devnull, env=env)


def _bad(tmp_path, primary):
    path = tmp_path / "bad.toml"
    path.write_text(BAD_FILE.format(url=primary.base_url))
    return path


def test_check_config_lists_every_unknown_key_and_bad_value_and_exits_2(tmp_path, primary):
    path = _bad(tmp_path, primary)

    result = _run("check-config", "--config", str(path), env={"CORTEX_STARTEGY": "random"})

    assert result.returncode == 2
    listed = [line.removeprefix("  - ") for line in result.stderr.splitlines()[1:]]
    assert sorted(listed) == sorted(
        [*EXPECTED, "provider 'primary': needs at least one API key in api_keys"]
    )
    assert PRIMARY_KEYS[0] not in result.stderr


def test_the_daemon_refuses_to_boot_with_the_same_problems(tmp_path, primary):
    path = _bad(tmp_path, primary)

    result = _run("--config", str(path), "--port", "0", env={"CORTEX_STARTEGY": "random"})

    assert result.returncode == 2
    for problem in EXPECTED:
        assert problem in result.stderr
    assert "Traceback" not in result.stderr


def test_the_daemon_refuses_a_shared_store_url_that_is_not_redis_without_showing_it(primary):
    url = "http://:store-password-0123@127.0.0.1:6379/0"
    env = {"CORTEX_REDIS_URL": url, "CORTEX_PROVIDERS": providers_json(primary)}

    result = _run("--port", "0", env=env)

    assert result.returncode == 2
    assert "CORTEX_REDIS_URL must start with redis:// or rediss:// (TLS)" in result.stderr
    assert "store-password-0123" not in result.stderr
    assert "Traceback" not in result.stderr


def test_a_reload_of_a_file_with_unknown_keys_is_rejected_and_the_old_one_stays(
    cortex_daemon, tmp_path, primary
):
    path = tmp_path / "cortex.toml"
    path.write_text(
        f'[providers.primary]\ntype = "openai"\nbase_url = "{primary.base_url}"\n'
        f"api_keys = {json.dumps(list(PRIMARY_KEYS))}\n"
    )
    daemon = cortex_daemon({"CORTEX_ADMIN_TOKEN": ADMIN_TOKEN}, "--config", str(path))
    path.write_text(path.read_text() + 'modles = ["gpt-4o"]\n[server]\nbreaker_error_rate = 3.5\n')

    response = daemon.post("/admin/reload", headers=ADMIN)

    error = response.json()["error"]
    assert response.status_code == 400
    assert error["code"] == "invalid_config"
    assert "provider 'primary': unknown key 'modles' (did you mean 'models'?)" in error["problems"]
    assert any("breaker_error_rate" in p for p in error["problems"])
    assert chat(daemon).status_code == 200


def test_a_worker_added_with_an_unknown_key_is_refused_naming_it(cortex_daemon, primary):
    daemon = cortex_daemon({"CORTEX_ADMIN_TOKEN": ADMIN_TOKEN})
    entry = {
        "name": "extra",
        "type": "openai",
        "base_url": primary.base_url,
        "api_keys": list(PRIMARY_KEYS),
        "model": "gpt-4o-mini",
    }

    response = daemon.post("/admin/workers", headers=ADMIN, json=entry)

    assert response.status_code == 400
    assert response.json()["error"]["problems"] == [
        "provider 'extra': unknown key 'model' (did you mean 'models'?)"
    ]
