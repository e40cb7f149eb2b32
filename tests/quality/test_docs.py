"""The architecture page names only modules that exist, so it cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "architecture.md"


def named_paths() -> set[str]:
    text = PAGE.read_text()
    full = set(re.findall(r"`((?:cortex|actors|supervisors|tests)/[\w/]+\.py)`", text))
    planes = {
        f"cortex/{p}"
        for p in re.findall(
            r"`((?:http|dataplane|cache|config|observability|ops|providers)/[\w/]+\.py)`", text
        )
    }
    return full | planes


def test_every_module_the_architecture_page_names_exists():
    missing = sorted(p for p in named_paths() if not (REPO / p).is_file())
    assert len(named_paths()) > 15
    assert missing == []


def test_the_page_names_every_plane_of_cortex():
    text = PAGE.read_text()
    planes = sorted(p.name for p in (REPO / "cortex").iterdir() if (p / "__init__.py").is_file())
    assert [p for p in planes if f"cortex/{p}/" not in text] == []
