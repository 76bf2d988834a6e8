"""Run measurements in the browser, one fresh headless page per runtime x model x shape.

A fresh page per measurement makes each one start cold, as a user's app would, and isolates
failures: a hung page is stopped after `timeout_s`, a crashed browser is noted, and either way
the harness goes on with the next measurement.
"""

from __future__ import annotations

import queue
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from tessera.bench import environment, schema
from tessera.bench.artifacts import ArtifactBuilder, PreparedCase
from tessera.bench.cases import BenchCase, bench_models_dir
from tessera.errors import TesseraError
from tessera.shells.page_session import page_session, running_server

ARTIFACTS_MOUNT = "bench-data"
MODELS_MOUNT = "bench-models"


QUANTIZED_TOLERANCE = 5e-2


@dataclass
class BenchSettings:
    runs: int = 50
    warmup: int = 10
    warmup_s: float = 1.0        # warm-up lasts at least this long: the GPU's clocks come up
    budget_s: float = 60.0       # cap on the timed runs' wall time (at least 3 runs are made)
    fps_seconds: float = 2.0
    fps_max_frames: int = 300
    gpu_time_runs: int = 5
    tolerance: float = 1e-3      # relative L2 vs onnxruntime CPU; fp32 paths stay far below
    profile: bool = False        # also time each dispatch in a pass of its own (WebGPU runtimes)
    load_again: bool = True      # also time a second load in the same page (TTFR again)
    timeout_s: float = 900.0     # per measurement, page start to result

    def gate(self, quantized: bool) -> float:
        """The relative-L2 gate for a model, int8 QDQ (`quantized`) or not. Such a network's fake
        quantisations round x / scale to a whole step: a last-bit difference in summation order
        before one moves its value by a whole step, so every runtime differs from onnxruntime (CPU) by ~1e-2 on
        these (measured: Tessera 9e-3, onnxruntime-web WebGPU 1.2e-2); a wrong kernel is far
        above the looser gate."""
        return max(self.tolerance, QUANTIZED_TOLERANCE) if quantized else self.tolerance

    def page_settings(self, quantized: bool) -> dict:
        settings = asdict(self)
        del settings["timeout_s"]
        settings["tolerance"] = self.gate(quantized)
        return settings


@dataclass
class BenchItem:
    runtime: str
    prepared: PreparedCase


@dataclass
class BenchJob:
    """One measurement as a page job: the server's JobBoard serves spec() and queues what the
    page posts (its stage as `status`, its figures as `results`)."""
    plan: dict
    id: str = field(default_factory=lambda: secrets.token_urlsafe(9))
    events: "queue.Queue[tuple[str, dict]]" = field(default_factory=queue.Queue)

    def spec(self) -> dict:
        return self.plan


def _plan(item: BenchItem, settings: BenchSettings) -> dict:
    p = item.prepared
    return {"runtime": item.runtime, "model": p.case.model.name,
            "onnx_url": f"{p.case.model.url}{p.case.model.onnx_file}", "package_url": p.package_url, "case_url": p.url,
            "case": {k: p.meta[k] for k in ("inputs", "expected", "tfjs_graph", "tfjs_weights")},
            "settings": settings.page_settings(p.case.model.quantized)}


def _measure(server, item: BenchItem, settings: BenchSettings) -> dict:
    job = server.jobs.add(BenchJob(_plan(item, settings)))
    stage = "starting the browser"
    deadline = time.monotonic() + settings.timeout_s
    try:
        with page_session(server, mode="bench", plan=job.id) as page:
            while True:
                kind, body = page.wait(job.events, max(0.0, deadline - time.monotonic()), stage)
                if kind == "results":
                    return body
                stage = body.get("stage", stage)
    except TesseraError as e:
        if time.monotonic() >= deadline:
            return {"status": "timeout", "error": f"no result within {settings.timeout_s:.0f} s "
                                                  f"(stuck at: {stage})"}
        return {"status": "error", "error": f"{stage}: {e}"}


def _summary(r: dict) -> str:
    if r["status"] == "ok":
        return (f"ok  median {r['median_ms']:.1f} ms, P95 {r['p95_ms']:.1f} ms ({r['runs']} runs), "
                f"load {r['load_ms'] / 1000:.1f} s, rel-L2 {r['rel_l2']:.1e}")
    return f"{r['status'].upper()}  {r.get('error') or ''}"


# A reference that moves less than this many gates between two inputs can't tell a runtime
# that ignores its input (or reads the wrong one) from a correct one.
SENSITIVITY_GATES = 10
# One that moves by more than this share of the gate when the input moves by 2 ulp amplifies
# float32 rounding: another summation order alone can take a correct runtime near the gate.
ROUNDING_SHARE = 0.1


