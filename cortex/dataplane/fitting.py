"""Which workers of a plan can honour a request, and what the answering one leaves out.

A request that asks for tools, structured output, images or several choices must not
reach a worker whose wire cannot carry them: such a worker leaves the plan, and when none
is left the client gets a 400 naming the fields and the workers considered. What only
tunes the answer is left out by the worker that answers and named in the answer's
``X-Cortex-Dropped-Params`` header (and the access log); ``strict`` (``CORTEX_STRICT_PARAMS``)
treats those as unmet too.
"""

from __future__ import annotations

import dataclasses

from actors.planning import Candidate, Plan
from cortex.chat import ChatRequest
from cortex.errors import BadRequest
from cortex.providers.base import Target
from cortex.providers.capabilities import Fit
from cortex.providers.catalog import adapter_for
from cortex.providers.embeddings import embedding_wire_for

_CHECK_TARGET = Target("http://translation.check.invalid", "model")


def worker_fit(provider_type: str, request: ChatRequest, *, strict: bool = False) -> Fit:
    """How ``request`` fits one provider type's wire.

    A request carrying tool calls or images is also translated once, so content the wire
    refuses (tool-call arguments that are not a JSON object, an image type the provider
    does not take) counts as unmet here rather than failing an attempt upstream.
    """
    adapter = adapter_for(provider_type)
    found = adapter.fit(request)
    if strict:
        found = found.strict()
    if not found.unmet and _carries_content(request):
        try:
            adapter.chat_call(_CHECK_TARGET, request, stream=True)
        except ValueError as exc:
            return Fit((str(exc),), found.dropped)
    return found


def _may_be_unmet(request: ChatRequest) -> bool:
    """Whether the request asks for anything some wire might not honour."""
    return bool(
        request.tools
        or request.response_format is not None
        or request.n > 1
        or _carries_content(request)
    )


def _carries_content(request: ChatRequest) -> bool:
    """Whether the request holds content some wire may refuse: images, calls, results, or
    what only the client's own wire carries (:attr:`~cortex.chat.NativeBody.untranslated`)."""
    if request.native is not None and request.native.untranslated:
        return True
    return any(m.parts or m.tool_calls or m.tool_call_id for m in request.messages)


def fitted(plan: Plan, request: ChatRequest, *, strict: bool = False) -> Plan:
    """The plan without the workers that cannot honour ``request``.

    Raises:
        BadRequest: no worker of the plan can (``unsupported_parameter``), naming what each
            worker considered could not honour.
    """
    if not strict and not _may_be_unmet(request):
        return plan  # plain text: every wire carries it (the common case, kept cheap)
    fits: dict[str, Fit] = {}

    def fits_request(candidate: Candidate) -> bool:
        if candidate.type not in fits:
            fits[candidate.type] = worker_fit(candidate.type, request, strict=strict)
        return not fits[candidate.type].unmet

    kept = tuple(candidate for candidate in plan.candidates if fits_request(candidate))
    if plan.candidates and not kept:
        reasons = "; ".join(
            f"{c.worker} ({c.type}): {', '.join(fits[c.type].unmet)}" for c in plan.candidates
        )
        raise BadRequest(
            f"no worker can honour this request: {reasons}", code="unsupported_parameter"
        )
    if len(kept) == len(plan.candidates) and all(map(fits_request, plan.fallbacks.values())):
        return plan
    fallbacks = {code: c for code, c in plan.fallbacks.items() if fits_request(c)}
    return dataclasses.replace(plan, candidates=kept, fallbacks=fallbacks)


def embeddable(plan: Plan) -> Plan:
    """The plan without the workers whose API has no embeddings endpoint (Anthropic).

    The pool plans embeddings from the workers' embedding models, so only a pin can bring
    such a worker here.

    Raises:
        BadRequest: no worker of the plan has one (``unsupported_endpoint``).
    """
    kept = tuple(c for c in plan.candidates if embedding_wire_for(c.type) is not None)
    if plan.candidates and not kept:
        named = ", ".join(f"{c.worker} ({c.type})" for c in plan.candidates)
        raise BadRequest(f"no embeddings endpoint on {named}", code="unsupported_endpoint")
    return dataclasses.replace(plan, candidates=kept, fallbacks={})


__all__ = ["embeddable", "fitted", "worker_fit"]
