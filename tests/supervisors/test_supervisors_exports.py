"""Keeps supervisors.__all__ honest (httpx's test_exported_members)."""

from __future__ import annotations

import supervisors


def test_every_name_in_all_is_exported() -> None:
    assert all(hasattr(supervisors, name) for name in supervisors.__all__)


def test_every_public_exported_class_and_function_is_listed_in_all() -> None:
    public = {
        name
        for name, value in vars(supervisors).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("supervisors.")
    }

    assert public <= set(supervisors.__all__)
