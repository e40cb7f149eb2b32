"""Reading model routes from configuration (``CORTEX_ROUTES`` or the ``[routes]`` table).

A route maps a public model name to an ordered chain of ``worker/model`` targets::

    CORTEX_ROUTES='{"smart": ["anthropic/claude-sonnet-4", "openai/gpt-4o"]}'

or, with fallbacks for provider error codes that would otherwise fail the request::

    {"smart": {"targets": ["openai/gpt-4o-mini"],
               "fallbacks": {"context_length_exceeded": "openai/gpt-4o"},
               "continuation": false}}

``continuation`` overrides ``CORTEX_CONTINUATION`` for the route: whether a stream that
breaks mid-answer may be continued by the next prefill-capable target. ``content_rules``
(false by default) offers a request for the route to the content rules first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from actors.planning import Route
from cortex.config.check import ReadKeys, unknown_keys


def parse_routes(
    env_value: str | None, file_table: Mapping[str, object], problems: list[str]
) -> dict[str, Route]:
    """Routes from the config file, overridden by ``CORTEX_ROUTES``; problems are appended."""
    raw: dict[str, object] = dict(file_table)
    if env_value and env_value.strip():
        try:
            parsed = json.loads(env_value)
        except json.JSONDecodeError as exc:
            problems.append(f"CORTEX_ROUTES is not valid JSON: {exc.msg} at {exc.pos}")
            parsed = {}
        if isinstance(parsed, dict):
            raw.update(parsed)
        else:
            problems.append("CORTEX_ROUTES must be a JSON object of model name -> targets")
    routes: dict[str, Route] = {}
    for name, entry in raw.items():
        route = _route(name, entry, problems)
        if route is not None:
            routes[name] = route
    return routes


def _route(name: str, entry: object, problems: list[str]) -> Route | None:
    where = f"route {name!r}"
    targets_raw: object = entry
    fallbacks_raw: object = {}
    continuation: object = None
    content_rules: object = False
    if isinstance(entry, Mapping):
        table = ReadKeys(entry)
        targets_raw = table.get("targets")
        fallbacks_raw = table.get("fallbacks", {})
        continuation = table.get("continuation")
        content_rules = table.get("content_rules", False)
        unknown = unknown_keys(where, table)
        if unknown:
            problems.extend(unknown)
            return None
    if continuation is not None and not isinstance(continuation, bool):
        problems.append(f"{where}: continuation must be true or false")
        return None
    if not isinstance(content_rules, bool):
        problems.append(f"{where}: content_rules must be true or false")
        return None
    if not isinstance(targets_raw, list) or not targets_raw:
        problems.append(f"{where}: needs a non-empty list of 'worker/model' targets")
        return None
    targets = [read_target(t, where, problems) for t in targets_raw]
    if not isinstance(fallbacks_raw, Mapping):
        problems.append(f"{where}: fallbacks must map an error code to a 'worker/model' target")
        fallbacks_raw = {}
    fallbacks = {str(code): read_target(t, where, problems) for code, t in fallbacks_raw.items()}
    if any(t is None for t in targets) or any(t is None for t in fallbacks.values()):
        return None
    return Route(
        name=name,
        targets=tuple(t for t in targets if t is not None),
        fallbacks={code: t for code, t in fallbacks.items() if t is not None},
        continuation=continuation,
        content_rules=content_rules,
    )


def read_target(raw: object, where: str, problems: list[str]) -> tuple[str, str] | None:
    """A ``worker/model`` target as ``(worker, model)``; None with a problem if malformed."""
    if isinstance(raw, str):
        worker, slash, model = raw.partition("/")
        if slash and worker and model:
            return worker, model
    problems.append(f"{where}: target {raw!r} must look like 'worker/model'")
    return None


def check_route_workers(
    routes: Mapping[str, Route], workers: set[str], problems: list[str]
) -> None:
    """Report targets naming workers that are not configured."""
    for route in routes.values():
        named = {w for w, _ in route.targets} | {w for w, _ in route.fallbacks.values()}
        for worker in sorted(named - workers):
            problems.append(f"route {route.name!r}: no worker named {worker!r}")
