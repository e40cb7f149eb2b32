"""What the response cache may do with a request: its key, the policy and the client's say.

Pure functions over validated requests, so every rule is tested without a server.

* **Key.** A SHA-256 over a canonical JSON of everything that determines the answer: the
  messages (role and text; content parts are already joined by the schema, so the same
  prompt sent as a string or as text parts gets the same key), the model as resolved,
  temperature, top_p, max tokens, stop sequences, and the body's ``tools``,
  ``tool_choice`` and ``response_format`` as sent. JSON formatting and field order never
  change a key. The model is resolved the way the router resolves it, from the settings
  in force: a configured route stands for its chain of ``worker/model`` targets (so a
  reload that points ``smart`` elsewhere never replays the old model's answers), a
  pin stands for its worker and the model asked of it, and ``auto`` (or no model) stands for
  "whichever worker the routing strategy picks", so the effective strategy is part of it.
* **Partition.** Answers are shared only among requests let in with the same gateway key:
  its id is part of the key, so one client never gets another's answer, nor learns from
  ``X-Cortex-Cache: hit`` what another asked. Without gateway keys there is one client;
  ``CORTEX_CACHE_SHARED`` shares answers across keys (one tenant with several keys).
* **Policy.** Only deterministic requests are cached by default: ``temperature`` set to 0.
  An absent temperature means the provider's default, which is above 0 everywhere, so it
  counts as non-deterministic. ``CORTEX_CACHE_NONDETERMINISTIC`` caches those too.
* **Embeddings** are keyed apart (:func:`embedding_terms`) and always cached while the
  cache is on: a model gives the same vectors for the same text.
* **Client controls.** ``Cache-Control: no-cache`` skips the lookup (a fresh answer,
  still stored), ``no-store`` keeps the answer out of the cache, and a body field
  ``"cache": false`` does both.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiohttp import web

from actors.planning import Route, RoutingStrategy
from actors.response_store import CacheLimits
from cortex.chat import ChatRequest, EmbeddingRequest, Message
from cortex.errors import BadRequest
from cortex.http.schemas import Addressed, ChatCall

HEADER = "X-Cortex-Cache"
KEY_VERSION = 3
AUTO_MODEL = "auto"
KEYED_APART = frozenset(
    {
        "messages",
        "model",
        "provider",
        "strategy",
        "stream",
        "stream_options",
        "cache",
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "user",
        "metadata",
        "store",
        "service_tier",
    }
)
"""Body fields keyed from the validated request, or that do not change the answer."""
CLIENT_PARTITION = web.RequestKey("cortex.client_partition", str)
"""The id of the gateway key a request was let in with, set by client authentication."""


class CacheStatus(StrEnum):
    """How the cache took part in one answer; sent as ``X-Cortex-Cache``."""

    HIT = "hit"  # replayed from the cache (or from an identical answer that just finished)
    MISS = "miss"  # went upstream; stored if it finishes successfully
    COALESCED = "coalesced"  # shared an identical request's upstream answer as it arrived
    BYPASS = "bypass"  # not cacheable (non-deterministic, or the client opted out)


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """The response cache's configuration.

    Attributes:
        enabled: whether the cache takes part at all (``CORTEX_CACHE_ENABLED``).
        ttl: seconds an answer stays valid (``CORTEX_CACHE_TTL``).
        max_entries: most answers kept (``CORTEX_CACHE_MAX_ENTRIES``).
        max_bytes: most answer bytes kept (``CORTEX_CACHE_MAX_BYTES``).
        nondeterministic: also cache requests whose temperature is not 0
            (``CORTEX_CACHE_NONDETERMINISTIC``).
        coalesce: let identical requests share one upstream answer while it is in
            flight (``CORTEX_CACHE_COALESCE``).
        shared: share answers across gateway keys instead of keeping one partition per
            key (``CORTEX_CACHE_SHARED``).
    """

    enabled: bool = True
    ttl: float = 300.0
    max_entries: int = 1000
    max_bytes: int = 33_554_432
    nondeterministic: bool = False
    coalesce: bool = True
    shared: bool = False

    @property
    def limits(self) -> CacheLimits:
        """The bounds of the store."""
        return CacheLimits(ttl=self.ttl, max_entries=self.max_entries, max_bytes=self.max_bytes)

    def caches(self, request: ChatRequest) -> bool:
        """Whether answers to ``request`` may be cached at all."""
        deterministic = request.temperature is not None and request.temperature == 0.0
        return self.enabled and (deterministic or self.nondeterministic)


@dataclass(frozen=True, slots=True)
class CacheControls:
    """What one client allowed: look the answer up, and store a fresh one."""

    lookup: bool = True
    store: bool = True

    @property
    def bypass(self) -> bool:
        """The client opted out of the cache entirely."""
        return not (self.lookup or self.store)


def read_controls(headers: Mapping[str, str], body: Mapping[str, Any]) -> CacheControls:
    """Read ``Cache-Control`` and the body's ``cache`` field.

    Raises:
        BadRequest: ``cache`` is present but not a boolean.
    """
    field = body.get("cache")
    if field is not None and not isinstance(field, bool):
        raise BadRequest("'cache' must be of type boolean", code="invalid_value")
    directives = {
        part.split("=", 1)[0].strip().lower()
        for part in headers.get("Cache-Control", "").split(",")
    }
    allowed = field is not False
    return CacheControls(
        lookup=allowed and "no-cache" not in directives,
        store=allowed and "no-store" not in directives,
    )


@dataclass(frozen=True, slots=True)
class CacheTerms:
    """One request as the cache sees it: its key and what its client allowed."""

    key: str
    controls: CacheControls = field(default_factory=CacheControls)


def read_terms(
    call: ChatCall,
    headers: Mapping[str, str],
    body: Mapping[str, Any],
    *,
    routes: Mapping[str, Route],
    default_strategy: RoutingStrategy | None,
    partition: str | None = None,
) -> CacheTerms:
    """The cache key and the client's controls of one validated chat call.

    Args:
        call: the validated call, with its pin already settled (see ``pin_provider``).
        headers: the request's headers (``Cache-Control``).
        body: the request's JSON body (``cache``, and every field that shapes the answer
            beyond the validated request: tools, response format, seed, ...).
        routes: the model routes in force.
        default_strategy: the routing strategy in force when the call names none.
        partition: whose answers this request may share (see :data:`CLIENT_PARTITION`);
            None shares with every client.

    Raises:
        BadRequest: ``cache`` is not a boolean, or an answer field cannot be keyed.
    """
    controls = read_controls(headers, body)
    extras = {
        name: value for name, value in body.items() if name not in KEYED_APART and value is not None
    }
    strategy = call.strategy or default_strategy
    key = cache_key(call.request, strategy, routes=routes, extras=extras, partition=partition)
    return CacheTerms(key, controls)


def _message_terms(message: Message) -> list[object]:
    """Everything of one message that shapes the answer: text, images, calls, results."""
    terms: list[object] = [message.role, message.content]
    if message.parts or message.tool_calls or message.tool_call_id or message.name:
        terms.append([[type(part).__name__, *dataclasses.astuple(part)] for part in message.parts])
        terms.append([[c.id, c.name, c.arguments] for c in message.tool_calls])
        terms.extend([message.tool_call_id, message.name])
    return terms


def resolved_model(
    request: Addressed, strategy: RoutingStrategy | None, routes: Mapping[str, Route]
) -> list[object]:
    """What the router will ask for, in the order the router resolves it (pin, then routes)."""
    model = request.model
    if request.pin is not None:
        return ["pin", request.pin, None if model == AUTO_MODEL else model]
    if not model or model == AUTO_MODEL:
        return [AUTO_MODEL, strategy.value if strategy is not None else None]
    route = routes.get(model)
    if route is None:
        return ["model", model]
    fallbacks = sorted([code, list(target)] for code, target in route.fallbacks.items())
    return ["route", [list(target) for target in route.targets], fallbacks]


def cache_key(
    request: ChatRequest,
    strategy: RoutingStrategy | None,
    *,
    routes: Mapping[str, Route] | None = None,
    extras: Mapping[str, object] | None = None,
    partition: str | None = None,
) -> str:
    """The stable key of everything that determines ``request``'s answer.

    Args:
        request: the validated request.
        strategy: the effective routing strategy (it decides who answers ``auto``).
        routes: the model routes in force.
        extras: the body's other fields (tools, response format, seed, ...), as sent.
        partition: whose answers the request may share; None for everyone's.

    Raises:
        BadRequest: an extra field is nested too deeply to be encoded again.
    """
    canonical = {
        "v": KEY_VERSION,
        "messages": [_message_terms(m) for m in request.messages],
        "model": resolved_model(request, strategy, routes or {}),
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_tokens,
        "stop": list(request.stop),
        "extras": dict(extras or {}),
        "partition": partition,
    }
    try:
        # ASCII escapes keep lone surrogates (valid in JSON input) encodable.
        text = json.dumps(canonical, separators=(",", ":"), sort_keys=True)
    except RecursionError:
        # The body parsed at the parser's depth limit, but the handler's stack is deeper.
        raise BadRequest("request body is nested too deeply", code="invalid_json") from None
    return hashlib.sha256(text.encode()).hexdigest()


def embedding_terms(
    request: EmbeddingRequest,
    strategy: RoutingStrategy | None,
    controls: CacheControls,
    *,
    routes: Mapping[str, Route],
    partition: str | None = None,
) -> CacheTerms:
    """The cache key of an embeddings request: its inputs, model as resolved and dimensions.

    The encoding the client asked for is not part of it: vectors are kept as floats and
    packed as the client asks when the response is rendered, so a float and a base64
    request for the same inputs share one entry. ``user`` does not change a vector.
    """
    canonical = {
        "v": KEY_VERSION,
        "kind": "embeddings",
        "inputs": list(request.inputs),
        "model": resolved_model(request, strategy, routes),
        "dimensions": request.dimensions,
        "partition": partition,
    }
    text = json.dumps(canonical, separators=(",", ":"), sort_keys=True)
    return CacheTerms(hashlib.sha256(text.encode()).hexdigest(), controls)
