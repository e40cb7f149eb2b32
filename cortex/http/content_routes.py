"""Content routing at the front: reroute a chat call by its content, say so, explain it.

The rules in force (a reload swaps them) are applied to each chat call once its pin is
settled (:func:`reroute`); the rule that decided is named in the ``X-Cortex-Route``
response header (:func:`name_route`, on every response of the request, streamed or not,
called by the request's door as the response is prepared)
and the access log. ``POST /admin/route/explain`` (:func:`cortex.http.admin.explain_route`)
takes a chat body and answers the rule that matches and the plan it would walk.
"""

from __future__ import annotations

import dataclasses

from aiohttp import web

from cortex.cache.terms import CLIENT_PARTITION
from cortex.config.content_rules import ContentRule
from cortex.config.runtime import RUNTIME
from cortex.dataplane.content_routing import (
    ROUTE_HEADER,
    Asker,
    applies,
    first_match,
    route_header,
    routed,
)
from cortex.http.schemas import ChatCall
from cortex.observability.observe import current_record

RULE_KEY = web.RequestKey("cortex.content_rule", ContentRule)


def reroute(request: web.Request, call: ChatCall) -> ChatCall:
    """The call as the content rules send it; the deciding rule is noted on the request."""
    settings = request.app[RUNTIME].settings
    if not settings.content_rules:
        return call
    opted_in = {name for name, route in settings.routes.items() if route.content_rules}
    if not applies(call.request, opted_in):
        return call
    asker = Asker(request.get(CLIENT_PARTITION), request.headers)
    rule = first_match(settings.content_rules, call.request, asker)
    if rule is None:
        return call
    request[RULE_KEY] = rule
    if (record := current_record()) is not None:
        record.route_rule = route_header(rule)
    return dataclasses.replace(call, request=routed(call.request, rule))


def name_route(request: web.Request, response: web.StreamResponse) -> None:
    """Name the deciding rule in ``X-Cortex-Route`` (as the response is prepared)."""
    rule = request.get(RULE_KEY)
    if rule is not None:
        response.headers[ROUTE_HEADER] = route_header(rule)
