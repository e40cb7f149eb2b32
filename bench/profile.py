"""Where the daemon's CPU goes under load: ``python -m bench.profile [--scenario ns|s20]``.

Starts the fast upstream and Cortex (as :mod:`bench.run` does), drives one closed-loop
load, and samples the daemon with ``py-spy`` meanwhile: only the thread holding the GIL,
so samples are Python CPU time, not waits. The summary answers the question a change to
the hot path must answer: how many samples fall on the event loop, in the thread
machinery (thread-pool workers, futures and condition waits) and on the actors' threads,
and which functions hold the most samples (self and inclusive). ``--out`` writes it as
Markdown for ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.gateways import SCENARIOS, Gateway, cortex_workers, start_cortex, start_upstream
from bench.load import run_closed_loop
from bench.procs import raise_nofile

_THREAD = re.compile(r"^(?:process \d+:\S+;)?thread \((0x[0-9A-Fa-f]+)\);?")
_FRAME = re.compile(r"^(?P<func>[^ ]+) \((?P<file>[^:]+)(?::\d+)?\)$")
_MACHINERY = ("concurrent/futures/", "threading.py", "pykka/_threading.py", "queue.py")


@dataclass(frozen=True, slots=True)
class Sample:
    """One collapsed stack: its thread, its frames (outermost first) and how often seen."""

    thread: str
    frames: tuple[str, ...]
    count: int


def read_collapsed(text: str) -> list[Sample]:
    """Parse py-spy's ``--format raw`` output (collapsed stacks with a thread prefix)."""
    samples = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        parts = stack.split(";")
        thread = next((p for p in parts if p.startswith(("thread ", "process "))), "")
        frames = tuple(p for p in parts if not p.startswith(("thread ", "process ")))
        samples.append(Sample(thread, frames, int(count)))
    return samples


def _area(sample: Sample) -> str:
    """Which part of the process a stack belongs to, by the frames under ``Thread.run``.

    The front's loop is uvloop's ``run_forever`` (C), so its callbacks sit right under
    ``Thread.run``; an actor's stack goes through ``_actor_loop``; a thread-pool worker's
    through ``concurrent.futures``.
    """
    names = [frame.split(" ", 1)[0] for frame in sample.frames]
    below = names[names.index("Thread.run") + 1 :] if "Thread.run" in names else names
    if not below:
        return "event loop (in C)"
    if "_worker" in below[0] or any(m in sample.frames[-1] for m in _MACHINERY):
        return "thread machinery"
    if any("_actor_loop" in name for name in below):
        return "actor threads"
    return "event loop"


def summarise(samples: list[Sample], top: int = 15) -> str:
    """A Markdown summary: samples per area, and the top functions self and inclusive."""
    total = sum(s.count for s in samples) or 1
    areas: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    for sample in samples:
        areas[_area(sample)] += sample.count
        if sample.frames:
            own[sample.frames[-1]] += sample.count
        for frame in set(sample.frames):
            inclusive[frame] += sample.count
    lines = [f"{total} samples.", "", "| area | share |", "|---|---|"]
    lines += [f"| {area} | {n / total:.1%} |" for area, n in areas.most_common()]
    for title, counter in (("self", own), ("inclusive", inclusive)):
        lines += ["", f"| top functions ({title}) | share |", "|---|---|"]
        lines += [
            f"| `{_short(frame)}` | {n / total:.1%} |" for frame, n in counter.most_common(top)
        ]
    return "\n".join(lines)


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if match is None:
        return frame
    path = match["file"]
    for anchor in ("site-packages/", "/cortex/", "/actors/", "/supervisors/", "/lib/python"):
        if anchor in path:
            path = path.split(anchor, 1)[1]
            break
    return f"{match['func']} ({path})"


async def _load(gateway: Gateway, scenario: str, concurrency: int, seconds: float) -> int:
    target = gateway.target(SCENARIOS[scenario])
    await run_closed_loop(target, concurrency=4, requests=200, duration=30)
    result = await run_closed_loop(
        target, concurrency=concurrency, requests=10**9, duration=seconds
    )
    return len(result.shots)


def profile(scenario: str, concurrency: int, seconds: float) -> tuple[str, int]:
    """Run the load under py-spy; the summary and how many requests were served."""
    raise_nofile()
    with tempfile.TemporaryDirectory(prefix="cortex-profile-") as tmp:
        logs = Path(tmp)
        upstream = start_upstream(logs)
        cortex = start_cortex(logs, cortex_workers(upstream.port))
        try:
            gateway = Gateway("cortex", "cortex", cortex, upstream.port)
            raw = logs / "stacks.txt"
            spy = subprocess.Popen(
                [
                    *("py-spy", "record", "--pid", str(cortex.pid), "--format", "raw", "--gil"),
                    *("--rate", "500", "--duration", str(int(seconds) + 2), "--output", str(raw)),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            served = asyncio.run(_load(gateway, scenario, concurrency, seconds))
            spy.wait(timeout=seconds + 60)
            return summarise(read_collapsed(raw.read_text())), served
        finally:
            cortex.stop()
            upstream.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=("ns", "s20"), default="ns")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--label", default="", help="what was profiled, put first")
    args = parser.parse_args()
    summary, served = profile(args.scenario, args.concurrency, args.seconds)
    text = f"Scenario {args.scenario}, concurrency {args.concurrency}: {served} requests. {summary}"
    if args.label:
        text = f"{args.label}\n\n{text}"
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
