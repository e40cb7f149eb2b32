"""The closest present model to one that no instance has, by family and size.

An Ollama name is ``<base>:<tag>``: the base carries the family and its version
(``llama3.1``, ``qwen2.5-coder``), the tag usually the parameter count (``8b``,
``0.5b``, ``8b-instruct-q4_0``) or ``latest``. Only a model of the same *lineage* (the
base without its version numbers: ``llama``, ``qwen-coder``) stands in for another: a
coder model is never swapped for a chat model, nor one family for another. Among those,
in this order of preference:

1. the same base tagged ``latest`` (``llama3.1:8b`` -> ``llama3.1:latest``);
2. another version of the same size (``llama3.1:8b`` -> ``llama3:8b``), nearest version
   first, the newer on a tie;
3. the same base in another size (``llama3.1:8b`` -> ``llama3.1:70b``), nearest size first;
4. another version in another size, nearest version first, then nearest size.

Ties end in name order, so the choice never depends on the order instances are listed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from actors.inventory import canonical

_VERSION = re.compile(r"\d+(?:\.\d+)*")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)b(?![a-z])", re.IGNORECASE)
_FAR = 1_000.0  # the distance between a known and an unknown size, or version


@dataclass(frozen=True, slots=True)
class _Name:
    """A model name read into the parts similarity looks at."""

    full: str
    base: str
    tag: str
    lineage: str
    version: tuple[int, ...]
    billions: float | None

    @classmethod
    def read(cls, model: str) -> _Name:
        full = canonical(model)
        base, tag = full.rsplit("/", 1)[-1].rsplit(":", 1)
        found = _VERSION.search(base)
        version = tuple(int(p) for p in found.group(0).split(".")) if found else ()
        size = _SIZE.match(tag)
        return cls(
            full=full,
            base=base.lower(),
            tag=tag.lower(),
            lineage=_VERSION.sub("", base).lower(),
            version=version,
            billions=float(size.group(1)) if size else None,
        )


def _size_distance(a: float | None, b: float | None) -> float:
    if a is None or b is None:
        return 0.0 if a is b else _FAR
    return abs(math.log(a / b)) if a > 0 and b > 0 else _FAR


def _version_distance(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[float, ...]:
    """How far apart two versions are, major part first; newer wins a tie (negated)."""
    if not a or not b:
        return (_FAR,)
    width = max(len(a), len(b))
    left, right = a + (0,) * (width - len(a)), b + (0,) * (width - len(b))
    return (*(abs(x - y) for x, y in zip(left, right, strict=True)), -sum(right))


_Rank = tuple[int, tuple[float, ...], float, str]


def _rank(wanted: _Name, present: _Name) -> _Rank | None:
    """How good a stand-in ``present`` is for ``wanted`` (lower is better); None: none.

    A rank is (preference tier, version distance, size distance, name).
    """
    if present.full == wanted.full:
        return (-1, (), 0.0, present.full)
    if present.lineage != wanted.lineage or not wanted.lineage:
        return None
    same_base = present.base == wanted.base
    sizes = _size_distance(wanted.billions, present.billions)
    versions = _version_distance(wanted.version, present.version)
    if same_base and present.tag == "latest":
        return (0, (), 0.0, present.full)
    if not same_base and sizes == 0.0:
        return (1, versions, 0.0, present.full)
    if same_base:
        return (2, (), sizes, present.full)
    return (3, versions, sizes, present.full)


def closest_model(requested: str, available: Iterable[str]) -> str | None:
    """The model of ``available`` that best stands in for ``requested``, if any does.

    Args:
        requested: the model the client asked for.
        available: the models present on the instances that allow a substitute.

    Returns:
        The chosen name as ``available`` spells it, or None when none is of the same
        lineage.
    """
    wanted = _Name.read(requested)
    ranked = [
        (rank, model)
        for model in available
        if (rank := _rank(wanted, _Name.read(model))) is not None
    ]
    return min(ranked)[1] if ranked else None
