"""The closest present model by family and size: a table of requests and what stands in."""

from __future__ import annotations

import pytest

from actors.similar import closest_model


@pytest.mark.parametrize(
    ("requested", "available", "expected"),
    [
        # The order: llama3.1:8b -> llama3.1:latest -> llama3:8b.
        ("llama3.1:8b", ["llama3:8b", "llama3.1:latest"], "llama3.1:latest"),
        ("llama3.1:8b", ["llama3:8b", "llama3.1:70b"], "llama3:8b"),
        ("llama3.1:8b", ["llama3.1:70b", "llama3.2:1b"], "llama3.1:70b"),
        # Another version in another size: nearest version first, then size.
        ("llama3.1:8b", ["llama2:7b", "llama3.2:3b"], "llama3.2:3b"),
        # The same size in two other versions: the nearer, the newer on a tie.
        ("llama3.1:8b", ["llama2:8b", "llama3:8b"], "llama3:8b"),
        ("llama3.1:8b", ["llama3.0:8b", "llama3.2:8b"], "llama3.2:8b"),
        # Nearest size within one base.
        ("qwen2.5:7b", ["qwen2.5:0.5b", "qwen2.5:14b"], "qwen2.5:14b"),
        ("qwen2.5:1.5b", ["qwen2.5:0.5b", "qwen2.5:14b"], "qwen2.5:0.5b"),
        # Size tags with a suffix.
        ("llama3.1:8b", ["llama3:8b-instruct-q4_0", "llama3:70b"], "llama3:8b-instruct-q4_0"),
        # No tag means latest; a sized model of the same base stands in.
        ("llama3.1", ["llama3.1:8b"], "llama3.1:8b"),
        ("llama3", ["llama3:latest"], "llama3:latest"),
        # Never across families or variants.
        ("qwen2.5:7b", ["llama3.1:8b", "mistral:7b"], None),
        ("qwen2.5-coder:7b", ["qwen2.5:7b"], None),
        ("llama3.2-vision:11b", ["llama3.2:3b"], None),
        ("mistral:7b", [], None),
    ],
)
def test_closest_model(requested: str, available: list[str], expected: str | None) -> None:
    assert closest_model(requested, available) == expected


def test_the_choice_does_not_depend_on_listing_order() -> None:
    models = ["llama3:8b", "llama3.2:8b", "llama3.0:8b", "llama3.1:70b"]
    assert closest_model("llama3.1:8b", models) == closest_model("llama3.1:8b", models[::-1])
