"""The operator CLI as a real subprocess: ``python -m cortex chat|status|check-config``.

``chat`` and ``status`` talk to a real daemon on loopback in front of simulated upstreams;
``check-config`` reads the same configuration sources the daemon does and starts nothing.
"""

from __future__ import annotations

import ast
import os
import re
import socket
from pathlib import Path

import pytest
from daemon_harness import BACKUP_KEYS, PRIMARY_KEYS, REPO, providers_json
from daemon_harness import run_cortex as cortex

from actors.planning import RoutingStrategy
from cortex.__main__ import build_parser as daemon_parser
from cortex.config.table import SETTINGS
from cortex.ops.cli import COMMANDS
from cortex.ops.cli import build_parser as command_parser
from cortex.providers.profiles import PROFILES

GATEWAY_KEY = "gw-cli-test-key-0000000001"


def environment_names(module: Path) -> set[str]:
    """Every environment variable a module reads: its upper-case string constants.

    A name built from a provider prefix (``f"{prefix}_API_KEYS"``) comes back as
    ``<PROVIDER>_API_KEYS``.
    """
    names = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+", node.value):
                names.add(node.value)
        elif isinstance(node, ast.JoinedStr) and isinstance(node.values[0], ast.FormattedValue):
            rest = "".join(v.value for v in node.values[1:] if isinstance(v, ast.Constant))
            if re.fullmatch(r"(_[A-Z0-9]+)+", rest):
                names.add(f"<PROVIDER>{rest}")
    return names


def documented(name: str, text: str) -> bool:
    """Whether ``name`` appears in ``text``, ``FOO_KEYS`` also as ``FOO_KEY(S)``."""
    return name in text or (name.endswith("S") and f"{name[:-1]}(S)" in text)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_chat_streams_the_answer_and_names_the_worker_that_gave_it(cortex_daemon, primary):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})

    result = cortex("chat", "tell me a story", "--url", daemon.url)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Hello from primary! You said: tell me a story"
    assert "[primary · gpt-4o-mini" in result.stderr


def test_chat_with_a_pinned_model_is_answered_by_that_worker(cortex_daemon, primary, backup):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary, backup)})

    result = cortex("chat", "hi", "--url", daemon.url, "--model", "backup/llama-3.1-8b-instant")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Hello from backup!")
    assert "[backup · llama-3.1-8b-instant" in result.stderr


def test_chat_with_a_strategy_is_routed_by_it(cortex_daemon, primary, local):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary, local=local)})

    result = cortex("chat", "hi", "--url", daemon.url, "--strategy", "local_first")

    assert result.returncode == 0, result.stderr
    assert "[local · llama3.1:8b" in result.stderr


def test_chat_with_an_unknown_strategy_exits_non_zero_with_the_gateways_message(
    cortex_daemon, primary
):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})

    result = cortex("chat", "hi", "--url", daemon.url, "--strategy", "sideways")

    assert result.returncode == 1
    assert "400" in result.stderr
    assert "sideways" in result.stderr or "strategy" in result.stderr
    assert result.stdout == ""


def test_chat_sends_the_gateway_key_from_the_environment(cortex_daemon, primary):
    daemon = cortex_daemon(
        {"CORTEX_PROVIDERS": providers_json(primary), "CORTEX_API_KEYS": GATEWAY_KEY}
    )

    refused = cortex("chat", "hi", "--url", daemon.url)
    served = cortex("chat", "hi", env={"CORTEX_URL": daemon.url, "CORTEX_API_KEY": GATEWAY_KEY})

    assert refused.returncode == 1
    assert "401" in refused.stderr
    assert served.returncode == 0, served.stderr
    assert served.stdout.startswith("Hello from primary!")


def test_chat_without_a_running_gateway_says_it_cannot_reach_it():
    url = f"http://127.0.0.1:{closed_port()}"

    result = cortex("chat", "hi", "--url", url)

    assert result.returncode == 1
    assert f"cannot reach {url}" in result.stderr


