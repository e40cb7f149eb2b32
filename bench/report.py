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


def _added(r: dict[str, Any], target: str, figure: str) -> float | None:
    """The target's non-streaming latency at concurrency 1 minus the direct call's."""
    value = _get(r, target, "latency", "ns", figure)
    direct = _get(r, "direct", "latency", "ns", figure)
    return None if value is None or direct is None else value - direct


def _goal_rows(r: dict[str, Any]) -> list[list[str]]:
    """One row per goal of the performance issue: what was asked, Cortex, Portkey, verdict."""
    rows = []
    for key, label in (("ns@64", "non-streaming request"), ("s20@64", "20-token stream")):
        ours = _get(r, "cortex", "throughput", key, "cpu_ms_per_request")
        theirs = _get(r, "portkey", "throughput", key, "cpu_ms_per_request")
        rows.append([f"gateway CPU per {label} ≤ 0.5x Portkey's (c=64)",
                     _f(ours, 3) + " ms", _f(theirs, 3) + " ms",
                     _ratio2(ours, theirs), _met_ratio_at_most(ours, theirs, 0.5)])  # fmt: skip
    for key, label in (("ns@64", "non-streaming"), ("s20@64", "streaming")):
        ours = _get(r, "cortex", "throughput", key, "rps")
        theirs = _get(r, "portkey", "throughput", key, "rps")
        rows.append([f"throughput ≥ 2x Portkey's, {label} (c=64)", _f(ours, 0) + "/s",
                     _f(theirs, 0) + "/s", _ratio2(ours, theirs),
                     _met_ratio(ours, theirs, 2.0)])  # fmt: skip
    ours, theirs = _added(r, "cortex", "p50_ms"), _added(r, "portkey", "p50_ms")
    rows.append(["added latency p50 below Portkey's (c=1)", _f(ours, 3) + " ms",
                 _f(theirs, 3) + " ms", _ratio2(ours, theirs),
                 _met_ratio_at_most(ours, theirs, 1.0)])  # fmt: skip
    p99 = _added(r, "cortex", "p99_ms")
    rows.append(["added latency p99 ≤ 3 ms (c=1)", _f(p99, 3) + " ms",
                 _f(_added(r, "portkey", "p99_ms"), 3) + " ms", "", _met(p99, 3.0)])  # fmt: skip
    level = _largest_level(r)
    ours_s = r["targets"].get("cortex", {}).get("streams", {}).get(level, {})
    theirs_s = r["targets"].get("portkey", {}).get("streams", {}).get(level, {})
    direct_s = r["targets"].get("direct", {}).get("streams", {}).get(level, {})
    done, done_p = ours_s.get("completion_rate"), theirs_s.get("completion_rate")
    verdict = "not measured" if done is None else "met" if done == 1.0 else "not met"
    rows.append([f"{level} slow streams all complete", _pct(done), _pct(done_p), "", verdict])
    ttft, direct_ttft = ours_s.get("ttft_p99_ms"), direct_s.get("ttft_p99_ms")
    rows.append([f"{level} streams: TTFT p99 ≤ 5x the direct upstream's",
                 _f(ttft, 1) + " ms", _f(theirs_s.get("ttft_p99_ms"), 1) + " ms",
                 _ratio2(ttft, direct_ttft) + " direct",
                 _met_ratio_at_most(ttft, direct_ttft, 5.0)])  # fmt: skip
    per, per_p = ours_s.get("rss_kb_per_stream"), theirs_s.get("rss_kb_per_stream")
    rows.append([f"{level} streams: RSS per stream < 20 KB", _f(per, 1) + " KB",
                 _f(per_p, 1) + " KB", "", _met(per, 20.0)])  # fmt: skip
    fo = r.get("cortex_failover", {})
    for key, label in (("added_429_ms", "429"), ("added_refused_ms", "refused connection")):
        value = fo.get(key)
        rows.append([f"failover after {label} adds < 5 ms", _f(value, 2) + " ms", "n/a", "",
                     _met(value, 5.0)])  # fmt: skip
    return rows


def _largest_level(r: dict[str, Any]) -> str:
    levels = r["targets"].get("cortex", {}).get("streams", {})
    return max(levels, key=int) if levels else "5000"


def _pct(value: float | None) -> str:
    return _f(None if value is None else value * 100, 1) + " %"


def _targets_section(r: dict[str, Any]) -> list[str]:
    lines = [
        "## Goals, as measured in this run",
        "",
        "The performance issue's goals, each as a ratio to Portkey (or to the direct "
        "upstream) measured in this same run.",
        "",
    ]
    return lines + _table(["goal", "Cortex", "Portkey", "ratio", "verdict"], _goal_rows(r))


def _met_ratio_at_most(a: float | None, b: float | None, factor: float) -> str:
    if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
        return "not measured"
    return "met" if a <= factor * b else "not met"


