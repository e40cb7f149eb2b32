"""Unknown keys and misspelt CORTEX_* variables: the pure helpers behind the settings checks."""

from __future__ import annotations

import pytest

from cortex.config.check import ReadKeys, misspelt_environment, typo_distance, unknown_keys


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("CORTEX_STRATEGY", "CORTEX_STRATEGY", 0),
        ("CORTEX_PROVIDER", "CORTEX_PROVIDERS", 1),
        ("CORTEX_STARTEGY", "CORTEX_STRATEGY", 1),
        ("CORTEX_LOGLEVEL", "CORTEX_LOG_LEVEL", 1),
        ("CORTEX_POTR", "CORTEX_PORT", 1),
        ("CORTEX_HSOT_", "CORTEX_HOST", 2),
        ("CORTEX_HOSTNAME", "CORTEX_HOST", 4),
        ("", "abc", 3),
        ("abc", "", 3),
    ],
)
def test_typo_distance_counts_inserts_deletes_replaces_and_swaps(
    a: str, b: str, distance: int
) -> None:
    assert typo_distance(a, b) == distance
    assert typo_distance(b, a) == distance


KNOWN = {"CORTEX_PROVIDERS", "CORTEX_STRATEGY", "CORTEX_HOST", "CORTEX_PORT", "CORTEX_API_KEY"}


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        (
            "CORTEX_PROVIDER",
            "CORTEX_PROVIDER is not a Cortex setting (did you mean CORTEX_PROVIDERS?)",
        ),
        (
            "CORTEX_STARTEGY",
            "CORTEX_STARTEGY is not a Cortex setting (did you mean CORTEX_STRATEGY?)",
        ),
        (
            "CORTEX_API_KEYZ",
            "CORTEX_API_KEYZ is not a Cortex setting (did you mean CORTEX_API_KEY?)",
        ),
        ("CORTEX_PROVIDERS", None),
        ("CORTEX_HOSTNAME", None),
        ("CORTEX_SERVICE_HOST", None),
        ("CORTEX_PORT_4000_TCP", None),
        ("CORTEX_XSOAR_URL", None),
        ("GROQ_API_KEYZ", None),
        ("cortex_provider", None),
    ],
    ids=lambda value: value if isinstance(value, str) and " " not in value else "",
)
def test_only_a_near_miss_of_a_known_cortex_name_is_a_problem(
    name: str, problem: str | None
) -> None:
    assert misspelt_environment([name], KNOWN) == ([problem] if problem else [])


def test_keys_read_are_known_and_the_rest_are_reported_with_the_closest_hint() -> None:
    table = ReadKeys({"models": 1, "modles": 2, "api_key": 3, "zzz": 4})
    table.get("models")
    table.get("api_keys")
    _ = "timeout" in table

    assert unknown_keys("provider 'groq'", table) == [
        "provider 'groq': unknown key 'modles' (did you mean 'models'?)",
        "provider 'groq': unknown key 'api_key' (did you mean 'api_keys'?)",
        "provider 'groq': unknown key 'zzz'",
    ]


def test_iterating_a_table_reads_no_key() -> None:
    table = ReadKeys({"groq": {}, "ollama": {}})

    assert list(table) == ["groq", "ollama"]
    assert table.unread() == ["groq", "ollama"]


def test_how_a_key_is_shown_is_chosen_by_the_caller() -> None:
    table = ReadKeys({"serverr": {}})
    table.get("server")

    assert unknown_keys("config file", table, shown="[{}]") == [
        "config file: unknown key [serverr] (did you mean [server]?)"
    ]
