"""The bench report as a terminal table and as Markdown (docs/benchmarks.md takes the latter).

Both renderings share one list of rows; a measurement that did not pass the correctness gate
shows its status instead of figures, so a fast wrong answer never looks like a result.
"""

from __future__ import annotations

from tessera.bench.cases import BASELINE_RUNTIME

FULL_RUNS = 50
COLUMNS = ["model", "shape", "runtime", "status", "load s", "first ms", "TTFR s", "TTFR again s", "median ms",
           "P95 ms", "runs", "FPS", "img/s pipelined", "canvas FPS", "GPU ms", "peak MB", "rel-L2", f"speed vs {BASELINE_RUNTIME}"]


def _f(value, digits: int = 1, scale: float = 1.0) -> str:
    return "–" if value is None else f"{value * scale:.{digits}f}"


def _pipelined(r: dict) -> str:
    """Images/s with the number of calls kept in flight (1: the runtime can't overlap calls)."""
    return "–" if r["images_per_s"] is None else f"{r['images_per_s']:.0f} ({r['in_flight']} deep)"


def _ratio(r: dict, baseline: dict | None) -> str:
    if baseline is None or baseline["status"] != "ok" or not r["median_ms"]:
        return "n/a"
    return f"{baseline['median_ms'] / r['median_ms']:.2f}×"


def rows(report: dict) -> tuple[list[list[str]], list[str]]:
    """Table rows, and footnotes: for what did not produce figures, and for figures whose
    correctness check proves little (a reference that hardly depends on its input)."""
    results = report["results"]
    baselines = {(r["model"], r["shape_id"]): r for r in results if r["runtime"] == BASELINE_RUNTIME}
    table, notes = [], []
    for r in results:
        head = [r["model"], r["shape_id"], r["runtime"]]
        if r["status"] != "ok":
            why = f"; {r['reference_note']}" if r.get("reference_note") else ""
            notes.append(f"{r['runtime']} · {r['model']} · {r['shape_id']}: {r['status']}: {r['error']}{why}")
            status = {"failed": "FAILED", "unsupported": "n/a"}.get(r["status"], r["status"].upper())
            rel = "–" if r["rel_l2"] is None else f"{r['rel_l2']:.1e}"
            table.append(head + [f"{status} [{len(notes)}]"] + ["–"] * 12 + [rel, "n/a"])
            continue
        mb = None if r["peak_gpu_bytes"] is None else r["peak_gpu_bytes"] / 2**20
        status = "ok"
        if r.get("reference_note"):
            notes.append(f"{r['runtime']} · {r['model']} · {r['shape_id']}: ok, but {r['reference_note']}")
            status = f"ok [{len(notes)}]"
        table.append(head + [
            status, _f(r["load_ms"], 2, 1e-3), _f(r["first_ms"]), _f(r["ttfr_ms"], 2, 1e-3), _f(r["ttfr_again_ms"], 2, 1e-3),
            _f(r["median_ms"]), _f(r["p95_ms"]), str(r["runs"]), _f(r["fps"]), _pipelined(r), _f(r["canvas_fps"]), _f(r["gpu_ms"], 2),
            _f(mb), f"{r['rel_l2']:.1e}", _ratio(r, baselines.get((r["model"], r["shape_id"])))])
    return table, notes


def header_lines(report: dict) -> list[str]:
    m, b, a, s = report["machine"], report["browser"], report["adapter"], report["settings"]
    adapter = ("none (no WebGPU adapter)" if a is None else
               f"{a['vendor'] or '?'} / {a['architecture'] or '?'}"
               f"{' (fallback adapter)' if a.get('fallback') else ''}"
               f"{' — software: speeds are not meaningful' if a.get('software') else ''}"
               f"; timestamp-query: {'yes' if 'timestamp-query' in (a.get('features') or []) else 'no'}")
    lines = [
        f"date: {report['date']}",
        f"machine: {m['platform']}, {m['cpu_count']} CPUs"
        + "".join(f"; GPU {g.get('name')} (driver {g.get('driver_version')}, SM clock "
                  f"{g.get('clocks.sm')} of {g.get('clocks.max.sm')})" for g in m.get("nvidia_gpus") or []),
        f"browser: {b['user_agent'] or b['executable']}",
        f"flags: {' '.join(b['flags'])}",
        f"adapter: {adapter}",
        f"settings: {s['runs']} timed runs after ≥ {s['warmup']} warm-up runs lasting ≥ {s.get('warmup_s', 0):g} s "
        f"(timed runs capped at "
        f"{s['budget_s']:g} s), FPS loop {s['fps_seconds']:g} s, gate: relative L2 ≤ {s['tolerance']:g} "
        "vs onnxruntime CPU",
    ]
    looser = sorted({(r["model"], r["tolerance"]) for r in report["results"]
                     if r.get("tolerance") is not None and r["tolerance"] != s["tolerance"]})
    if looser:
        lines.append("gate for int8 QDQ models (fake-quantisation rounding flips with summation order): "
                     + ", ".join(f"{model} ≤ {gate:g}" for model, gate in looser))
    short = sorted({r["runs"] for r in report["results"] if r["status"] == "ok" and r["runs"] < FULL_RUNS})
    if short:
        lines.append(f"note: some measurements have fewer than {FULL_RUNS} timed runs "
                     f"({', '.join(map(str, short))}): see the runs column")
    return lines


PROFILE_TOP = 12


def profile_lines(report: dict) -> list[str]:
    """Per profiled measurement: dispatch count, summed GPU time, and the slowest dispatches."""
    out = []
    for r in report["results"]:
        if not r.get("profile"):
            continue
        times = r["profile"]
        total = sum(d["ms"] for d in times)
        out += ["", f"profile: {r['runtime']} · {r['model']} · {r['shape_id']}: {len(times)} dispatches, "
                    f"{total:.3f} ms summed (one pass each), slowest:"]
        for d in sorted(times, key=lambda d: -d["ms"])[:PROFILE_TOP]:
            share = d["ms"] / total if total else 0.0
            out.append(f"  {d['ms'] * 1000:8.1f} µs  {share:5.1%}  {d['label']}")
    return out


def format_text(report: dict) -> str:
    table, notes = rows(report)
    widths = [max(len(c), *(len(row[i]) for row in table)) for i, c in enumerate(COLUMNS)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    out = header_lines(report) + ["", line(COLUMNS), line(["-" * w for w in widths])]
    out += [line(row) for row in table]
    out += [""] + [f"[{i}] {n}" for i, n in enumerate(notes, 1)] if notes else []
    return "\n".join(out + profile_lines(report))


def format_markdown(report: dict) -> str:
    table, notes = rows(report)
    out = [f"- {line}" for line in header_lines(report)]
    out += ["", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    out += ["| " + " | ".join(row) + " |" for row in table]
    if notes:
        out += [""] + [f"{i}. {n}" for i, n in enumerate(notes, 1)]
    if profiled := profile_lines(report):
        out += ["", "```", *profiled[1:], "```"]
    return "\n".join(out) + "\n"
