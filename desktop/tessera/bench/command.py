"""`tessera bench`: its options, and the run from parsed options to printed table and files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tessera.bench.cases import BENCH_MODELS, BUNDLED_MODELS, RUNTIMES

FAILING = {"failed", "error", "timeout"}


def _names(values: list[str] | None) -> list[str] | None:
    """`--models a b` and `--models a,b` alike."""
    return None if values is None else [n for v in values for n in v.split(",") if n]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", nargs="+", metavar="NAME",
                   help=f"models to measure (default all: {', '.join([*BENCH_MODELS, *BUNDLED_MODELS])}); "
                        "also any model you imported, by name")
    p.add_argument("--runtimes", nargs="+", metavar="NAME",
                   help=f"runtimes to compare (default all: {', '.join(RUNTIMES)})")
    p.add_argument("--shapes", nargs="+", metavar="NxCxHxW",
                   help="input shapes (default each model's: 1x3x224x224 and 8x3x224x224 for "
                        "classifiers, 1x3x512x512 and 1x3x1024x1024 for style models)")
    p.add_argument("--runs", type=int, default=50, metavar="N", help="timed runs (default 50)")
    p.add_argument("--warmup", type=int, default=10, metavar="N", help="warm-up runs (default 10)")
    p.add_argument("--warmup-seconds", type=float, default=1.0, metavar="S",
                   help="keep warming up until S seconds of back-to-back runs have passed, so an idle "
                        "GPU's clocks are up before timing (default 1)")
    p.add_argument("--budget", type=float, default=60.0, metavar="S",
                   help="stop the timed runs after S seconds, keeping at least 3 (default 60); "
                        "the runs column says how many were made")
    p.add_argument("--fps-seconds", type=float, default=2.0, metavar="S",
                   help="length of the continuous FPS loop (default 2)")
    p.add_argument("--gpu-time-runs", type=int, default=5, metavar="N",
                   help="extra runs with GPU timers on, median reported (default 5)")
    p.add_argument("--tolerance", type=float, default=1e-3, metavar="X",
                   help="relative L2 error vs onnxruntime CPU above which a runtime FAILS (default 1e-3)")
    p.add_argument("--profile", action="store_true",
                   help="also time every dispatch of the WebGPU runtimes in a pass of its own and "
                        "list where the GPU time goes")
    p.add_argument("--timeout", type=float, default=900.0, metavar="S",
                   help="give up on one measurement after S seconds (default 900)")
    p.add_argument("--artifacts", type=Path, metavar="DIR",
                   help="where inputs, references and tfjs graphs are cached (default build/bench-artifacts)")
    p.add_argument("--batch", action="store_true",
                   help="instead: a folder of generated JPEGs end to end (decode → infer → store) beside "
                        "decode alone and a plain onnxruntime CPU script (first --models name, default "
                        "efficientnet-lite0; see docs/benchmarks.md)")
    p.add_argument("--batch-images", type=int, default=1000, metavar="N", help="with --batch: how many (1000)")
    p.add_argument("--batch-size", type=int, default=16, metavar="S", help="with --batch: images per batch (16)")
    p.add_argument("--batch-megapixels", type=float, default=12.0, metavar="MP",
                   help="with --batch: size of the generated JPEGs (12)")
    p.add_argument("--backend", choices=["auto", "webgpu", "wasm"], default="auto",
                   help="with --batch: the page's backend, as for classify (auto)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the full report as JSON")
    p.add_argument("--markdown", type=Path, metavar="FILE", help="write the table as Markdown")


def run(args: argparse.Namespace) -> int:
    from tessera.bench import cases, report, runner
    from tessera.errors import TesseraError
    from tessera.paths import build_dir

    if args.batch:
        return run_batch(args)
    runtimes = _names(args.runtimes) or list(RUNTIMES)
    if unknown := sorted(set(runtimes) - set(RUNTIMES)):
        raise TesseraError(f"Unknown runtime {', '.join(unknown)}; choose from {', '.join(RUNTIMES)}.")
    if args.runs < 1 or args.warmup < 0 or args.gpu_time_runs < 1:
        raise TesseraError("--runs and --gpu-time-runs must be at least 1, --warmup at least 0.")
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    models = _names(args.models)
    cases.ensure_bench_models(models or list(BENCH_MODELS), log)
    chosen = cases.select_cases(models, _names(args.shapes))
    settings = runner.BenchSettings(
        runs=args.runs, warmup=args.warmup, warmup_s=args.warmup_seconds, budget_s=args.budget, fps_seconds=args.fps_seconds,
        gpu_time_runs=args.gpu_time_runs, tolerance=args.tolerance, profile=args.profile,
        timeout_s=args.timeout)
    result = runner.run_bench(chosen, runtimes, settings, args.artifacts or build_dir() / "bench-artifacts", log)
    print(report.format_text(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    if args.markdown:
        args.markdown.write_text(report.format_markdown(result))
    return 1 if any(r["status"] in FAILING for r in result["results"]) else 0


def run_batch(args: argparse.Namespace) -> int:
    from tessera.bench import batch_bench
    from tessera.errors import TesseraError
    from tessera.paths import build_dir

    if args.batch_images < 1 or not 1 <= args.batch_size <= 256 or args.batch_megapixels <= 0:
        raise TesseraError("--batch-images must be at least 1, --batch-size 1 to 256, --batch-megapixels above 0.")
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    model = (_names(args.models) or ["efficientnet-lite0"])[0]
    result = batch_bench.run_batch_bench(args.artifacts or build_dir() / "bench-artifacts", images=args.batch_images,
                                         megapixels=args.batch_megapixels, model=model,
                                         batch_size=args.batch_size, backend=args.backend, log=log)
    print(batch_bench.format_text(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    if args.markdown:
        args.markdown.write_text(batch_bench.format_markdown(result))
    return 0 if result["tessera"]["failed"] == 0 else 1
