"""The `tessera` command."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

from tessera import __version__
from tessera.bench import command as bench_command
from tessera.errors import TesseraError
from tessera.models import DEFAULT_CLASSIFIER

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


def _print_outcome(outcome, top_k: int, as_json: bool) -> None:
    if as_json:
        print(json.dumps(outcome.to_json()), flush=True)
    elif outcome.ok:
        preds = "  ".join(f"{_short(p['label'])} {p['score']:.1%}" for p in outcome.top[:top_k])
        print(f"{outcome.path}: {preds}  [{outcome.backend}, {outcome.ms:.0f} ms]", flush=True)
    else:
        print(f"{outcome.path}: error: {outcome.error}", flush=True)


def cmd_classify(args: argparse.Namespace) -> int:
    from tessera.jobs.classify_run import classify
    from tessera.settings import default_model

    info, outcomes = classify(args.paths, model=args.model or default_model(), top=args.top, backend=args.backend,
                              emit=lambda o: _print_outcome(o, args.top, args.json))
    failed = sum(not o.ok for o in outcomes)
    summary = f"{len(outcomes) - failed} classified, {failed} failed · {info.model}"
    if info.backend:
        summary += f" on {info.backend} (model load {info.load_ms / 1000:.1f} s)"
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
        m = models.import_model(args.file, args.name, args.labels, args.task)
        print(f"imported {m.name} ({m.task}) into {m.folder}")
    elif args.action == "remove":
        models.remove_model(args.name)
        print(f"removed {args.name}")
    else:
        for m in models.list_models():
            print(models.describe(m))
    return 0


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

    p = sub.add_parser("classify", help="classify images and print the top classes")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders of images")
    p.add_argument("--model", help=f"model name (default: the one chosen in the app, else {DEFAULT_CLASSIFIER})")
    p.add_argument("--top", type=int, default=5, metavar="K", help="how many classes to show (default 5)")
    p.add_argument("--json", action="store_true", help="print one JSON object per image")
    p.add_argument("--backend", choices=["auto", "webgpu", "wasm"], default="auto",
                   help="webgpu: Tessera's WebGPU engine; wasm: onnxruntime-web's wasm backend; "
                        "auto: the engine on a hardware adapter, else wasm (also when the engine "
                        "can't run the model)")
    p.set_defaults(func=cmd_classify)

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
    q = actions.add_parser("remove", help="remove an imported model")
    q.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
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