def reference_note(meta: dict, gate: float) -> str | None:
    """Why this case's correctness gate proves little, or None when it proves what it should."""
    sensitivity = meta["input_sensitivity"]
    if sensitivity is None:
        return ("onnxruntime's output is all zeros, so the gate only checks that this runtime "
                "gives zeros too")
    if sensitivity < SENSITIVITY_GATES * gate:
        return (f"onnxruntime's output moves by only {sensitivity:.1e} (relative L2) between two "
                f"random inputs, under {SENSITIVITY_GATES}× the gate: a runtime that ignored its "
                "input could pass")
    rounding = meta["rounding_sensitivity"]
    if rounding > ROUNDING_SHARE * gate:
        return (f"onnxruntime's own output moves by {rounding:.1e} (relative L2) when the input "
                "moves by 2 ulp: the network amplifies float32 rounding, so a correct runtime "
                "that sums in another order can land past the gate")
    return None


def run_items(items: list[BenchItem], settings: BenchSettings, artifacts_root: Path,
              progress: Callable[[str], None]) -> tuple[list[dict], dict]:
    """Measure every item in order; returns the results and what the pages said about
    the browser and adapter."""
    results, page_env = [], {}
    with running_server() as server:
        server.mount(ARTIFACTS_MOUNT, artifacts_root)
        server.mount(MODELS_MOUNT, bench_models_dir())
        for n, item in enumerate(items, 1):
            case = item.prepared.case
            label = f"[{n}/{len(items)}] {item.runtime} · {case.model.name} · {case.shape_id}"
            progress(f"{label} ...")
            started = time.monotonic()
            body = _measure(server, item, settings)
            page_env = page_env or body.pop("environment", None) or {}
            body.pop("environment", None)
            gate = settings.gate(case.model.quantized)
            result = schema.complete_result({
                **body, "runtime": item.runtime, "model": case.model.name,
                "shape": list(case.shape), "shape_id": case.shape_id,
                "expected_file": item.prepared.meta["expected"]["file"],
                "tolerance": gate, "reference_note": reference_note(item.prepared.meta, gate),
                "wall_s": round(time.monotonic() - started, 1)})
            results.append(result)
            progress(f"{label}: {_summary(result)}")
    return results, page_env


def prepare(cases: list[BenchCase], artifacts_root: Path, progress: Callable[[str], None]
            ) -> tuple[list[PreparedCase], list[tuple[BenchCase, str]]]:
    """The cases ready to measure, and those whose inputs or reference could not be made
    (with why): one such case becomes error rows instead of ending the whole run."""
    builder = ArtifactBuilder(artifacts_root, f"{ARTIFACTS_MOUNT}/")
    prepared, failed = [], []
    for case in cases:
        progress(f"preparing {case.model.name} {case.shape_id} (inputs, onnxruntime reference, tfjs graph)")
        try:
            prepared.append(builder.prepare(case))
        except Exception as e:  # noqa: BLE001 — any failure here is this case's, reported in its rows
            progress(f"preparing {case.model.name} {case.shape_id} failed: {e}")
            failed.append((case, f"could not prepare the inputs and the onnxruntime reference: {e}"))
    return prepared, failed


def unprepared_result(case: BenchCase, runtime: str, why: str) -> dict:
    return schema.complete_result({"runtime": runtime, "model": case.model.name, "shape": list(case.shape),
                                   "shape_id": case.shape_id, "status": "error", "error": why,
                                   "expected_file": "", "tolerance": None, "wall_s": 0.0})


def build_report(results: list[dict], page_env: dict, settings: BenchSettings, started: str) -> dict:
    browser = environment.browser_info()
    browser["user_agent"] = page_env.get("userAgent")
    adapter_keys = ("vendor", "architecture", "device", "description", "fallback", "software", "features")
    adapter = {k: page_env.get(k) for k in adapter_keys} if page_env.get("adapter") else None
    report = {
        "schema": schema.SCHEMA_ID,
        "date": started,
        "machine": {**environment.machine_info(), "nvidia_gpus": environment.nvidia_gpus()},
        "browser": browser,
        "adapter": adapter,
        "page": {"cross_origin_isolated": page_env.get("crossOriginIsolated"),
                 "hardware_concurrency": page_env.get("hardwareConcurrency")},
        "settings": asdict(settings),
        "results": results,
    }
    problems = schema.validate(report)
    if problems:
        raise AssertionError(f"bench report does not match its schema: {problems[:5]}")
    return report


def run_bench(cases: list[BenchCase], runtimes: list[str], settings: BenchSettings,
              artifacts_root: Path, progress: Callable[[str], None]) -> dict:
    """Prepare the cases, measure each on each runtime, and return the report (see schema)."""
    started = environment.now_utc()
    prepared, failed = prepare(cases, artifacts_root, progress)
    items = [BenchItem(runtime, p) for p in prepared for runtime in runtimes]
    results, page_env = run_items(items, settings, artifacts_root, progress)
    results += [unprepared_result(case, runtime, why) for case, why in failed for runtime in runtimes]
    return build_report(results, page_env, settings, started)
