"""How ``python -m cortex ollama pull`` shows Ollama's progress objects."""

from __future__ import annotations

import io
from typing import Any

from cortex.ops.ollama_cli import Progress

LAYER = {"status": "pulling 6a0746a1ec1a", "digest": "sha256:6a07", "total": 4_000_000_000}
EVENTS: list[dict[str, Any]] = [
    {"status": "pulling manifest"},
    *({**LAYER, "completed": done} for done in (0, 100_000_000, 200_000_000, 2_000_000_000)),
    {**LAYER, "completed": 4_000_000_000},
    {"status": "verifying sha256 digest"},
    {"status": "success"},
]


def shown(*, tty: bool) -> tuple[str, Progress]:
    out = io.StringIO()
    progress = Progress(out, tty=tty)
    for event in EVENTS:
        progress.show(event)
    progress.close()
    return out.getvalue(), progress


def test_plain_lines_one_per_status_and_tenth_of_a_download() -> None:
    text, progress = shown(tty=False)
    assert text.splitlines() == [
        "pulling manifest",
        "pulling 6a0746a1ec1a [--------------------]   0%  0.0/4.0 GB",
        "pulling 6a0746a1ec1a [##########----------]  50%  2.0/4.0 GB",
        "pulling 6a0746a1ec1a [####################] 100%  4.0/4.0 GB",
        "verifying sha256 digest",
        "success",
    ]
    assert progress.succeeded


def test_a_terminal_gets_one_line_redrawn_in_place() -> None:
    text, _ = shown(tty=True)
    assert text.count("\n") == 1
    assert text.endswith("\r\x1b[2Ksuccess\n")
    assert "\r\x1b[2Kpulling 6a0746a1ec1a [#--------" in text


def test_an_error_object_is_kept_and_is_no_success() -> None:
    progress = Progress(io.StringIO(), tty=False)
    progress.show({"status": "pulling manifest"})
    progress.show({"error": "pull model manifest: file does not exist"})
    assert (progress.succeeded, progress.error) == (
        False,
        "pull model manifest: file does not exist",
    )
