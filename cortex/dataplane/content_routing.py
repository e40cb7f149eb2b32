"""Content-based routing: the first content rule whose conditions hold decides where a request goes.

Rules (:mod:`cortex.config.content_rules`) apply to a request for ``auto`` and to a request
for a route that opts in with ``"content_rules": true``; a pinned request (a
``worker/model`` model or a ``provider`` field) is never rerouted. A matching rule replaces
the request's model with its route (or model), or pins it to its target; the decision is
named in the ``X-Cortex-Route`` response header and the access log, and
``POST /admin/route/explain`` shows it with the plan it leads to.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from actors.planning import AUTO_MODEL
from cortex.chat import ChatRequest
from cortex.config.content_rules import Conditions, ContentRule
from cortex.dataplane import conditions as check

ROUTE_HEADER = "X-Cortex-Route"


@dataclass(frozen=True, slots=True)
class Asker:
    """Who sent the request, for the conditions that look beyond its body."""

    key_id: str | None = None
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)


def holds(when: Conditions, request: ChatRequest, asker: Asker) -> bool:
    """Whether every condition of ``when`` holds for the request (cheap ones first)."""
    tokens = None
    if when.min_prompt_tokens is not None or when.max_prompt_tokens is not None:
        tokens = check.prompt_tokens(request)
    flags = (
        (when.has_images, check.has_images),
        (when.has_tools, check.has_tools),
        (when.structured_output, check.wants_structured_output),
        (when.has_code, check.has_code),
    )
    return (
        (when.min_prompt_tokens is None or (tokens or 0) >= when.min_prompt_tokens)
        and (when.max_prompt_tokens is None or (tokens or 0) <= when.max_prompt_tokens)
        and (not when.gateway_keys or check.from_key(asker.key_id, when.gateway_keys))
        and (not when.headers or check.has_headers(asker.headers, when.headers))
        and all(wanted is None or test(request) is wanted for wanted, test in flags)
        and (not when.keywords or check.mentions(request, when.keywords))
        and (when.regex is None or check.matches(request, when.regex))
        and (not when.language or check.language(request) in when.language)
    )


def first_match(
    rules: Sequence[ContentRule], request: ChatRequest, asker: Asker
) -> ContentRule | None:
    """The first rule whose conditions all hold, if any."""
    return next((rule for rule in rules if holds(rule.when, request, asker)), None)


def applies(request: ChatRequest, opted_in: Collection[str]) -> bool:
    """Whether rules may reroute the request: ``auto``, or a route that opted in, unpinned."""
    if request.pin is not None:
        return False
    return request.model in (None, AUTO_MODEL) or request.model in opted_in


def routed(request: ChatRequest, rule: ContentRule) -> ChatRequest:
    """The request as the rule sends it: to its route or model, or pinned to its target."""
    if rule.target is not None:
        worker, model = rule.target
        return dataclasses.replace(request, pin=worker, model=model)
    return dataclasses.replace(request, model=rule.route)


def route_header(rule: ContentRule) -> str:
    """``X-Cortex-Route``: the rule's name and where it sent the request."""
    return f"{rule.name} -> {rule.destination}"


__all__ = ["ROUTE_HEADER", "Asker", "applies", "first_match", "holds", "route_header", "routed"]
