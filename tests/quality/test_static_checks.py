"""The code stays as the team keeps it: ruff and mypy (strict) pass on the whole project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "RUFF_CACHE_DIR": str(tmp_path / "ruff"),
            "HOME": str(tmp_path),
        },
    )


def test_ruff_finds_nothing_to_report(tmp_path):
    done = run("ruff", "check", ".", tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_the_code_is_formatted_the_way_ruff_formats_it(tmp_path):
    done = run("ruff", "format", "--check", ".", tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_mypy_strict_finds_no_type_error(tmp_path):
    done = run("mypy", "--cache-dir", str(tmp_path / "mypy"), tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
