"""Modules and functions stay small enough to read in one sitting.

Every module of the three packages is under 400 lines and every function under 60, so a
newcomer can hold one idea at a time; a unit that grows past either bound is split by idea.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("cortex", "actors", "supervisors")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (REPO / package).rglob("*.py"))


@pytest.mark.parametrize("module", modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_a_module_is_under_400_lines(module):
    lines = module.read_text().count("\n")
    assert lines < MAX_MODULE_LINES, f"{module.relative_to(REPO)} has {lines} lines"


@pytest.mark.parametrize("module", modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_function_of_a_module_is_under_60_lines(module):
    tree = ast.parse(module.read_text())
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 >= MAX_FUNCTION_LINES
    ]
    assert not long, f"{module.relative_to(REPO)}: {', '.join(long)}"


def test_the_checks_see_every_package():
    found = {p.relative_to(REPO).parts[0] for p in modules()}
    assert found == set(PACKAGES)
