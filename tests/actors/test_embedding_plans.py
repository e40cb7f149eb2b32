"""Planning embeddings: a worker's embedding models, configured and discovered."""

from __future__ import annotations

import pytest

from actors.planning import (
    NO_MODELS,
    NoRouteForModel,
    NoWorkerAvailable,
    PlanContext,
    Route,
    RoutingStrategy,
    build_plan,
)
from actors.workers import PlanKind, WorkerConfig, WorkerView

EMBEDDINGS = PlanKind.EMBEDDINGS
PRIORITY = RoutingStrategy.PRIORITY


def view(
    name: str,
    *,
    models: tuple[str, ...] = ("chat-model",),
    embedding: tuple[str, ...] = (),
    discovered: tuple[str, ...] = (),
    priority: int = 1,
) -> WorkerView:
    config = WorkerConfig(
        name=name,
        type="openai",
        base_url="http://upstream",
        models=models,
        embedding_models=embedding,
        priority=priority,
    )
    return WorkerView(config=config, discovered_models=discovered)


FLEET = [
    view("chat-only", priority=0),
    view("small", embedding=("text-embedding-3-small",), priority=1),
    view("both", embedding=("text-embedding-3-large", "text-embedding-3-small"), priority=2),
]


def workers(model: str | None, **kwargs: object) -> list[tuple[str, str]]:
    plan = build_plan(FLEET, model, PRIORITY, kind=EMBEDDINGS, **kwargs)  # type: ignore[arg-type]
    return [(c.worker, c.model) for c in plan]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (None, [("small", "text-embedding-3-small"), ("both", "text-embedding-3-large")]),
        ("auto", [("small", "text-embedding-3-small"), ("both", "text-embedding-3-large")]),
        (
            "text-embedding-3-small",
            [("small", "text-embedding-3-small"), ("both", "text-embedding-3-small")],
        ),
        ("text-embedding-3-large", [("both", "text-embedding-3-large")]),
    ],
)
def test_embeddings_go_to_the_workers_that_list_the_model(
    model: str | None, expected: list[tuple[str, str]]
) -> None:
    assert workers(model) == expected


def test_a_chat_model_is_no_embedding_model() -> None:
    with pytest.raises(NoRouteForModel):
        workers("chat-model")


def test_a_chat_request_never_sees_embedding_models() -> None:
    with pytest.raises(NoRouteForModel):
        build_plan(FLEET, "text-embedding-3-small", PRIORITY)


def test_a_pin_without_a_model_takes_the_workers_default_embedding_model() -> None:
    assert workers(None, pin="both") == [("both", "text-embedding-3-large")]
    with pytest.raises(NoWorkerAvailable) as caught:
        workers(None, pin="chat-only")
    assert caught.value.reasons == {"chat-only": NO_MODELS}


def test_a_route_may_name_embedding_models() -> None:
    route = Route(
        "vectors", (("both", "text-embedding-3-small"), ("small", "text-embedding-3-small"))
    )
    context = PlanContext(routes={"vectors": route})
    assert workers("vectors", context=context) == [
        ("both", "text-embedding-3-small"),
        ("small", "text-embedding-3-small"),
    ]


def test_discovered_embed_models_are_embedding_models_not_chat_models() -> None:
    found = view(
        "found", models=(), discovered=("gpt-4o", "text-embedding-3-small", "nomic-embed-text")
    )
    assert found.models == ("gpt-4o",)
    assert found.embedding_models == ("text-embedding-3-small", "nomic-embed-text")
    configured = view("set", embedding=("mine",), discovered=("mine", "gemini-embedding-001"))
    assert configured.embedding_models == ("mine", "gemini-embedding-001")
