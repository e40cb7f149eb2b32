"""Reading content rules from configuration (``CORTEX_CONTENT_RULES`` or ``[[content_rules]]``).

A content rule sends a request to the route, worker or model that suits what it holds::

    CORTEX_CONTENT_RULES='[
      {"name": "long", "when": {"min_prompt_tokens": 2000}, "route": "long-context"},
      {"name": "code", "when": {"has_code": true}, "target": "ollama-1/qwen2.5-coder:7b"},
      {"name": "support", "when": {"regex": "(?i)refund|invoice"}, "route": "cheap"}]'

Rules are tried in order on a request for ``auto`` (or for a route with
``"content_rules": true``); the first whose conditions all hold decides. ``route`` names a
configured route or a model; ``target`` a ``worker/model`` pin. Conditions:
``min_prompt_tokens``, ``max_prompt_tokens`` (estimated), ``has_code``, ``has_images``,
``has_tools``, ``structured_output`` (true or false), ``language`` (ISO 639-1 codes of the
last user message), ``keywords`` (any of them, as whole words), ``regex`` (found in the last
user message), ``gateway_keys`` (key ids: ``k`` + the first 10 hex digits of the key's
SHA-256) and ``headers`` (name -> exact value, e.g. ``{"X-Cortex-Task": "code"}``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cortex.config.check import ReadKeys, unknown_keys
from cortex.config.routing import read_target

_FLAGS = ("has_code", "has_images", "has_tools", "structured_output")
_COUNTS = ("min_prompt_tokens", "max_prompt_tokens")
_LISTS = ("language", "keywords", "gateway_keys")


@dataclass(frozen=True, slots=True)
class Conditions:
    """What a request must hold for a rule to match; unset conditions always hold."""

    min_prompt_tokens: int | None = None
    max_prompt_tokens: int | None = None
    has_code: bool | None = None
    has_images: bool | None = None
    has_tools: bool | None = None
    structured_output: bool | None = None
    language: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None
    gateway_keys: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ContentRule:
    """One rule: its name, its conditions, and where a matching request goes.

    Attributes:
        name: shown in ``X-Cortex-Route`` and the access log.
        when: the conditions, all of which must hold.
        route: a configured route or a model name, if the rule names one.
        target: a ``(worker, model)`` pin, if the rule names one instead.
    """

    name: str
    when: Conditions
    route: str | None = None
    target: tuple[str, str] | None = None

    @property
    def destination(self) -> str:
        """Where the rule sends a request, as configured."""
        return self.route or "/".join(self.target or ())


def parse_content_rules(
    env_value: str | None, file_rules: object, problems: list[str]
) -> tuple[ContentRule, ...]:
    """Rules from ``CORTEX_CONTENT_RULES``, else the config file's; problems are appended."""
    raw: object = file_rules if file_rules is not None else []
    if env_value and env_value.strip():
        try:
            raw = json.loads(env_value)
        except json.JSONDecodeError as exc:
            problems.append(f"CORTEX_CONTENT_RULES is not valid JSON: {exc.msg} at {exc.pos}")
            return ()
    if not isinstance(raw, list):
        problems.append("content rules must be a list of {name, when, route | target} objects")
        return ()
    rules = [_rule(number, entry, problems) for number, entry in enumerate(raw)]
    names = [rule.name for rule in rules if rule is not None]
    for name in sorted({name for name in names if names.count(name) > 1}):
        problems.append(f"content rule {name!r} is defined twice")
    return tuple(rule for rule in rules if rule is not None)


def _rule(number: int, entry: object, problems: list[str]) -> ContentRule | None:
    where = f"content rule {number}"
    if not isinstance(entry, Mapping):
        problems.append(f"{where} must be an object with name, when and route or target")
        return None
    table = ReadKeys(entry)
    name, when, route, target = (table.get(k) for k in ("name", "when", "route", "target"))
    found = unknown_keys(where, table)
    if isinstance(name, str) and name:
        where = f"content rule {name!r}"
    else:
        found.append(f"{where}: needs a 'name'")
    if (route is None) == (target is None):
        found.append(f"{where}: needs exactly one of 'route' or 'target'")
    elif route is not None and not (isinstance(route, str) and route):
        found.append(f"{where}: 'route' must name a route or a model")
    pin = read_target(target, where, found) if target is not None else None
    conditions = _conditions(when, where, found)
    problems.extend(found)
    if found or conditions is None:
        return None
    return ContentRule(str(name), conditions, route if isinstance(route, str) else None, pin)


def _conditions(raw: object, where: str, problems: list[str]) -> Conditions | None:
    if not isinstance(raw, Mapping) or not raw:
        problems.append(f"{where}: 'when' must be an object of at least one condition")
        return None
    found: dict[str, object] = {}
    before = len(problems)
    for key, value in raw.items():
        found[key] = _condition(str(key), value, f"{where}: when.{key}", problems)
    if len(problems) > before:
        return None
    return Conditions(**found)  # type: ignore[arg-type]


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _count(value: object) -> int | None:
    whole = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return value if whole and isinstance(value, int) else None


def _strings(value: object) -> tuple[str, ...] | None:
    items = [value] if isinstance(value, str) else value
    if isinstance(items, Sequence) and items and all(isinstance(i, str) for i in items):
        return tuple(str(item) for item in items)
    return None


def _regex(value: object) -> re.Pattern[str] | None:
    try:
        return re.compile(value) if isinstance(value, str) else None
    except re.error:
        return None


def _headers(value: object) -> tuple[tuple[str, str], ...] | None:
    if isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values()):
        return tuple((str(name), text) for name, text in value.items())
    return None


_READERS: Mapping[str, tuple[Callable[[object], object], str]] = {
    **dict.fromkeys(_FLAGS, (_flag, "must be true or false")),
    **dict.fromkeys(_COUNTS, (_count, "must be a whole number of tokens")),
    **dict.fromkeys(_LISTS, (_strings, "must be a string or a list of strings")),
    "regex": (_regex, "must be a valid regular expression, as a string"),
    "headers": (_headers, "must map header names to exact values"),
}


def _condition(key: str, value: object, where: str, problems: list[str]) -> object:
    """One condition's value, checked; a problem is appended when it is wrong."""
    reader = _READERS.get(key)
    if reader is None:
        problems.append(f"{where} is not a condition (known: {', '.join(sorted(_READERS))})")
        return None
    read, problem = reader
    found = read(value)
    if found is None:
        problems.append(f"{where} {problem}")
    return found


def check_rule_destinations(
    rules: Sequence[ContentRule], workers: set[str], problems: list[str]
) -> None:
    """Report rules whose target names a worker that is not configured."""
    for rule in rules:
        if rule.target is not None and rule.target[0] not in workers:
            problems.append(f"content rule {rule.name!r}: no worker named {rule.target[0]!r}")
