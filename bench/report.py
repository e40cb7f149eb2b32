"""Turn ``bench/results.json`` into ``bench/RESULTS.md`` and the chart ``bench/latency.png``.

Run on its own to re-render a report from saved results:
``python -m bench.report [bench/results.json]``.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

HERE = Path(__file__).resolve().parent
_LATENCY_FIGURES = (
    ("ns", "p50_ms"),
    ("ns", "p99_ms"),
    ("s20", "ttft_p50_ms"),
    ("s20", "ttft_p99_ms"),
)
PEERS = ("litellm-1w", "litellm-2w", "portkey")
LABELS = {
    "direct": "direct (upstream)",
    "cortex": "Cortex",
    "cortex-2w": "Cortex, --workers 2",
    "litellm-1w": "LiteLLM, 1 worker",
    "litellm-2w": "LiteLLM, 2 workers",
    "portkey": "Portkey (Node)",
}


def _f(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def _get(results: dict[str, Any], target: str, *path: str) -> float | None:
    node: Any = results["targets"].get(target, {})
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return float(node) if isinstance(node, int | float) else None


def _measured(results: dict[str, Any]) -> list[str]:
    return [t for t, v in results["targets"].items() if "error" not in v]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _best_litellm(results: dict[str, Any], *path: str) -> float | None:
    """The better of LiteLLM's two configurations on one figure (higher is better)."""
    values = [v for t in ("litellm-1w", "litellm-2w") if (v := _get(results, t, *path)) is not None]
    return max(values) if values else None


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
        return "n/a"
    return f"{a / b:,.1f}x"


def _targets_section(r: dict[str, Any]) -> list[str]:
    direct_p50 = _get(r, "direct", "latency", "ns", "p50_ms")
    direct_p99 = _get(r, "direct", "latency", "ns", "p99_ms")
    p50 = _get(r, "cortex", "latency", "ns", "p50_ms")
    p99 = _get(r, "cortex", "latency", "ns", "p99_ms")
    added50 = None if p50 is None or direct_p50 is None else p50 - direct_p50
    added99 = None if p99 is None or direct_p99 is None else p99 - direct_p99
    cpu = _get(r, "cortex", "throughput", "ns@16", "cpu_ms_per_request")
    lines = ["## Issue #8 targets, as measured in this run", ""]
    rows = [
        ["added latency p50 ≤ 0.5 ms (c=1)", _f(added50, 3) + " ms", _met(added50, 0.5)],
        ["added latency p99 ≤ 3 ms (c=1)", _f(added99, 3) + " ms", _met(added99, 3.0)],
        ["gateway CPU per non-streaming request ≤ 0.5 ms", _f(cpu, 3) + " ms", _met(cpu, 0.5)],
    ]
    for key, label in (("ns@64", "non-streaming"), ("s20@64", "streaming")):
        cortex = _get(r, "cortex", "throughput", key, "rps")
        portkey = _get(r, "portkey", "throughput", key, "rps")
        litellm = _best_litellm(r, "throughput", key, "rps")
        rows.append([f"throughput ≥ 2x Portkey, {label} (c=64)", _ratio(cortex, portkey),
                     _met_ratio(cortex, portkey, 2.0)])  # fmt: skip
        rows.append([f"throughput ≥ 30x LiteLLM best, {label} (c=64)", _ratio(cortex, litellm),
                     _met_ratio(cortex, litellm, 30.0)])  # fmt: skip
    s5k = r["targets"].get("cortex", {}).get("streams", {}).get("5000", {})
    completion = s5k.get("completion_rate")
    rows.append(["5,000 streams complete with no errors",
                 _f(None if completion is None else completion * 100, 1) + " %",
                 "met" if completion == 1.0 else "not met"])  # fmt: skip
    ttft = s5k.get("ttft_p99_ms")
    rows.append(["5,000 streams: TTFT p99 ≤ 150 ms", _f(ttft, 1) + " ms", _met(ttft, 150.0)])
    per = s5k.get("rss_kb_per_stream")
    rows.append(["5,000 streams: < 50 KB RSS per stream", _f(per, 1) + " KB", _met(per, 50.0)])
    fo = r.get("cortex_failover", {})
    for key, label in (("added_429_ms", "429"), ("added_refused_ms", "refused connection")):
        value = fo.get(key)
        rows.append([f"failover after {label} adds < 5 ms", _f(value, 2) + " ms", _met(value, 5.0)])
    return lines + _table(["target", "Cortex", "verdict"], rows)


def _met(value: float | None, limit: float) -> str:
    if value is None or math.isnan(value):
        return "not measured"
    return "met" if value <= limit else "not met"


def _met_ratio(a: float | None, b: float | None, factor: float) -> str:
    if a is None or b is None or b == 0:
        return "not measured"
    return "met" if a >= factor * b else "not met"


