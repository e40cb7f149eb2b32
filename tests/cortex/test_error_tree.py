"""Every gateway error lives in ``cortex/errors.py`` and appears in its drawn tree."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import cortex
from cortex import errors
from cortex.errors import GatewayError


def _all_subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_all_subclasses(sub)}
    return found


def _import_every_cortex_module() -> None:
    for info in pkgutil.walk_packages(cortex.__path__, "cortex."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)


def test_every_gateway_error_is_defined_in_the_errors_module():
    _import_every_cortex_module()
    outside = {
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _all_subclasses(GatewayError)
        if cls.__module__ != errors.__name__
    }
    assert outside == set()


@pytest.mark.parametrize(
    "cls",
    sorted(
        (c for c in _all_subclasses(GatewayError) if not c.__name__.startswith("_")),
        key=lambda c: c.__name__,
    ),
    ids=lambda c: c.__name__,
)
def test_every_public_error_is_drawn_with_its_status(cls):
    doc = errors.__doc__ or ""
    if cls is errors.ListsProblems:
        assert "ListsProblems" in doc
        return
    drawn = re.search(rf"── {cls.__name__}\s+(\d{{3}})", doc)
    assert drawn is not None, f"{cls.__name__} is not in the drawn tree"
    assert int(drawn.group(1)) == cls.status