def test_status_prints_every_worker_and_its_masked_keys(cortex_daemon, primary, backup):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary, backup)})
    assert cortex("chat", "hi", "--url", daemon.url).returncode == 0

    result = cortex("status", "--url", daemon.url)

    assert result.returncode == 0, result.stderr
    worker_table, keys = result.stdout.split("\n\n")
    summary, _header, *workers = worker_table.splitlines()
    assert summary == f"{daemon.url}: healthy, 2/2 workers available"
    rows = {line.split()[0]: line.split() for line in workers}
    assert rows["primary"][1:3] == ["openai", "available"]
    assert rows["backup"][1:3] == ["groq", "available"]
    assert "sk-pri***0001" in keys
    assert "sk-bac***0001" in keys
    for key in (*PRIMARY_KEYS, *BACKUP_KEYS):
        assert key not in result.stdout


def test_status_without_a_running_gateway_exits_non_zero():
    result = cortex("status", "--url", f"http://127.0.0.1:{closed_port()}")

    assert result.returncode == 1
    assert "cannot reach" in result.stderr


def test_check_config_prints_what_would_start_with_masked_keys(primary):
    env = {"CORTEX_PROVIDERS": providers_json(primary), "CORTEX_PORT": "4999"}

    result = cortex("check-config", "--env-file", os.devnull, env=env)

    assert result.returncode == 0, result.stderr
    assert "configuration OK: would listen on http://127.0.0.1:4999" in result.stdout
    assert "primary (openai, priority 1)" in result.stdout
    assert "sk-pri***0001" in result.stdout
    assert all(key not in result.stdout + result.stderr for key in PRIMARY_KEYS)


def test_check_config_starts_nothing(primary):
    port = closed_port()
    env = {"CORTEX_PROVIDERS": providers_json(primary), "CORTEX_PORT": str(port)}

    result = cortex("check-config", "--env-file", os.devnull, env=env)

    assert result.returncode == 0, result.stderr
    assert "listening on" not in result.stdout
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_check_config_with_a_bad_configuration_lists_every_problem_and_exits_non_zero(
    tmp_path: Path,
):
    config = tmp_path / "cortex.toml"
    config.write_text('[server]\nbreaker_window = "soon"\n')
    env = {
        "CORTEX_PORT": "not-a-port",
        "CORTEX_STRATEGY": "sideways",
        "CORTEX_LOG_LEVEL": "loud",
        "CORTEX_PROVIDERS": '{"broken": {"type": "no-such-provider"}}',
    }

    result = cortex("check-config", "--env-file", os.devnull, "--config", str(config), env=env)

    assert result.returncode == 2
    problems = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert len(problems) >= 5, result.stderr
    for needle in (
        "CORTEX_PORT",
        "CORTEX_STRATEGY",
        "CORTEX_LOG_LEVEL",
        "broken",
        "CORTEX_BREAKER_WINDOW",
    ):
        assert any(needle in problem for problem in problems), (needle, result.stderr)
    assert f"{len(problems)} problem(s)" in result.stderr
    assert result.stdout == ""


def test_check_config_with_an_unreadable_config_file_exits_non_zero(tmp_path: Path):
    result = cortex(
        "check-config", "--env-file", os.devnull, "--config", str(tmp_path / "missing.toml")
    )

    assert result.returncode == 2
    assert "cannot read config file" in result.stderr


@pytest.fixture(scope="module")
def daemon_help() -> str:
    """What ``python -m cortex --help`` prints (run once for the module)."""
    result = cortex("--help")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_help_documents_every_environment_variable_the_configuration_reads(daemon_help):
    config = REPO / "cortex" / "config"
    names = environment_names(config / "settings.py") | environment_names(config / "table.py")
    names |= environment_names(config / "workers.py")
    names |= environment_names(REPO / "cortex" / "ops" / "cli.py")

    assert len(names) > 40
    missing = sorted(name for name in names if not documented(name, daemon_help))
    assert missing == []