def _processes_section(r: dict[str, Any], keys: list[str]) -> list[str]:
    """One Cortex process against ``--workers 2`` on the same machine, figure by figure."""
    if "error" in r["targets"].get("cortex-2w", {"error": ""}):
        return []
    figures: list[tuple[str, tuple[str, ...]]] = [
        (k.replace("ns@", "requests/s, non-streaming c=").replace("s20@", "requests/s, stream c="),
         ("throughput", k, "rps"))
        for k in keys
    ]  # fmt: skip
    figures += [
        ("latency p50 ms, non-streaming c=1", ("latency", "ns", "p50_ms")),
        ("CPU ms per request, non-streaming c=16", ("throughput", "ns@16", "cpu_ms_per_request")),
        ("idle RSS MB", ("idle", "rss_mb")),
    ]
    rows = [
        [label, _f(one := _get(r, "cortex", *path)), _f(two := _get(r, "cortex-2w", *path)),
         _ratio(two, one)]
        for label, path in figures
    ]  # fmt: skip
    return [
        "## 2b. One process vs `--workers 2` (Cortex)",
        "",
        "The same Cortex, once as one process and once as two server processes on one port "
        "(`SO_REUSEPORT`) under the `--workers` parent, with the redis-server they need "
        "(started for the run; its CPU is not charged to Cortex). The load generator and "
        "the upstream share the same 2 cores, so a second process can win at most what they "
        "leave free.",
        "",
        *_table(["figure", "one process", "--workers 2", "2w / 1"], rows),
    ]


def render(r: dict[str, Any]) -> str:
    """The whole RESULTS.md text."""
    m, targets = r["machine"], _measured(r)
    out = [
        "# Cortex benchmark results",
        "",
        f"Run on {r['date']} ({r['mode']} mode) with `python -m bench.run`. Everything ran on "
        f"127.0.0.1 on one machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB RAM, "
        f"Linux {m['kernel']}, Python {m['python']}, Node {m['node']}. The load generator "
        "(bench/load.py, one asyncio process) and the fake upstream (bench/upstream.py, one "
        "process) share those 2 cores with the gateway; the load generator's CPU share is "
        "given per run. Every figure is the median of "
        f"{r['plan']['reps']} repetitions.",
        "",
        "The machine was shared: other work ran on the same 2 cores during the run (load "
        f"average {m.get('load_average_at_start', float('nan')):.2f} at the start), so "
        "absolute figures are noisy and pessimistic; the targets were measured one after "
        "the other under the same conditions, and the ratios between them are the robust "
        "part.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in r["versions"].items()) + ".",
        "",
    ]
    for name, info in r.get("installs", {}).items():
        if not info["ok"]:
            out += [f"**{name} could not be installed:** `{info['detail']}`", ""]
    for name, value in r["targets"].items():
        if "error" in value:
            out += [f"**{name} could not be measured:** `{value['error'][:600]}`", ""]
    out += ["![latency vs concurrency](latency.png)", ""]
    out += _targets_section(r)
    out += ["## 1. Added latency at concurrency 1", "",
            "Non-streaming: 5-token answers. Streaming: time to first token of 20-token "
            "streams. *Added* is the target minus the direct call.", ""]  # fmt: skip
    rows = []
    for t in targets:
        ns50, ns99 = _get(r, t, "latency", "ns", "p50_ms"), _get(r, t, "latency", "ns", "p99_ms")
        tt50 = _get(r, t, "latency", "s20", "ttft_p50_ms")
        tt99 = _get(r, t, "latency", "s20", "ttft_p99_ms")
        d = [_get(r, "direct", "latency", *path) for path in _LATENCY_FIGURES]
        added = [None if v is None or b is None else v - b
                 for v, b in zip((ns50, ns99, tt50, tt99), d, strict=True)]  # fmt: skip
        rows.append([LABELS.get(t, t), _f(ns50, 3), _f(ns99, 3), _f(added[0], 3), _f(added[1], 3),
                     _f(tt50, 3), _f(tt99, 3), _f(added[2], 3), _f(added[3], 3)])  # fmt: skip
    out += _table(["target", "p50 ms", "p99 ms", "added p50", "added p99", "TTFT p50",
                   "TTFT p99", "added TTFT p50", "added TTFT p99"], rows)  # fmt: skip
    out += ["## 1b. Gateway CPU per request", "",
            "CPU seconds of the target's whole process tree (from /proc, user + system) "
            "divided by requests served.", ""]  # fmt: skip
    rows = [[LABELS.get(t, t),
             _f(_get(r, t, "latency", "ns", "cpu_ms_per_request"), 3),
             _f(_get(r, t, "throughput", "ns@16", "cpu_ms_per_request"), 3),
             _f(_get(r, t, "throughput", "s20@16", "cpu_ms_per_request"), 3)]
            for t in targets]  # fmt: skip
    out += _table(["target", "non-streaming, c=1 (ms)", "non-streaming, c=16 (ms)",
                   "20-token stream, c=16 (ms)"], rows)  # fmt: skip
    out += ["## 2. Throughput", "", "Requests per second (errors in brackets; load "
            "generator's CPU share of one core after the slash).", ""]  # fmt: skip
    keys = list(r["targets"].get("cortex", r["targets"].get("direct", {})).get("throughput", {}))
    rows = []
    for t in targets:
        row = [LABELS.get(t, t)]
        for key in keys:
            rps, err = _get(r, t, "throughput", key, "rps"), _get(r, t, "throughput", key, "errors")
            share = _get(r, t, "throughput", key, "client_cpu_share")
            row.append(
                f"{_f(rps, 0)} ({_f(err, 0)}) / {_f(None if share is None else share * 100, 0)}%"
            )
        rows.append(row)
    out += _table(["target", *[k.replace("ns@", "non-streaming c=").replace("s20@", "stream c=")
                                for k in keys]], rows)  # fmt: skip
    lit = {k: _best_litellm(r, "throughput", k, "rps") for k in keys}
    ours = {k: _get(r, "cortex", "throughput", k, "rps") for k in keys}
    portkey = {k: _get(r, "portkey", "throughput", k, "rps") for k in keys}
    vs_litellm = ", ".join(f"{k}: {_ratio(ours[k], lit[k])}" for k in keys)
    vs_portkey = ", ".join(f"{k}: {_ratio(ours[k], portkey[k])}" for k in keys)
    out += [f"Ratios, Cortex / best LiteLLM: {vs_litellm}; Cortex / Portkey: {vs_portkey}.", ""]
    out += _processes_section(r, keys)
    out += ["## 3. Concurrent streams (20 tokens, 50 ms apart)", "",
            "All connections are opened first, then every request is sent at once; a stream "
            "counts as complete when all 20 tokens and the end marker arrived within "
            f"{r['plan']['stream_timeout']:.0f} s. RSS per stream is (peak - before) / streams.",
            ""]  # fmt: skip
    rows = []
    for t in targets:
        for level, v in r["targets"][t].get("streams", {}).items():
            rows.append([LABELS.get(t, t), level, _f(v["completion_rate"] * 100, 1),
                         _f(v["ttft_p99_ms"], 1), _f(v["p99_ms"], 0), _f(v["peak_rss_mb"], 1),
                         _f(v["rss_kb_per_stream"], 1)])  # fmt: skip
    out += _table(["target", "streams", "complete %", "TTFT p99 ms", "stream p99 ms",
                   "peak RSS MB", "KB per stream"], rows)  # fmt: skip
    fo = r.get("cortex_failover")
    if fo:
        out += ["## 4. Failover cost (Cortex)", "",
                f"Streaming TTFT, median of {fo['samples']:.0f} requests each; every sample "
                "uses a first candidate that has not failed before (see bench/cortex_only.py).",
                ""]  # fmt: skip
        rows = [["healthy", _f(fo["healthy_ttft_ms"]), "n/a", "n/a"]]
        for label, key in (("answers 429", "429"), ("refuses the connection", "refused")):
            after, alone = fo[f"after_{key}_ttft_ms"], fo[f"failed_{key}_attempt_ms"]
            rows.append([label, _f(after), _f(alone), _f(fo[f"added_{key}_ms"])])
        out += _table(
            ["first candidate", "TTFT ms", "failed attempt alone ms", "added by failover ms"], rows
        )
    out += ["## 5. Idle footprint", ""]
    rows = [[LABELS.get(t, t), _f(_get(r, t, "idle", "rss_mb"), 1),
             _f(_get(r, t, "idle", "cpu_percent"), 2)] for t in targets]  # fmt: skip
    idle10 = r.get("cortex_idle_10_workers")
    if idle10:
        rows.append(
            ["Cortex, 10 workers configured", _f(idle10["rss_mb"], 1), _f(idle10["cpu_percent"], 2)]
        )
    out += _table(["target", "RSS MB", "CPU %"], rows)
    return "\n".join(out)


