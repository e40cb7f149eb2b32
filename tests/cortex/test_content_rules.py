"""Content rules: reading them from configuration, each condition, and which rule decides."""

from __future__ import annotations

import json
import re

import pytest

from cortex.chat import ChatRequest, ImagePart, Message, ResponseFormat, TextPart, Tool, ToolChoice
from cortex.config.content_rules import Conditions, ContentRule, parse_content_rules
from cortex.config.routing import parse_routes
from cortex.dataplane import conditions as check
from cortex.dataplane.content_routing import Asker, applies, first_match, holds, routed

CODE = "Why does this fail?\n```python\nprint(1/0)\n```"
CODE_LINES = "fix this please\ndef total(items):\n    return sum(items);\n"


def ask(text: str, **fields: object) -> ChatRequest:
    return ChatRequest(messages=(Message("user", text),), **fields)  # type: ignore[arg-type]


def rules(raw: object) -> tuple[tuple[ContentRule, ...], list[str]]:
    problems: list[str] = []
    return parse_content_rules(json.dumps(raw), None, problems), problems


def test_rules_are_read_in_order_with_their_conditions_and_destinations() -> None:
    found, problems = rules(
        [
            {"name": "long", "when": {"min_prompt_tokens": 2000}, "route": "long-context"},
            {
                "name": "code",
                "when": {"has_code": True, "language": "en", "headers": {"X-Cortex-Task": "c"}},
                "target": "ollama-1/qwen2.5-coder:7b",
            },
            {"name": "support", "when": {"regex": "(?i)refund|invoice"}, "route": "cheap"},
        ]
    )

    assert problems == []
    assert [(r.name, r.destination) for r in found] == [
        ("long", "long-context"),
        ("code", "ollama-1/qwen2.5-coder:7b"),
        ("support", "cheap"),
    ]
    assert found[1].when == Conditions(
        has_code=True, language=("en",), headers=(("X-Cortex-Task", "c"),)
    )
    assert found[2].when.regex == re.compile("(?i)refund|invoice")


def test_the_config_files_rules_are_read_and_the_environment_wins() -> None:
    table = [{"name": "file", "when": {"has_images": True}, "route": "vision"}]
    problems: list[str] = []

    assert [r.name for r in parse_content_rules(None, table, problems)] == ["file"]
    env = json.dumps([{"name": "env", "when": {"has_tools": True}, "route": "tools"}])
    assert [r.name for r in parse_content_rules(env, table, problems)] == ["env"]
    assert problems == []


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"name": "x"}, "must be a list"),
        ([{"when": {"has_code": True}, "route": "r"}], "needs a 'name'"),
        ([{"name": "x", "when": {"has_code": True}}], "exactly one of 'route' or 'target'"),
        ([{"name": "x", "when": {"has_code": True}, "route": "r", "target": "w/m"}], "exactly one"),
        ([{"name": "x", "when": {"has_code": True}, "target": "nope"}], "must look like"),
        ([{"name": "x", "when": {}, "route": "r"}], "at least one condition"),
        ([{"name": "x", "when": {"has_code": "yes"}, "route": "r"}], "true or false"),
        ([{"name": "x", "when": {"min_prompt_tokens": -1}, "route": "r"}], "whole number"),
        ([{"name": "x", "when": {"regex": "("}, "route": "r"}], "valid regular expression"),
        ([{"name": "x", "when": {"language": 5}, "route": "r"}], "list of strings"),
        ([{"name": "x", "when": {"headers": {"a": 1}}, "route": "r"}], "header names"),
        ([{"name": "x", "when": {"moon": "full"}, "route": "r"}], "is not a condition"),
        ([{"name": "x", "when": {"has_code": True}, "route": "r", "extra": 1}], "extra"),
        (
            [
                {"name": "x", "when": {"has_code": True}, "route": "r"},
                {"name": "x", "when": {"has_tools": True}, "route": "r"},
            ],
            "defined twice",
        ),
    ],
)
def test_a_wrong_rule_is_a_configuration_problem_naming_it(raw: object, problem: str) -> None:
    _, problems = rules(raw)

    assert any(problem in found for found in problems), problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (CODE, True),
        (CODE_LINES, True),
        ("What is the capital of France?", False),
        ("I love apples; they are great.", False),
    ],
)
def test_has_code_sees_fences_and_code_like_lines(text: str, expected: bool) -> None:
    assert check.has_code(ask(text)) is expected