def _ratio2(a: float | None, b: float | None) -> str:
    """A ratio to two decimals, where a goal's threshold sits close to it."""
    if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
        return "n/a"
    return f"{a / b:,.2f}x"


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
        ("Redis commands per request, throughput runs", ("redis_commands_per_request",)),
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
    out += _profiles_section(HERE / "profiles")
    return "\n".join(out)


def _profiles_section(folder: Path) -> list[str]:
    """The saved ``python -m bench.profile --out bench/profiles/<name>.md`` summaries."""
    saved = sorted(folder.glob("*.md")) if folder.is_dir() else []
    if not saved:
        return []
    out = [
        "## 6. Where the CPU goes (py-spy)",
        "",
        "Samples of the daemon's Python CPU (only the thread holding the GIL) under the load "
        "named in each summary, taken with `python -m bench.profile`; each file in "
        "bench/profiles/ is one summary, named for the code it profiled.",
        "",
    ]
    for path in saved:
        out += [f"### {path.stem}", "", path.read_text().strip(), ""]
    return out


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


README_START = "<!-- bench table: generated by bench/report.py from the last full run -->"
README_END = "<!-- end of bench table -->"


def readme_table(r: dict[str, Any]) -> str:
    """The README's performance table: the headline figures of one run, side by side."""
    level = _largest_level(r)

    def added(t: str, *path: str) -> float | None:
        value, direct = _get(r, t, "latency", *path), _get(r, "direct", "latency", *path)
        return None if value is None or direct is None else value - direct

    def per_target(t: str) -> list[str]:
        names = ("litellm-1w", "litellm-2w") if t == "litellm" else (t,)
        cpu = [_best(r, names, "throughput", k, "cpu_ms_per_request") for k in ("ns@64", "s20@64")]
        rps = [_best(r, names, "throughput", k, "rps") for k in ("ns@64", "s20@64")]
        lat = [min((v for n in names if (v := added(n, *p)) is not None), default=None)
               for p in (("ns", "p50_ms"), ("s20", "ttft_p50_ms"))]  # fmt: skip
        streams = [r["targets"].get(n, {}).get("streams", {}).get(level) for n in names]
        run = max((s for s in streams if s), key=lambda s: s["completion_rate"], default=None)
        return [
            _unit(lat[0], 2, " ms"),
            _unit(lat[1], 2, " ms"),
            f"{_f(cpu[0], 2)} / {_f(cpu[1], 2)} ms",
            f"{_f(rps[0], 0)} / {_f(rps[1], 0)}",
            "not run" if run is None
            else f"{_pct(run['completion_rate'])}, {_f(run['ttft_p99_ms'], 0)} ms",
            "not run" if run is None else _unit(run["rss_kb_per_stream"], 1, " KB"),
        ]  # fmt: skip

    labels = [
        "added latency, p50 at concurrency 1",
        "added time to first token, p50 at concurrency 1",
        "CPU per request at concurrency 64, non-streaming / 20-token stream",
        "requests/s at concurrency 64, non-streaming / 20-token streams",
        f"{level} simultaneous slow streams: completed, first-token p99",
        f"memory per stream at {level} streams",
    ]
    columns = [per_target(t) for t in ("cortex", "litellm", "portkey")]
    rows = [[label, *(c[i] for c in columns)] for i, label in enumerate(labels)]
    header = ["", "Cortex", "LiteLLM (best of 1 and 2 workers)", "Portkey"]
    return "\n".join(_table(header, rows)).rstrip()


def _unit(value: float | None, digits: int, unit: str) -> str:
    text = _f(value, digits)
    return text if text == "n/a" else text + unit


def _best(r: dict[str, Any], names: tuple[str, ...], *path: str) -> float | None:
    """The better of several configurations: higher throughput, lower CPU."""
    values = [v for t in names if (v := _get(r, t, *path)) is not None]
    if not values:
        return None
    return min(values) if path[-1].startswith("cpu") else max(values)


def update_readme(results: dict[str, Any], readme: Path) -> None:
    """Replace the README's performance table with this run's (full runs only)."""
    text = readme.read_text()
    if results.get("mode") != "full" or README_START not in text or README_END not in text:
        return
    head, rest = text.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    table = readme_table(results)
    readme.write_text(f"{head}{README_START}\n{table}\n{README_END}{tail}")


def write_report(results: dict[str, Any], folder: Path) -> None:
    """Write RESULTS.md and latency.png into ``folder``, and the README's table."""
    (folder / "RESULTS.md").write_text(render(results) + "\n")
    chart(results, folder / "latency.png")
    update_readme(results, folder.parent / "README.md")


if __name__ == "__main__":
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "results.json"
    write_report(json.loads(source.read_text()), HERE)
