"""What a provider worker is: its configuration, and the view of it the router reads.

A worker is one configured upstream (``groq``, ``ollama-1``, ...). Its configuration is
fixed while it runs. Its :class:`WorkerHealth` is what its provider actor decides, its
:class:`AttemptCounts` what the data plane counts, and its :class:`WorkerView` the
immutable snapshot of all three that the board hands to readers, so routing and the HTTP
status endpoints read worker state without a round trip through a mailbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from actors.breaker import Breaker
from actors.inventory import ModelInventory
from actors.outcomes import UpstreamFailure


class HealthStatus(StrEnum):
    """A worker's health as the router sees it."""

    AVAILABLE = "available"
    DEGRADED = "degraded"
    RATE_LIMITED = "rate_limited"
    QUOTA_EXCEEDED = "quota_exceeded"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """One configured worker. ``api_keys`` never appear in its repr.

    Attributes:
        name: unique worker name (``groq``, ``ollama-1``).
        type: provider type (``groq``, ``ollama``); the configuration layer checks it
            against its provider profiles and picks the wire format from it.
        base_url: where the provider's API lives.
        api_keys: keys that take turns (none for Ollama).
        models: models it serves; the first is its default.
        embedding_models: embedding models it serves (``POST /v1/embeddings``); the first
            is its default. A worker with none is never asked for embeddings.
        priority: lower is tried first by the ``priority`` strategy.
        timeout: seconds of silence allowed between chunks of a stream.
        first_token_timeout: seconds allowed before the first token (None: default).
        max_concurrent: attempts it may serve at once (None: unlimited).
        price: cost per million tokens for ``cost_optimized`` routing.
        supports_prefill: it can continue a partial assistant message, so a stream
            another worker dropped can be finished here.
        max_tokens: answer length asked for when the client names none (None: the
            provider's own default; Anthropic, which requires one, gets 1024).
        is_local: it runs on the user's own hardware (no per-token cost).
        needs_key: every request to it must carry an API key.
        similar_models: when no worker has a requested model, this one may answer with
            the closest model it has (Ollama: :mod:`actors.similar`).
        warm: models its provider actor loads at start and loads again whenever a probe
            finds one of them on disk but no longer in memory (Ollama).
        max_memory_mb: the memory its loaded models may take together, in MiB (Ollama:
            ``OLLAMA_MAX_MEMORY_MB`` unless the worker sets its own; see
            :mod:`actors.memory_budget`); None: no budget.
    """

    name: str
    type: str
    base_url: str
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    models: tuple[str, ...] = ()
    embedding_models: tuple[str, ...] = ()
    priority: int = 50
    timeout: float = 60.0
    first_token_timeout: float | None = None
    max_concurrent: int | None = None
    price: float | None = None
    supports_prefill: bool = False
    max_tokens: int | None = None
    is_local: bool = False
    needs_key: bool = True
    similar_models: bool = False
    warm: tuple[str, ...] = ()
    max_memory_mb: int | None = None

    @property
    def time_to_first_token(self) -> float:
        """Seconds allowed before the first token: configured, else 45 local, 30 cloud."""
        if self.first_token_timeout is not None:
            return self.first_token_timeout
        return 45.0 if self.is_local else 30.0

    @property
    def cost(self) -> float:
        """Price per million tokens for cost-optimised routing: local is free, unknown last."""
        if self.price is not None:
            return self.price
        return 0.0 if self.is_local else float("inf")


class PlanKind(StrEnum):
    """What a request asks of a worker; each kind has its own list of models per worker."""

    CHAT = "chat"
    EMBEDDINGS = "embeddings"


