"""The `tessera` command."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from tessera import __version__
from tessera.bench import command as bench_command
from tessera.errors import TesseraError
from tessera.models import DEFAULT_CLASSIFIER
from tessera.upgrade import UpgradeReport, upgrade_user_data

EXIT_FAILED_ITEMS = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class Terminated(Exception):
    """SIGTERM arrived: unwind like Ctrl-C so the browser and server are stopped."""


def _on_sigterm(signum, frame):
    raise Terminated()


def _short(label: str) -> str:
    """ImageNet labels list synonyms ("tabby, tabby cat"); the first reads best in a line."""
    return label.split(",")[0]


class _Tally:
    """What the user was told, file by file: the counts in the summary and the exit status."""

    def __init__(self) -> None:
        self.classified = self.stored = self.failed = self.skipped = 0


def _outcome_printer(top_k: int, as_json: bool, tally: _Tally):
    from tessera.batch.exports import display_path
    from tessera.batch.runner import Status

    def emit(outcome) -> None:
        path = display_path(outcome.path)
        if outcome.status is Status.SKIPPED:
            tally.skipped += 1
            print(f"{path}: skipped: {outcome.reason}", file=sys.stderr, flush=True)
            return
        ok = outcome.reason is None
        stored = outcome.status is Status.ALREADY_DONE
        tally.failed += not ok
        tally.classified += ok
        tally.stored += ok and stored
        if as_json:
            record = {"path": outcome.path, "ok": ok, "stored": stored, "backend": outcome.backend,
                      "ms": None if outcome.ms is None else round(outcome.ms, 1)}
            record.update({"top": outcome.top[:top_k]} if ok else {"error": outcome.reason})
            print(json.dumps(record), flush=True)
        elif ok:
            preds = "  ".join(f"{_short(p['label'])} {p['score']:.1%}" for p in outcome.top[:top_k])
            where = f"{outcome.backend}, {outcome.ms or 0:.0f} ms" + (", stored" if stored else "")
            print(f"{path}: {preds}  [{where}]", flush=True)
        else:
            print(f"{path}: error: {outcome.reason}", flush=True)
    return emit


def _run_options(args: argparse.Namespace):
    """The batch options, checked; batch mode (progress, skipped files) for folders or any of them."""
    from tessera.jobs.batch_outputs import OutputOptions, check_export_path
    from tessera.jobs.classify_run import RunOptions

    if args.sort_into is None and (args.copy or args.move):
        raise TesseraError("--copy and --move go with --sort-into DIR.")
    if args.sort_into is not None and args.copy == args.move:
        raise TesseraError("--sort-into needs exactly one of --copy or --move.")
    if not 1 <= args.batch_size <= 256:
        raise TesseraError("--batch-size must be between 1 and 256.")
    if not 0 <= args.min_score <= 1:
        raise TesseraError("--min-score must be between 0 and 1.")
    if args.out is not None:
        check_export_path(args.out)
    outputs = OutputOptions(out=args.out, xmp=args.xmp, sort_into=args.sort_into, move=args.move,
                            min_score=args.min_score)
    batch_mode = (any(Path(p).is_dir() for p in args.paths) or args.recursive or args.watch
                  or args.out is not None or args.xmp or args.sort_into is not None)

    def note(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    return RunOptions(recursive=args.recursive, watch=args.watch, batch_size=args.batch_size,
                      outputs=outputs, progress=batch_mode, note=note)


def cmd_classify(args: argparse.Namespace) -> int:
    from tessera.jobs import classify_run
    from tessera.settings import default_model

    options = _run_options(args)
    tally = _Tally()
    info, _ = classify_run.classify(args.paths, model=args.model or default_model(), top=args.top,
                                    backend=args.backend, emit=_outcome_printer(args.top, args.json, tally),
                                    options=options)
    summary = f"{tally.classified} classified, {tally.failed} failed"
    if tally.skipped:
        summary += f", {tally.skipped} skipped"
    if tally.stored:
        summary += f" ({tally.stored} already in the results store)"
    summary += f" · {info.model}"
    page = info.page
    if page.backend:
        summary += f" on {page.backend} (model load {page.load_ms / 1000:.1f} s)"
    if page.note:
        summary += f" · note: {page.note}"
    outputs = options.outputs
    if outputs.out is not None:
        summary += f" · {outputs.out} written"
    if outputs.sort_into is not None:
        summary += f" · {'moved' if outputs.move else 'copied'} into {outputs.sort_into}"
    print(summary, file=sys.stderr)
    if info.stopped:
        print("tessera: interrupted; run the same command again to go on.", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_FAILED_ITEMS if tally.failed else 0


def cmd_stylize(args: argparse.Namespace) -> int:
    from tessera.batch.exports import display_path
    from tessera.stylize.run import StylizeOptions, stylize
    from tessera.stylize.styles import choose_style

    choice = choose_style(args.style, args.mix)
    options = StylizeOptions(strength=args.strength, preserve_colours=args.preserve_colors,
                             max_side=args.max_side, backend=args.backend)
    failed = done = 0

    def emit(result) -> None:
        nonlocal failed, done
        failed += result.error is not None
        done += result.error is None
        if args.json:
            record = {"path": result.source, "ok": result.error is None, "style": choice.describe()}
            if result.error is None:
                record.update(output=str(result.output), width=result.width, height=result.height,
                              stages_ms={k: round(v, 1) for k, v in result.stages_ms.items()})
            else:
                record["error"] = result.error
            print(json.dumps(record), flush=True)
        elif result.error is None:
            ms = result.stages_ms
            print(f"{display_path(result.source)} -> {display_path(str(result.output))}  "
                  f"[{result.width}×{result.height}, render {ms['render']:.0f} ms, "
                  f"transfer {ms['transfer']:.0f} ms]", flush=True)
        else:
            print(f"{display_path(result.source)}: error: {result.error}", flush=True)

    info = stylize(args.paths, choice, args.out, options, emit)
    summary = f"{done} stylized, {failed} failed · {choice.describe()} on {info.backend}"
    if info.load_ms is not None:
        summary += f" (model load {info.load_ms / 1000:.1f} s)"
    if info.note:
        summary += f" · note: {info.note}"
    print(summary, file=sys.stderr)
    return EXIT_FAILED_ITEMS if failed else 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from tessera.shells.doctor import doctor_report, format_report

    report = doctor_report()
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    return bench_command.run(args)


def cmd_models(args: argparse.Namespace) -> int:
    from tessera import models

    if args.action == "import":
        m = models.import_model(args.file, args.name, args.labels, args.task, args.int8)
        print(f"imported {m.name} ({m.task}) into {m.folder}")
        for note in m.meta.get("notes", []):
            print(f"note: {note}")
    elif args.action == "remove":
        models.remove_model(args.name)
        print(f"removed {args.name}")
    else:
        for m in models.list_models():
            print(models.describe(m))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import time

    from tessera.static_server import StaticServer

    with StaticServer(args.static, args.port) as server:
        print(f"serving {args.static} at {server.url} (Ctrl-C stops)", flush=True)
        # The server runs in its own thread, so Ctrl-C or SIGTERM always lands here, never
        # inside the request loop (which would take it for a failed request and go on). The
        # wait is in slices: a signal the OS hands to the server's thread still gets the main
        # thread back to run the handler.
        while True:
            time.sleep(0.25)


def cmd_window(parser: argparse.ArgumentParser, shell: str | None) -> int:
    from tessera.shells.app_launch import launch_app
    from tessera.shells.window import display_available

    if not display_available():
        parser.print_help()
        return 0
    return launch_app(shell)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tessera", description="Run image models on the GPU through WebGPU. "
        "With no command, opens the app window when a display is available.")
    parser.add_argument("--version", action="version", version=f"tessera {__version__}")
    parser.add_argument("--shell", choices=["pywebview", "chromium-app"],
                        help="which window to open (default: the best one on this platform)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("classify", help="classify images and print the top classes",
                       description="Classify image files and folders of them (JPEG, PNG, WebP, GIF, BMP, "
                       "TIFF). Results are kept in a results store, so a rerun, or a run stopped "
                       "midway and started again, only does the files it has not done.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders of images")
    p.add_argument("--recursive", "-r", action="store_true", help="also the images in subfolders")
    p.add_argument("--watch", action="store_true",
                   help="after the folder as it is, classify each image that lands in it, until Ctrl-C")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="export this run's results: .csv, .json (one array), .jsonl (JSON Lines) or "
                        ".sqlite, picked by the name; rewritten whole as the run goes")
    p.add_argument("--xmp", action="store_true",
                   help="write the labels as keywords into an XMP sidecar beside each photo (photo.jpg.xmp)")
    p.add_argument("--sort-into", type=Path, metavar="DIR",
                   help="copy or move each photo into DIR/<its top label>/ (with --copy or --move)")
    p.add_argument("--copy", action="store_true", help="with --sort-into: copy the photos")
    p.add_argument("--move", action="store_true", help="with --sort-into: move the photos")
    p.add_argument("--min-score", type=float, default=0.2, metavar="S",
                   help="labels scoring below S (0..1) are not used as keywords or folders (default 0.2)")
    p.add_argument("--batch-size", type=int, default=16, metavar="N",
                   help="images per batch handed to the page (default 16)")
    p.add_argument("--model", help=f"model name (default: the one chosen in the app, else {DEFAULT_CLASSIFIER})")
    p.add_argument("--top", type=int, default=5, metavar="K", help="how many classes to show (default 5)")
    p.add_argument("--json", action="store_true", help="print one JSON object per image")
    p.add_argument("--backend", choices=["auto", "webgpu", "wasm"], default="auto",
                   help="webgpu: Tessera's WebGPU engine; wasm: onnxruntime-web's wasm backend; "
                        "auto: the engine on a hardware adapter, else wasm (also when the engine "
                        "can't run the model)")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("stylize", help="apply a painting style to photos",
                       description="Stylise photos with one of the 26 built-in styles (style-0 to "
                       "style-25), a blend of them, or any image as the style. Results keep the "
                       "photo's EXIF and record the style; nothing is ever overwritten.")
    p.add_argument("paths", nargs="+", metavar="INPUT", help="photos (JPEG, PNG, WebP, GIF, BMP, TIFF)")
    p.add_argument("--style", metavar="NAME|INDEX|IMAGE",
                   help="a built-in style (style-7 or 7) or an image file whose style to use")
    p.add_argument("--mix", metavar="NAME=W,...",
                   help="blend styles, e.g. 3=0.5,7=0.5 (with --style, that one counts as =1); "
                        "weights are normalised; style images blend their style vectors")
    p.add_argument("--strength", type=float, default=1.0, metavar="S",
                   help="0..1: how much of the stylised image over the photo (default 1)")
    p.add_argument("--preserve-colors", action="store_true",
                   help="keep the photo's colours, take only the stylised brightness")
    p.add_argument("--max-side", type=int, metavar="N",
                   help="scale photos down to at most N pixels on the longer side first")
    p.add_argument("-o", "--out", type=Path, metavar="OUT_OR_DIR",
                   help="an output file (.png, .jpg, .webp) for one photo, or a folder for "
                        "<name>-<style>.png files (default: beside each photo)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per photo, with per-stage timings")
    p.add_argument("--backend", choices=["auto", "webgpu", "wasm"], default="auto",
                   help="webgpu: Tessera's WebGPU engine; wasm: onnxruntime-web's wasm backend; "
                        "auto: the engine on a hardware adapter, else wasm")
    p.set_defaults(func=cmd_stylize)

    p = sub.add_parser("doctor", help="show the browser, WebGPU adapter and backend in use")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("bench", help="measure runtimes side by side in the browser, checked "
                       "against onnxruntime")
    bench_command.add_arguments(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("models", help="list, import or remove models")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="bundled and imported models")
    q = actions.add_parser("import", help="compile an ONNX file into your models")
    q.add_argument("file", metavar="FILE.onnx")
    q.add_argument("--name", help="model name (default: the file's name)")
    q.add_argument("--labels", metavar="FILE", help="JSON list of class names")
    q.add_argument("--task", choices=["classify", "stylize"], default="classify")
    q.add_argument("--int8", type=Path, metavar="PHOTOS",
                   help="quantise a float classifier to int8 first, calibrated on up to 64 photos from this "
                        "folder like the ones it will see (on a GPU with int8 matrix units its big convs run "
                        "on them)")
    q = actions.add_parser("remove", help="remove an imported model")
    q.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("serve", help="serve a static build of the web app on 127.0.0.1, for testing",
                       description="Serve a folder written by `build_scripts/build_web.py --static OUT` "
                       "as a static host would: byte ranges, the headers its _headers file lists.")
    p.add_argument("--static", type=Path, required=True, metavar="OUT", help="the static build's folder")
    p.add_argument("--port", type=int, default=8000, metavar="N", help="port (default 8000; 0: any free one)")
    p.set_defaults(func=cmd_serve)
    return parser


def report_upgrade(report: UpgradeReport) -> None:
    """One line per imported model an upgrade rebuilt or had to leave as it was."""
    for name in report.recompiled:
        print(f"tessera: rebuilt the imported model {name!r} for Tessera {__version__}.", file=sys.stderr)
    for name, why in report.failed.items():
        print(f"tessera: the imported model {name!r} could not be rebuilt for this version ({why}); "
              "the older package stays installed; import the ONNX file again if it misbehaves.", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        report_upgrade(upgrade_user_data())
        if args.command is None:
            return cmd_window(parser, args.shell)
        if getattr(args, "top", 1) < 1:
            raise TesseraError("--top must be at least 1.")
        return args.func(args)
    except TesseraError as e:
        print(f"tessera: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("tessera: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("tessera: terminated.", file=sys.stderr)
        return EXIT_TERMINATED
    except Exception as e:  # a bug: still one line, and how to report it
        print(f"tessera: internal error: {type(e).__name__}: {e} "
              "(please report this; set TESSERA_DEBUG=1 for details)", file=sys.stderr)
        if os.environ.get("TESSERA_DEBUG"):
            raise
        return EXIT_ERROR