def chart(r: dict[str, Any], path: Path) -> None:
    """Latency (p50, log scale) vs concurrency, and TTFT p99 vs concurrent streams."""
    fig = Figure(figsize=(11, 4.2))
    left, right = fig.subplots(1, 2)
    for t in _measured(r):
        conc = [1, *r["plan"]["concurrencies"]]
        keys = [("latency", "ns")] + [("throughput", f"ns@{c}") for c in conc[1:]]
        ys = [_get(r, t, a, b, "p50_ms") for a, b in keys]
        left.plot(
            conc, [y if y is not None else math.nan for y in ys], marker="o", label=LABELS.get(t, t)
        )
        streams = r["targets"][t].get("streams", {})
        right.plot([int(k) for k in streams], [v["ttft_p99_ms"] for v in streams.values()],
                   marker="o", label=LABELS.get(t, t))  # fmt: skip
    left.set(xscale="log", yscale="log", xlabel="concurrency (non-streaming)",
             ylabel="latency p50 (ms)", title="Latency vs concurrency")  # fmt: skip
    right.set(yscale="log", xlabel="simultaneous streams (20 tokens, 50 ms apart)",
              ylabel="TTFT p99 (ms)", title="Time to first token under many streams")  # fmt: skip
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_report(results: dict[str, Any], folder: Path) -> None:
    """Write RESULTS.md and latency.png into ``folder``."""
    (folder / "RESULTS.md").write_text(render(results) + "\n")
    chart(results, folder / "latency.png")


if __name__ == "__main__":
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "results.json"
    write_report(json.loads(source.read_text()), HERE)
