"""The benchmark suite's quick path still runs end to end (it asserts shape, never speed)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from bench.report import render

REPO = Path(__file__).resolve().parents[2]


def test_quick_run_against_cortex_and_direct_writes_well_formed_results(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--targets", "direct", "cortex",
         "--no-report", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["mode"] == "quick"
    assert set(results["targets"]) == {"direct", "cortex"}
    for name, target in results["targets"].items():
        assert "error" not in target, (name, target)
        assert set(target) >= {"idle", "latency", "throughput", "streams"}
        assert target["latency"]["ns"]["requests"] > 0
        assert all(0.0 <= level["completion_rate"] <= 1.0 for level in target["streams"].values())
    direct = results["targets"]["direct"]
    assert direct["latency"]["ns"]["errors"] == 0
    assert math.isfinite(direct["latency"]["ns"]["p50_ms"])
    assert set(results["cortex_failover"]) >= {"healthy_ttft_ms", "added_429_ms"}
    assert results["cortex_idle_10_workers"]["rss_mb"] > 0


def test_quick_run_of_cortex_with_two_processes_measures_them_and_reports_the_comparison(
    tmp_path: Path,
) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--targets", "cortex-2w", "--no-report",
         "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    fleet = results["targets"]["cortex-2w"]
    assert "error" not in fleet, fleet
    assert fleet["latency"]["ns"]["errors"] == 0
    assert fleet["throughput"]["ns@16"]["requests"] > 0
    results["targets"]["cortex"] = fleet
    text = render(results)
    assert "## 2b. One process vs `--workers 2` (Cortex)" in text
    assert "| requests/s, non-streaming c=16 |" in text
