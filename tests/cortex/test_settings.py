"""Unit tests for settings: source precedence, legacy names, worker entries, validation."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from actors.keys import RotationStrategy
from actors.planning import RoutingStrategy
from actors.workers import WorkerConfig
from cortex.config.settings import ConfigError, Settings, load_settings
from cortex.providers.profiles import PROFILES

SECRET = "gsk_live_topsecret_0123456789"


def load(environ: Mapping[str, str] | None = None, **kwargs: Any) -> Settings:
    return load_settings(environ=environ or {}, **kwargs)


def problems(environ: Mapping[str, str] | None = None, **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(environ, **kwargs)
    return caught.value.problems


def worker(settings: Settings, name: str) -> WorkerConfig:
    by_name = {w.name: w for w in settings.workers}
    return by_name[name]


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "cortex.toml"
    path.write_text('[server]\nport = 5000\nhost = "0.0.0.0"\n')
    return path


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    path = tmp_path / ".env"
    path.write_text("CORTEX_PORT=6000\n")
    return path


# --- precedence ---------------------------------------------------------------------


def test_no_source_gives_the_defaults() -> None:
    assert load() == Settings()


def test_config_file_overrides_defaults(config_file: Path) -> None:
    settings = load(config_file=config_file)
    assert (settings.host, settings.port) == ("0.0.0.0", 5000)


def test_env_file_overrides_config_file(config_file: Path, env_file: Path) -> None:
    assert load(config_file=config_file, env_file=env_file).port == 6000


def test_environ_overrides_env_file(config_file: Path, env_file: Path) -> None:
    settings = load({"CORTEX_PORT": "7000"}, config_file=config_file, env_file=env_file)
    assert settings.port == 7000


def test_cli_overrides_environ(config_file: Path, env_file: Path) -> None:
    settings = load(
        {"CORTEX_PORT": "7000", "CORTEX_HOST": "10.0.0.1"},
        cli={"port": 8000, "host": "127.0.0.2"},
        config_file=config_file,
        env_file=env_file,
    )
    assert (settings.host, settings.port) == ("127.0.0.2", 8000)


def test_cli_values_of_none_fall_through_to_other_sources() -> None:
    settings = load({"CORTEX_PORT": "7000"}, cli={"port": None, "host": None})
    assert (settings.host, settings.port) == ("127.0.0.1", 7000)


def test_cortex_config_in_the_environment_names_the_config_file(config_file: Path) -> None:
    assert load({"CORTEX_CONFIG": str(config_file)}).port == 5000


def test_cortex_config_in_the_env_file_names_the_config_file(
    tmp_path: Path, config_file: Path
) -> None:
    dotenv = tmp_path / "other.env"
    dotenv.write_text(f"CORTEX_CONFIG={config_file}\n")
    assert load(env_file=dotenv).port == 5000


def test_a_missing_env_file_is_ignored(tmp_path: Path) -> None:
    assert load(env_file=tmp_path / "absent.env") == Settings()


def test_a_missing_config_file_is_a_problem(tmp_path: Path) -> None:
    (problem,) = problems(config_file=tmp_path / "absent.toml")
    assert "cannot read config file" in problem


def test_invalid_toml_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[server\nport = ")
    (problem,) = problems(config_file=path)
    assert "not valid TOML" in problem


def test_a_server_entry_that_is_not_a_table_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('server = "yes"\n')
    assert problems(config_file=path) == ["config file: [server] must be a table"]


def test_config_file_server_table_sets_every_scalar(tmp_path: Path) -> None:
    path = tmp_path / "all.toml"
    path.write_text(
        "[server]\n"
        'strategy = "local_first"\n'
        'key_rotation = "least_used"\n'
        "rate_limit_block_minutes = 2\n"
        "health_check_interval = 7\n"
        "request_timeout = 30\n"
        'log_level = "DEBUG"\n'
        'log_format = "json"\n'
    )
    settings = load(config_file=path)
    assert settings.strategy is RoutingStrategy.LOCAL_FIRST
    assert settings.key_rotation is RotationStrategy.LEAST_USED
    assert settings.rate_limit_block_seconds == 120.0
    assert settings.health_check_interval == 7.0
    assert settings.request_timeout == 30.0
    assert (settings.log_level, settings.log_format) == ("debug", "json")


def test_environment_names_set_strategies() -> None:
    settings = load({"CORTEX_STRATEGY": "LOCAL_FIRST", "API_KEY_ROTATION_STRATEGY": "random"})
    assert settings.strategy is RoutingStrategy.LOCAL_FIRST
    assert settings.key_rotation is RotationStrategy.RANDOM


def test_rate_limit_block_is_given_in_minutes_and_kept_in_seconds() -> None:
    assert load({"RATE_LIMIT_BLOCK_MINUTES": "0.5"}).rate_limit_block_seconds == 30.0


def test_with_workers_replaces_only_the_workers() -> None:
    config = WorkerConfig(
        name="w", type="ollama", base_url="http://h:1", is_local=True, needs_key=False
    )
    settings = Settings(port=1234).with_workers((config,))
    assert settings == Settings(port=1234, workers=(config,))


# --- legacy environment names -------------------------------------------------------


def test_groq_api_keys_is_a_comma_list_with_defaults_for_the_rest() -> None:
    groq = worker(load({"GROQ_API_KEYS": " k-one , k-two ,,"}), "groq")
    assert groq.type == "groq"
    assert groq.api_keys == ("k-one", "k-two")
    assert groq.models == (PROFILES["groq"].model,)
    assert groq.base_url == PROFILES["groq"].base_url
    assert groq.priority == PROFILES["groq"].priority


def test_duplicate_keys_are_kept_once() -> None:
    assert worker(load({"OPENAI_API_KEYS": "a,b,a"}), "openai").api_keys == ("a", "b")


def test_the_singular_api_key_name_also_works() -> None:
    assert worker(load({"XAI_API_KEY": "x-1"}), "xai").api_keys == ("x-1",)


def test_models_variable_gives_a_model_list() -> None:
    env = {"OPENAI_API_KEYS": "k", "OPENAI_MODELS": "gpt-4o, gpt-4o-mini"}
    assert worker(load(env), "openai").models == ("gpt-4o", "gpt-4o-mini")


def test_model_variable_gives_one_model() -> None:
    assert worker(load({"XAI_API_KEYS": "k", "XAI_MODEL": "grok-2"}), "xai").models == ("grok-2",)


def test_base_url_variable_overrides_the_default_without_trailing_slash() -> None:
    env = {"GROQ_API_KEYS": "k", "GROQ_BASE_URL": "http://127.0.0.1:9000/v1/"}
    assert worker(load(env), "groq").base_url == "http://127.0.0.1:9000/v1"


def test_priority_variable_sets_the_priority() -> None:
    assert worker(load({"GROQ_API_KEYS": "k", "GROQ_PRIORITY": "3"}), "groq").priority == 3


def test_a_non_integer_priority_variable_is_a_problem() -> None:
    found = problems({"GROQ_API_KEYS": "k", "GROQ_PRIORITY": "high"})
    assert found == ["provider 'groq': priority must be an integer, got 'high'"]


def test_a_provider_without_keys_in_the_environment_is_not_configured() -> None:
    assert load({"GROQ_MODEL": "llama"}).workers == ()


def test_ollama_base_url_makes_one_worker_named_ollama() -> None:
    settings = load({"OLLAMA_BASE_URL": "http://gpu:11434", "OLLAMA_MODEL": "llama3.1:8b"})
    (ollama,) = settings.workers
    assert (ollama.name, ollama.type, ollama.base_url) == (
        "ollama",
        "ollama",
        "http://gpu:11434",
    )
    assert ollama.models == ("llama3.1:8b",)
    assert ollama.api_keys == ()


def test_ollama_base_urls_makes_numbered_workers_in_order() -> None:
    settings = load({"OLLAMA_BASE_URLS": "http://a:1, http://b:2", "OLLAMA_PRIORITY": "40"})
    assert [(w.name, w.base_url, w.priority) for w in settings.workers] == [
        ("ollama-1", "http://a:1", 40),
        ("ollama-2", "http://b:2", 40),
    ]


# --- CORTEX_PROVIDERS and the [providers] table -------------------------------------


def test_cortex_providers_type_defaults_to_the_entry_name() -> None:
    env = {"CORTEX_PROVIDERS": json.dumps({"anthropic": {"api_keys": ["k"]}})}
    assert worker(load(env), "anthropic").type == "anthropic"


def test_cortex_providers_entry_with_explicit_type_and_fields() -> None:
    entry = {
        "type": "openai",
        "api_keys": ["k1", "k2"],
        "models": ["m"],
        "priority": 2,
        "timeout": 12.5,
        "base_url": "http://127.0.0.1:8080/v1",
    }
    fast = worker(load({"CORTEX_PROVIDERS": json.dumps({"fast": entry})}), "fast")
    assert fast == WorkerConfig(
        name="fast",
        type="openai",
        base_url="http://127.0.0.1:8080/v1",
        api_keys=("k1", "k2"),
        models=("m",),
        priority=2,
        timeout=12.5,
    )


def test_cortex_providers_merges_over_legacy_variables() -> None:
    env = {"GROQ_API_KEYS": "k", "CORTEX_PROVIDERS": json.dumps({"groq": {"priority": 1}})}
    groq = worker(load(env), "groq")
    assert (groq.api_keys, groq.priority) == (("k",), 1)


def test_cortex_providers_with_an_unknown_type_is_a_problem() -> None:
    (problem,) = problems({"CORTEX_PROVIDERS": json.dumps({"mystery": {"api_keys": ["k"]}})})
    assert problem.startswith("provider 'mystery': unknown type 'mystery'")


def test_cortex_providers_that_is_not_an_object_is_a_problem() -> None:
    assert problems({"CORTEX_PROVIDERS": "[1, 2]"}) == [
        "CORTEX_PROVIDERS must be a JSON object of worker name -> settings"
    ]


def test_cortex_providers_entry_that_is_not_an_object_is_a_problem() -> None:
    assert problems({"CORTEX_PROVIDERS": '{"groq": "k"}'}) == [
        "CORTEX_PROVIDERS['groq'] must be an object"
    ]


def test_cortex_providers_with_invalid_json_is_a_problem() -> None:
    (problem,) = problems({"CORTEX_PROVIDERS": "{not json"})
    assert problem.startswith("CORTEX_PROVIDERS is not valid JSON")


def test_config_file_providers_table_defines_workers(tmp_path: Path) -> None:
    path = tmp_path / "providers.toml"
    path.write_text('[providers.local]\ntype = "ollama"\nbase_url = "http://box:11434"\n')
    local = worker(load(config_file=path), "local")
    assert (local.type, local.base_url) == ("ollama", "http://box:11434")


def test_environment_overrides_a_config_file_worker(tmp_path: Path) -> None:
    path = tmp_path / "providers.toml"
    path.write_text('[providers.groq]\napi_keys = ["file-key"]\npriority = 9\n')
    groq = worker(load({"GROQ_API_KEYS": "env-key"}, config_file=path), "groq")
    assert (groq.api_keys, groq.priority) == (("env-key",), 9)


def test_a_cloud_worker_without_keys_is_a_problem() -> None:
    assert problems({"CORTEX_PROVIDERS": '{"groq": {}}'}) == [
        "provider 'groq': needs at least one API key in api_keys"
    ]


def test_a_base_url_that_is_not_http_is_a_problem() -> None:
    env = {"CORTEX_PROVIDERS": '{"ollama": {"base_url": "ftp://box"}}'}
    assert problems(env) == ["provider 'ollama': base_url must be an http(s) URL, got 'ftp://box'"]


@pytest.mark.parametrize("timeout", [0, -1, "soon", "nan", "inf"])
def test_a_worker_timeout_must_be_a_positive_finite_number(timeout: object) -> None:
    env = {"CORTEX_PROVIDERS": json.dumps({"ollama": {"timeout": timeout}})}
    (problem,) = problems(env)
    assert problem.startswith("provider 'ollama': timeout must be a positive number")


def test_a_worker_name_with_a_slash_is_a_problem() -> None:
    env = {"CORTEX_PROVIDERS": '{"a/b": {"type": "ollama"}}'}
    assert problems(env) == ["provider 'a/b': a worker name must be non-empty and contain no '/'"]


# --- every problem at once, and no secret in any output ------------------------------


def test_every_problem_is_reported_at_once() -> None:
    env = {
        "CORTEX_PORT": "http",
        "HEALTH_CHECK_INTERVAL": "-1",
        "CORTEX_STRATEGY": "fastest-please",
        "CORTEX_LOG_LEVEL": "loud",
        "CORTEX_LOG_FORMAT": "xml",
        "CORTEX_PROVIDERS": '{"groq": {}, "mystery": {}}',
    }
    with pytest.raises(ConfigError) as caught:
        load(env)
    found = caught.value.problems
    assert len(found) == 7
    for fragment in (
        "CORTEX_PORT",
        "HEALTH_CHECK_INTERVAL",
        "CORTEX_STRATEGY",
        "CORTEX_LOG_LEVEL",
        "CORTEX_LOG_FORMAT",
        "provider 'groq'",
        "provider 'mystery'",
    ):
        assert any(fragment in p for p in found), fragment
    assert str(caught.value) == "invalid configuration:\n  - " + "\n  - ".join(found)


def test_keys_never_appear_in_the_worker_repr() -> None:
    settings = load({"GROQ_API_KEYS": SECRET})
    assert SECRET not in repr(worker(settings, "groq"))
    assert SECRET not in repr(settings)


@pytest.mark.parametrize(
    "providers",
    [
        {"groq": {"api_keys": [SECRET], "base_url": "nope", "priority": "x", "timeout": 0}},
        {"groq": {"api_keys": [SECRET, 5]}},
        {"mystery": {"api_keys": [SECRET]}},
    ],
)
def test_keys_never_appear_in_error_messages(providers: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as caught:
        load({"CORTEX_PROVIDERS": json.dumps(providers)})
    assert SECRET not in str(caught.value)


def test_keys_never_appear_in_a_json_syntax_error() -> None:
    truncated = json.dumps({"groq": {"api_keys": [SECRET]}})[:-2]
    with pytest.raises(ConfigError) as caught:
        load({"CORTEX_PROVIDERS": truncated})
    assert SECRET not in str(caught.value)


# --- numbers, ports and levels ------------------------------------------------------


@pytest.mark.parametrize("port", ["-1", "65536", "http", "80.5"])
def test_an_invalid_port_is_a_problem(port: str) -> None:
    assert problems({"CORTEX_PORT": port}) == [f"CORTEX_PORT must be a port number, got {port!r}"]


def test_port_zero_means_pick_a_free_port() -> None:
    assert load({"CORTEX_PORT": "0"}).port == 0


@pytest.mark.parametrize("value", ["soon", "nan", "inf"])
def test_a_non_numeric_number_is_a_problem(value: str) -> None:
    assert problems({"HEALTH_CHECK_TIMEOUT": value}) == [
        f"HEALTH_CHECK_TIMEOUT must be a number, got {value!r}"
    ]


@pytest.mark.parametrize("value", ["0", "-3"])
def test_a_number_that_is_not_positive_is_a_problem(value: str) -> None:
    assert problems({"CORTEX_REQUEST_TIMEOUT": value}) == [
        f"CORTEX_REQUEST_TIMEOUT must be greater than 0, got {value!r}"
    ]


def test_a_blank_environment_value_falls_back_to_the_default() -> None:
    assert load({"CORTEX_PORT": "  ", "CORTEX_REQUEST_TIMEOUT": ""}) == Settings()


def test_log_level_is_case_insensitive() -> None:
    assert load({"CORTEX_LOG_LEVEL": "WARNING"}).log_level == "warning"


def test_an_unknown_log_level_is_a_problem() -> None:
    assert problems({"CORTEX_LOG_LEVEL": "verbose"}) == [
        "CORTEX_LOG_LEVEL must be one of debug, info, warning, error"
    ]


def test_routes_come_from_cortex_routes_with_targets_and_fallbacks() -> None:
    settings = load(
        {
            "OPENAI_API_KEYS": "sk-route-key-000000001",
            "OLLAMA_BASE_URL": "http://127.0.0.1:11434",
            "CORTEX_ROUTES": '{"smart": {"targets": ["openai/gpt-4o", "ollama/llama3.1:8b"],'
            ' "fallbacks": {"context_length_exceeded": "openai/gpt-4o-128k"}},'
            ' "cheap": ["ollama/qwen"]}',
        }
    )
    smart = settings.routes["smart"]
    assert smart.targets == (("openai", "gpt-4o"), ("ollama", "llama3.1:8b"))
    assert smart.fallbacks == {"context_length_exceeded": ("openai", "gpt-4o-128k")}
    assert settings.routes["cheap"].targets == (("ollama", "qwen"),)
    assert smart.continuation is None


def test_a_route_may_turn_continuation_off_for_itself_only() -> None:
    settings = load(
        {
            "OPENAI_API_KEYS": "sk-route-key-000000001",
            "CORTEX_ROUTES": '{"strict": {"targets": ["openai/gpt-4o"], "continuation": false}}',
        }
    )
    assert settings.continuation is True
    assert settings.routes["strict"].continuation is False


def test_continuation_can_be_turned_off_gateway_wide() -> None:
    assert load({"CORTEX_CONTINUATION": "0"}).continuation is False


@pytest.mark.parametrize(
    ("routes", "fragment"),
    [
        ('{"smart": []}', "non-empty list"),
        ('{"smart": ["gpt-4o"]}', "must look like 'worker/model'"),
        ('{"smart": ["ghost/gpt-4o"]}', "no worker named 'ghost'"),
        ("[1]", "must be a JSON object"),
        ("{nope", "not valid JSON"),
        ('{"smart": {"targets": ["openai/gpt-4o"], "continuation": "no"}}', "true or false"),
    ],
)
def test_a_bad_route_is_a_configuration_problem(routes: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load({"OPENAI_API_KEYS": "sk-route-key-000000001", "CORTEX_ROUTES": routes})
    assert any(fragment in p for p in caught.value.problems)


def test_worker_resilience_fields_are_read_and_validated() -> None:
    providers = (
        '{"openai": {"api_keys": ["sk-route-key-000000001"], "max_concurrent": 4,'
        ' "first_token_timeout": 12, "price": 0.6, "supports_prefill": true}}'
    )
    worker = load({"CORTEX_PROVIDERS": providers}).workers[0]
    assert (
        worker.max_concurrent,
        worker.first_token_timeout,
        worker.price,
        worker.supports_prefill,
    ) == (
        4,
        12.0,
        0.6,
        True,
    )
    with pytest.raises(ConfigError) as caught:
        load(
            {
                "CORTEX_PROVIDERS": '{"openai": {"api_keys": ["k"], "max_concurrent": 0,'
                ' "supports_prefill": "yes"}}'
            }
        )
    assert len(caught.value.problems) == 2


def test_breaker_and_retry_settings_have_defaults_and_overrides() -> None:
    settings = load(
        {
            "CORTEX_BREAKER_FAILURES": "3",
            "CORTEX_BREAKER_COOLDOWN": "2.5",
            "CORTEX_RETRY_PASSES": "0",
        }
    )
    assert settings.breaker.failure_threshold == 3
    assert settings.breaker.cooldown == 2.5
    assert settings.retry_passes == 0
    assert load({}).request_timeout == 60.0


def test_same_target_retries_default_to_one_within_three_seconds(tmp_path: Path) -> None:
    assert (load({}).same_target_retries, load({}).max_retry_wait) == (1, 3.0)
    settings = load({"CORTEX_SAME_TARGET_RETRIES": "0", "CORTEX_MAX_RETRY_WAIT": "0.5"})
    assert (settings.same_target_retries, settings.max_retry_wait) == (0, 0.5)
    path = tmp_path / "retries.toml"
    path.write_text("[server]\nsame_target_retries = 2\nmax_retry_wait = 1.5\n")
    from_file = load(config_file=path)
    assert (from_file.same_target_retries, from_file.max_retry_wait) == (2, 1.5)
    assert problems({"CORTEX_MAX_RETRY_WAIT": "-1"}) == [
        "CORTEX_MAX_RETRY_WAIT must be at least 0, got '-1'"
    ]


def test_a_worker_may_name_a_default_answer_length() -> None:
    settings = load({"ANTHROPIC_API_KEYS": "sk-ant-length-key-0001", "ANTHROPIC_MAX_TOKENS": "300"})
    assert worker(settings, "anthropic").max_tokens == 300


def test_a_default_answer_length_below_one_is_a_problem() -> None:
    providers = '{"openai": {"api_keys": ["sk-length-key-00001"], "max_tokens": 0}}'
    assert problems({"CORTEX_PROVIDERS": providers}) == [
        "provider 'openai': max_tokens must be at least 1"
    ]


def test_the_longest_key_rest_defaults_to_an_hour_and_is_read_in_seconds() -> None:
    assert load().max_key_rest == 3600.0
    env = {"CORTEX_MAX_KEY_REST": "7200", "QUOTA_BLOCK_MINUTES": "120"}
    assert load(env).max_key_rest == 7200.0


def test_a_configured_rest_longer_than_the_longest_key_rest_is_a_problem() -> None:
    assert problems({"CORTEX_MAX_KEY_REST": "600", "QUOTA_BLOCK_MINUTES": "10"}) == [
        "RATE_LIMIT_BLOCK_MINUTES (15 min) is longer than CORTEX_MAX_KEY_REST (600 s),"
        " the longest a key may rest"
    ]


# --- unknown keys, out-of-range values, strings for lists ---------------------------

GROQ = {"type": "groq", "api_keys": ["gsk-check-key-000001"]}


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        (
            "[serverr]\nport = 1\n",
            "config file: unknown key [serverr] (did you mean [server]?)",
        ),
        ("modles = 1\n", "config file: unknown key [modles]"),
        (
            "[server]\nstrategyy = 'priority'\n",
            "config file [server]: unknown key 'strategyy' (did you mean 'strategy'?)",
        ),
        (
            "[cache]\nttll = 5\n",
            "config file [cache]: unknown key 'ttll' (did you mean 'ttl'?)",
        ),
        (
            "[providers.groq]\napi_keys = ['gsk-check-key-000001']\nmodles = ['m']\n",
            "provider 'groq': unknown key 'modles' (did you mean 'models'?)",
        ),
        (
            "[providers.groq]\ntype = 'ollama'\napi_key = ['gsk-check-key-000001']\n",
            "provider 'groq': unknown key 'api_key' (did you mean 'api_keys'?)",
        ),
        (
            "[providers.groq]\napi_keys = 'gsk-check-key-000001'\n",
            "provider 'groq': api_keys must be a list of strings, not a string: write [\"...\"]",
        ),
        (
            "[server]\nbreaker_error_rate = 3.5\n",
            "config file [server] breaker_error_rate (CORTEX_BREAKER_ERROR_RATE)"
            " must be at most 1, got 3.5",
        ),
        (
            "[server]\nmax_messages = 2.5\n",
            "config file [server] max_messages (CORTEX_MAX_MESSAGES)"
            " must be a whole number, got 2.5",
        ),
        (
            "[cache]\nmax_entries = 0\n",
            "config file [cache] max_entries (CORTEX_CACHE_MAX_ENTRIES) must be at least 1, got 0",
        ),
        (
            "[server]\nhost = 5\n",
            "config file [server] host (CORTEX_HOST) must be a string, got 5",
        ),
        (
            "[routes]\nsmart = { targets = ['groq/m'], fallback = {} }\n"
            "[providers.groq]\napi_keys = ['gsk-check-key-000001']\n",
            "route 'smart': unknown key 'fallback' (did you mean 'fallbacks'?)",
        ),
    ],
)
def test_a_config_file_problem_is_named_not_ignored(
    tmp_path: Path, toml: str, problem: str
) -> None:
    path = tmp_path / "cortex.toml"
    path.write_text(toml)

    assert problems(config_file=path) == [problem]


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        (
            {"CORTEX_PROVIDERS": json.dumps({"groq": {**GROQ, "modles": ["m"]}})},
            "provider 'groq': unknown key 'modles' (did you mean 'models'?)",
        ),
        (
            {"CORTEX_PROVIDERS": json.dumps({"groq": {**GROQ, "models": "m"}})},
            "provider 'groq': models must be a list of strings, not a string: write [\"...\"]",
        ),
        (
            {
                "CORTEX_ROUTES": '{"r": {"targets": ["groq/m"], "continuation": true, "x": 1}}',
                "GROQ_API_KEYS": "gsk-check-key-000001",
            },
            "route 'r': unknown key 'x'",
        ),
        (
            {"CORTEX_BREAKER_ERROR_RATE": "3.5"},
            "CORTEX_BREAKER_ERROR_RATE must be at most 1, got '3.5'",
        ),
        (
            {"CORTEX_RETRY_PASSES": "1.5"},
            "CORTEX_RETRY_PASSES must be a whole number, got '1.5'",
        ),
        (
            {"CORTEX_PROVIDER": "{}"},
            "CORTEX_PROVIDER is not a Cortex setting (did you mean CORTEX_PROVIDERS?)",
        ),
        (
            {"CORTEX_CACHE_TLL": "5"},
            "CORTEX_CACHE_TLL is not a Cortex setting (did you mean CORTEX_CACHE_TTL?)",
        ),
    ],
)
def test_an_environment_problem_is_named_not_ignored(environ: dict[str, str], problem: str) -> None:
    assert problems(environ) == [problem]


def test_cortex_variables_that_may_be_another_programs_are_left_alone() -> None:
    environ = {
        "CORTEX_URL": "http://127.0.0.1:4000",
        "CORTEX_API_KEY": "gw-key",
        "CORTEX_SERVICE_HOST": "10.0.0.1",
        "CORTEX_PORT_4000_TCP": "tcp://10.0.0.1:4000",
        "CORTEX_ARTIFACTS": "/tmp",
    }
    assert load(environ) == Settings()


def test_a_misspelt_variable_in_the_env_file_is_a_problem_too(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("CORTEX_STARTEGY=round_robin\n")

    assert problems(env_file=dotenv) == [
        "CORTEX_STARTEGY is not a Cortex setting (did you mean CORTEX_STRATEGY?)"
    ]


def test_a_key_the_environment_overrides_is_still_a_known_key(tmp_path: Path) -> None:
    path = tmp_path / "cortex.toml"
    path.write_text("[server]\nport = 5000\nhost = '0.0.0.0'\nstrategy = 'random'\n")

    settings = load(
        {"CORTEX_STRATEGY": "priority"}, cli={"port": 7000, "host": "::1"}, config_file=path
    )

    assert (settings.port, settings.host, settings.strategy.value) == (7000, "::1", "priority")


def test_a_port_flag_wins_over_an_invalid_port_elsewhere() -> None:
    assert load({"CORTEX_PORT": "http"}, cli={"port": 7000}).port == 7000


def test_every_unknown_key_and_bad_value_is_listed_at_once(tmp_path: Path) -> None:
    path = tmp_path / "cortex.toml"
    path.write_text(
        "[serverr]\n[server]\nbreaker_error_rate = 3.5\n"
        "[providers.groq]\napi_key = ['gsk-check-key-000001']\nmodles = ['m']\n"
    )

    found = problems(config_file=path)

    assert len(found) == 5
    assert SECRET not in "\n".join(found)


@pytest.mark.parametrize("key", ["\ud800abc", "sk-caf\u00e9", "sk two", "sk-\x00"])
def test_a_key_with_characters_no_api_key_has_is_a_problem_not_a_crash(key: str) -> None:
    entry = {"g": {"type": "groq", "api_keys": ["gsk-fine-key-0001", key]}}

    found = problems({"CORTEX_PROVIDERS": json.dumps(entry)})

    assert found == ["provider 'g': api_keys[2] has characters no API key has"]
    assert key not in "\n".join(found)
