"""The style gallery: each built-in style of multistyle26 on a sample photo, rendered at set-up
by `tessera stylize` itself (so through the same page and engine as any user's photo), saved
beside the package as gallery-NN.jpg and listed in its model.json under "gallery"."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tessera import paths
from tessera.zoo.bundled import BuildError
from tessera.zoo.bundled_styles import STYLE_NAMES

SAMPLE = paths.SAMPLES_DIR / "chelsea.jpg"
THUMBNAIL_SIDE = 192


def gallery_name(index: int) -> str:
    return f"gallery-{index:02d}.jpg"


def _render(sample: Path, style: str, side: int, target: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "tessera", "stylize", str(sample), "--style", style,
                           "--max-side", str(side), "-o", str(target)], capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"the gallery thumbnail of {style} could not be rendered: "
                         f"{done.stderr.strip() or done.stdout.strip()}")


def build_gallery(model_dir: Path, sample: Path = SAMPLE, side: int = THUMBNAIL_SIDE) -> list[str]:
    """Render every style's thumbnail into model_dir and list them in its model.json. All are
    rendered before any is moved in (stylize never overwrites, and a failure leaves no mix).
    Each is one `tessera stylize` run, mostly a browser starting and loading the network: a few
    run side by side."""
    names = [gallery_name(index) for index in range(len(STYLE_NAMES))]
    with tempfile.TemporaryDirectory() as tmp, \
            ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        renders = [pool.submit(_render, sample, style, side, Path(tmp) / name) for style, name in zip(STYLE_NAMES, names)]
        for render in renders:
            render.result()     # the first failure, in style order
        for name in names:
            shutil.move(Path(tmp) / name, model_dir / name)
    meta_path = model_dir / "model.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["gallery"] = [{"style": style, "file": name} for style, name in zip(STYLE_NAMES, names)]
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return names
