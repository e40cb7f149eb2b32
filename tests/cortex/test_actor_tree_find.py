"""find_node: a bare name finds the shallowest node, ``supervisor/child`` that child."""

from __future__ import annotations

import pytest

from cortex.observability.actor_tree import find_node

TREE = {
    "name": "root",
    "children": [
        {"name": "keys"},
        {
            "name": "providers",
            "children": [{"name": "cache", "kind": "worker"}, {"name": "groq", "kind": "worker"}],
        },
        {"name": "cache", "kind": "core"},
    ],
}


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("root", ("root", None)),
        ("cache", ("cache", "core")),
        ("providers/cache", ("cache", "worker")),
        ("groq", ("groq", "worker")),
        ("providers/groq", ("groq", "worker")),
        ("providers/keys", None),
        ("keys/cache", None),
        ("nobody", None),
        ("nobody/cache", None),
    ],
)
def test_find_node(name: str, found: tuple[str, str | None] | None) -> None:
    node = find_node(TREE, name)

    assert (None if node is None else (node["name"], node.get("kind"))) == found