class AttemptOutcome(StrEnum):
    """How one upstream attempt ended, as the worker's counters see it."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CLIENT_ERROR = "client_error"
    CANCELLED = "cancelled"

    @classmethod
    def of(cls, failure: UpstreamFailure | None, *, cancelled: bool) -> AttemptOutcome:
        """Classify an attempt's end: the client leaving wins, then the failure's kind."""
        if cancelled:
            return cls.CANCELLED
        if failure is None:
            return cls.SUCCEEDED
        return cls.CLIENT_ERROR if failure.is_client_error else cls.FAILED


LATENCY_SMOOTHING = 0.3
"""Weight of the newest time to first token in the smoothed latency."""


@dataclass(frozen=True, slots=True)
class AttemptCounts:
    """A worker's attempt counters, kept by the data plane on the board.

    Every attempt that started is either still in flight or counted in exactly one of
    the outcome counters, so ``requests == in_flight + successes + failures +
    client_errors + cancelled`` holds at every instant.

    Attributes:
        in_flight: attempts under way right now.
        requests: attempts started.
        successes: attempts that completed.
        failures: attempts that failed upstream (the worker or its key was at fault).
        client_errors: attempts the upstream refused as the request's own fault.
        cancelled: attempts abandoned because the client went away.
        latency_ms: smoothed time to first token of recent successes, if any.
    """

    in_flight: int = 0
    requests: int = 0
    successes: int = 0
    failures: int = 0
    client_errors: int = 0
    cancelled: int = 0
    latency_ms: float | None = None

    def started(self) -> AttemptCounts:
        """The counts once one more attempt began."""
        return replace(self, in_flight=self.in_flight + 1, requests=self.requests + 1)

    def ended(self, outcome: AttemptOutcome, first_token_ms: float | None) -> AttemptCounts:
        """The counts once an attempt ended with ``outcome``.

        ``first_token_ms`` of a success is smoothed into the latency; other outcomes say
        nothing about how fast the worker answers.
        """
        in_flight = max(0, self.in_flight - 1)
        match outcome:
            case AttemptOutcome.SUCCEEDED:
                latency = self.latency_ms
                if first_token_ms is not None:
                    latency = (
                        first_token_ms
                        if latency is None
                        else latency + LATENCY_SMOOTHING * (first_token_ms - latency)
                    )
                return replace(
                    self, in_flight=in_flight, successes=self.successes + 1, latency_ms=latency
                )
            case AttemptOutcome.FAILED:
                return replace(self, in_flight=in_flight, failures=self.failures + 1)
            case AttemptOutcome.CLIENT_ERROR:
                return replace(self, in_flight=in_flight, client_errors=self.client_errors + 1)
            case AttemptOutcome.CANCELLED:
                return replace(self, in_flight=in_flight, cancelled=self.cancelled + 1)


@dataclass(frozen=True, slots=True)
class WorkerHealth:
    """What a worker's provider actor decides about it; published on the board.

    Attributes:
        status: current health.
        last_error: the last failure's description, never containing a secret.
        last_check: wall-clock time of the last health probe, if one finished.
        discovered_models: models the upstream listed at the last successful probe.
        breaker: the worker's circuit breaker.
        inventory: the models on disk and loaded, for a worker whose wire reports both
            (Ollama); None when unknown (another wire, or no successful probe yet).
    """

    status: HealthStatus = HealthStatus.AVAILABLE
    last_error: str | None = None
    last_check: float | None = None
    discovered_models: tuple[str, ...] = ()
    breaker: Breaker = field(default_factory=Breaker)
    inventory: ModelInventory | None = None


@dataclass(frozen=True, slots=True)
class WorkerView:
    """A worker's published state: configuration, its actor's health, the data plane's counts.

    The board composes it from the three, which have different writers (the registry,
    the provider actor, the attempts on the event loop), so each survives a crash of the
    others' writers. Attributes are those of :class:`WorkerConfig` (``config``),
    :class:`WorkerHealth` and :class:`AttemptCounts`, flattened for readers.
    """

    config: WorkerConfig
    status: HealthStatus = HealthStatus.AVAILABLE
    in_flight: int = 0
    requests: int = 0
    successes: int = 0
    failures: int = 0
    latency_ms: float | None = None
    last_error: str | None = None
    last_check: float | None = None
    discovered_models: tuple[str, ...] = ()
    breaker: Breaker = field(default_factory=Breaker)
    client_errors: int = 0
    cancelled: int = 0
    inventory: ModelInventory | None = None

    @classmethod
    def compose(
        cls, config: WorkerConfig, health: WorkerHealth, counts: AttemptCounts
    ) -> WorkerView:
        """One reader's snapshot of a worker from its three parts."""
        return cls(
            config=config,
            status=health.status,
            in_flight=counts.in_flight,
            requests=counts.requests,
            successes=counts.successes,
            failures=counts.failures,
            latency_ms=counts.latency_ms,
            last_error=health.last_error,
            last_check=health.last_check,
            discovered_models=health.discovered_models,
            breaker=health.breaker,
            client_errors=counts.client_errors,
            cancelled=counts.cancelled,
            inventory=health.inventory,
        )

    @property
    def name(self) -> str:
        """The worker's name."""
        return self.config.name

    @property
    def models(self) -> tuple[str, ...]:
        """Configured models first, then the chat models the upstream listed."""
        configured = self.config.models
        extra = tuple(
            m for m in self.discovered_models if m not in configured and not is_embedding_name(m)
        )
        return configured + extra

    def serving(self, kind: PlanKind) -> tuple[str, ...]:
        """The models it serves for requests of ``kind``, its default first."""
        return self.embedding_models if kind is PlanKind.EMBEDDINGS else self.models

    def serves(self, model: str, kind: PlanKind = PlanKind.CHAT) -> bool:
        """Whether a request of ``kind`` for ``model`` may go here without a pin.

        A worker that reports its inventory serves the chat models it holds (a configured
        model that is not on disk would only answer 404); any other serves its listed
        models of that kind.
        """
        if kind is PlanKind.CHAT and self.inventory is not None:
            return self.inventory.has(model)
        return model in self.serving(kind)

    @property
    def embedding_models(self) -> tuple[str, ...]:
        """Configured embedding models first, then the embedding models the upstream listed.

        A worker with neither is chat-only and is never asked for embeddings.
        """
        configured = self.config.embedding_models
        extra = tuple(
            m for m in self.discovered_models if m not in configured and is_embedding_name(m)
        )
        return configured + extra


def is_embedding_name(model: str) -> bool:
    """Whether a listed model name is an embedding model (``text-embedding-3-small``).

    Listings carry no model kind on most wires, and every embedding family the providers
    list has "embed" in its name (``gemini-embedding-001``, ``embed-v4.0``,
    ``nomic-embed-text``).
    """
    return "embed" in model.lower()