def worker_fields(module: Path) -> set[str]:
    """Every field a worker entry is read for: the keys of ``entry.get(...)`` calls."""
    return set(re.findall(r'entry\.get\("([a-z_]+)"', module.read_text()))


def test_help_and_readme_document_every_field_of_a_worker_entry(daemon_help):
    fields = worker_fields(REPO / "cortex" / "config" / "workers.py")
    readme = (REPO / "README.md").read_text()

    assert {"first_token_timeout", "supports_prefill", "max_concurrent", "price"} <= fields
    assert sorted(f for f in fields if f not in daemon_help) == []
    assert sorted(f for f in fields if f"| `{f}` |" not in readme) == []


def example_keys(section: str) -> set[str]:
    """The keys ``config/cortex.example.toml`` shows in ``[section]``, commented out or not."""
    text = (REPO / "config" / "cortex.example.toml").read_text()
    body = re.search(rf"^\[{section}\]\n(.*?)(?=^\[|\Z)", text, re.MULTILINE | re.DOTALL)
    assert body is not None, section
    return set(re.findall(r"^#? ?([a-z_]+) *=", body.group(1), re.MULTILINE))


def test_help_readme_and_example_configs_name_every_setting_in_the_table(daemon_help):
    readme = (REPO / "README.md").read_text()
    env_example = (REPO / "config" / ".env.example").read_text()

    assert [row.env for row in SETTINGS if row.env not in daemon_help] == []
    assert [row.env for row in SETTINGS if row.env not in env_example] == []
    assert [
        row.key for row in SETTINGS if row.key and row.key not in example_keys(row.section)
    ] == []
    assert [
        row.env
        for row in SETTINGS
        if row.field != "workers"
        and not re.search(
            rf"^\| `{row.env}` \|.*\| {'live' if row.live else 'restart'} \|$", readme, re.MULTILINE
        )
    ] == []


def test_help_shows_each_settings_default_and_whether_a_reload_applies_it(daemon_help):
    line = next(line for line in daemon_help.splitlines() if "RATE_LIMIT_BLOCK_MINUTES " in line)
    assert line.endswith("(15)")
    assert "(1000) [live]" in daemon_help  # CORTEX_MAX_MESSAGES
    assert "(4000) [live]" not in daemon_help  # CORTEX_PORT needs a restart


def test_help_names_every_provider_strategy_and_command(daemon_help):
    keyed = [profile for profile in PROFILES.values() if profile.needs_key]
    assert all(profile.key_variable in daemon_help for profile in keyed)
    assert all(strategy.value in daemon_help for strategy in RoutingStrategy)
    assert all(f"python -m cortex {command}" in daemon_help for command in COMMANDS)


def test_help_and_readme_name_every_provider_type_and_how_to_configure_it(daemon_help):
    readme = (REPO / "README.md").read_text()
    for profile in PROFILES.values():
        assert re.search(rf"\b{profile.type}\b", daemon_help), profile.type
        assert f"| `{profile.type}` |" in readme, profile.type
        variable = profile.key_variable if profile.needs_key else f"{profile.env_prefix}_BASE_URL"
        assert variable in daemon_help, variable
        assert f"`{variable}" in readme, variable


def test_help_documents_every_flag_of_the_daemon(daemon_help):
    for action in daemon_parser()._actions:
        assert action.help, action.option_strings
        assert all(flag in daemon_help for flag in action.option_strings)


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_documents_every_flag_in_its_own_help(command):
    result = cortex(command, "--help")
    commands = command_parser({})._subparsers._group_actions[0].choices

    assert result.returncode == 0
    for action in commands[command]._actions:
        assert action.help, (command, action.dest)
        assert all(flag in result.stdout for flag in action.option_strings)
        assert action.option_strings or action.dest in result.stdout
