"""The layers stay apart: one crossing into Pykka, and the actors never import the app.

Only ``cortex/crossing.py`` may import Pykka under ``cortex/`` (every ask, tell and
blocking call between the event loop and the actors goes through it), and nothing under
``actors/`` or ``supervisors/`` may import ``cortex``: the actors are the lower layer.
Imports are read from the source with :mod:`ast`, so conditional and nested imports
count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CROSSING = REPO / "cortex" / "crossing.py"


def imported(module: Path) -> set[str]:
    """The top-level package of everything ``module`` imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def sources(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def test_only_the_crossing_imports_pykka_under_cortex():
    crossing_users = [p for p in sources("cortex") if "pykka" in imported(p)]
    assert crossing_users == [CROSSING]


@pytest.mark.parametrize("package", ["actors", "supervisors"])
def test_the_lower_layers_never_import_the_application(package):
    offenders = [str(p.relative_to(REPO)) for p in sources(package) if "cortex" in imported(p)]
    assert not offenders


def test_the_checks_read_real_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import pykka.messages\nif True:\n    from cortex.chat import Message\n")
    assert imported(sample) == {"pykka", "cortex"}