def test_prompt_tokens_are_estimated_from_all_message_text() -> None:
    request = ChatRequest(messages=(Message("system", "a" * 400), Message("user", "b" * 400)))

    assert check.prompt_tokens(request) == 200


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Bonjour, je voudrais réserver une table pour ce soir.", "fr"),
        ("Guten Tag, ich hätte gern eine Rechnung für meine Bestellung.", "de"),
        ("Hello, could you help me write a short poem about the sea?", "en"),
    ],
)
def test_the_language_of_the_last_user_message_is_detected(text: str, code: str) -> None:
    assert check.language(ask(text)) == code


def test_keywords_match_whole_words_in_any_case_and_regex_searches() -> None:
    request = ask("Where is my REFUND for the invoice?")

    assert check.mentions(request, ("refund",))
    assert not check.mentions(request, ("fun",))
    assert check.matches(request, re.compile("invoice"))


def test_key_and_header_conditions_read_who_asked() -> None:
    assert check.from_key("k0123456789", ("k0123456789",))
    assert not check.from_key(None, ("k0123456789",))
    assert check.has_headers({"X-Cortex-Task": "code"}, (("X-Cortex-Task", "code"),))
    assert not check.has_headers({}, (("X-Cortex-Task", "code"),))


IMAGE = Message("user", "see", (TextPart("see"), ImagePart("data:image/png;base64,AAAA")))


@pytest.mark.parametrize(
    ("when", "asked", "expected"),
    [
        (Conditions(has_images=True), ChatRequest(messages=(IMAGE,)), True),
        (Conditions(has_images=True), ask("hi"), False),
        (Conditions(has_tools=True), ask("hi", tools=(Tool("f"),)), True),
        (
            Conditions(has_tools=True),
            ask("hi", tools=(Tool("f"),), tool_choice=ToolChoice("none")),
            False,
        ),
        (
            Conditions(structured_output=True),
            ask("hi", response_format=ResponseFormat("json_object")),
            True,
        ),
        (Conditions(has_code=False), ask("hi"), True),
        (Conditions(min_prompt_tokens=1, max_prompt_tokens=2), ask("abcdefgh"), True),
        (Conditions(min_prompt_tokens=3), ask("abcdefgh"), False),
        (Conditions(has_code=True, keywords=("java",)), ask(CODE), False),
        (Conditions(has_code=True, keywords=("python",)), ask(CODE), True),
    ],
)
def test_a_rule_holds_only_when_every_condition_does(
    when: Conditions, asked: ChatRequest, expected: bool
) -> None:
    assert holds(when, asked, Asker()) is expected


def test_the_first_matching_rule_decides_and_reroutes() -> None:
    found, _ = rules(
        [
            {"name": "code", "when": {"has_code": True}, "target": "local/coder"},
            {"name": "any", "when": {"max_prompt_tokens": 100000}, "route": "cheap"},
        ]
    )

    code = first_match(found, ask(CODE), Asker())
    plain = first_match(found, ask("hello"), Asker())

    assert code is not None
    assert plain is not None
    assert (routed(ask(CODE), code).pin, routed(ask(CODE), code).model) == ("local", "coder")
    assert routed(ask("hello"), plain).model == "cheap"


def test_only_auto_and_opted_in_routes_are_rerouted_never_a_pin() -> None:
    assert applies(ask("x"), ())
    assert applies(ask("x", model="auto"), ())
    assert applies(ask("x", model="smart"), {"smart"})
    assert not applies(ask("x", model="smart"), ())
    assert not applies(ask("x", pin="groq"), ())


def test_a_route_opts_in_to_content_rules_in_its_configuration() -> None:
    problems: list[str] = []
    routes = parse_routes(
        json.dumps(
            {
                "smart": {"targets": ["a/m"], "content_rules": True},
                "plain": ["a/m"],
                "bad": {"targets": ["a/m"], "content_rules": "yes"},
            }
        ),
        {},
        problems,
    )

    assert (routes["smart"].content_rules, routes["plain"].content_rules) == (True, False)
    assert problems == ["route 'bad': content_rules must be true or false"]
