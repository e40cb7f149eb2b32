"""The README's performance table is regenerated from a full run, and only from one."""

from __future__ import annotations

import json
from pathlib import Path

from bench.report import README_END, README_START, readme_table, update_readme

REPO = Path(__file__).resolve().parents[2]
RESULTS = json.loads((REPO / "bench" / "results.json").read_text())


def readme(tmp_path: Path) -> Path:
    path = tmp_path / "README.md"
    path.write_text(f"intro\n{README_START}\n| old | table |\n{README_END}\nafter\n")
    return path


def test_a_full_run_replaces_the_table_between_the_markers(tmp_path: Path) -> None:
    path = readme(tmp_path)
    update_readme({**RESULTS, "mode": "full"}, path)
    text = path.read_text()
    assert "| old | table |" not in text
    assert readme_table(RESULTS) in text
    assert text.startswith("intro\n")
    assert text.endswith(f"{README_END}\nafter\n")


def test_a_quick_run_leaves_the_readme_alone(tmp_path: Path) -> None:
    path = readme(tmp_path)
    update_readme({**RESULTS, "mode": "quick"}, path)
    assert "| old | table |" in path.read_text()


def test_the_projects_readme_holds_the_table_of_the_committed_results() -> None:
    assert readme_table(RESULTS) in (REPO / "README.md").read_text()


def test_every_cortex_figure_of_the_table_comes_from_the_results() -> None:
    rows = {line.split(" | ")[0].strip("| "): line for line in readme_table(RESULTS).splitlines()}
    rps = rows["requests/s at concurrency 64, non-streaming / 20-token streams"]
    ns = RESULTS["targets"]["cortex"]["throughput"]["ns@64"]["rps"]
    assert f"{ns:,.0f} /" in rps
