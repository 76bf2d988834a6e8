"""`tessera stylize`: photos → the page's style network → stylised files, one photo at a time.

Per photo: decode at full size with its EXIF orientation applied (batch/decode.py), cap the
longer side (`max_side`), pad to the network's multiple, render in the page, crop, preserve
colours / blend by strength, and write the file with the photo's EXIF and the style
(export.py). Each stage's time is measured: decode, render (the page's GPU or wasm call),
transfer (pixels to the page and back), encode; the model load is measured once.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from tessera.batch.decode import ImageRejected, decode_image
from tessera.errors import TesseraError
from tessera.jobs.page_classifier import PageInfo
from tessera.jobs.stylize_job import StylizePageJob
from tessera.jobs.stylize_page import PageStylizer, RenderFailed
from tessera.models import get_model
from tessera.shells.page_session import running_server
from tessera.stylize import export, pixels
from tessera.stylize.styles import StyleChoice


@dataclass(frozen=True)
class StylizeOptions:
    strength: float = 1.0
    preserve_colours: bool = False
    max_side: int | None = None
    backend: str = "auto"

    def check(self) -> None:
        if not 0 <= self.strength <= 1:
            raise TesseraError("--strength must be between 0 and 1.")
        if self.max_side is not None and self.max_side < pixels.MIN_SIDE:
            raise TesseraError(f"--max-side must be at least {pixels.MIN_SIDE}.")


@dataclass
class Stylized:
    source: str
    output: Path | None = None
    error: str | None = None
    width: int = 0
    height: int = 0
    stages_ms: dict[str, float] = field(default_factory=dict)   # decode, render, transfer, encode


def output_target(source: Path, out: Path | None, label: str) -> Path:
    """Where a photo's result goes: `out` itself when it names an image file, else
    `<stem>-<style>.png` in `out` (a folder) or beside the photo."""
    if out is not None and out.suffix.lower() in export.FORMATS:
        return out
    return (out or source.parent) / f"{source.stem}-{label}.png"


def check_output(inputs: list[str], out: Path | None) -> None:
    if out is None or out.is_dir():
        return
    if out.suffix:
        export.check_suffix(out)
        if len(inputs) != 1:
            raise TesseraError(f"-o {out} names one file, but {len(inputs)} photos were given; "
                               "give a folder instead.")
        if not out.parent.is_dir():
            raise TesseraError(f"The folder {out.parent} does not exist.")
    else:
        out.mkdir(parents=True, exist_ok=True)


def _too_large_advice(message: str, width: int, height: int) -> str:
    """The engine's refusal, turned into a --max-side that would fit (buffers grow with area)."""
    sizes = [float(x) for x in re.findall(r"([\d.]+) MiB", message)]
    ratio = sizes[1] / sizes[0] if len(sizes) >= 2 and sizes[0] > 0 else 0.25
    side = max(pixels.MIN_SIDE, int(max(width, height) * math.sqrt(ratio) * 0.95) // 4 * 4)
    return (f"{width}×{height} is too large for this GPU's buffers ({message}); "
            f"run again with --max-side {side} or smaller")


def _stylize_one(page: PageStylizer, path: str, choice: StyleChoice, out: Path | None,
                 options: StylizeOptions, multiple: int) -> Stylized:
    result = Stylized(path)
    t0 = time.monotonic()
    try:
        photo = pixels.fit(decode_image(path).pixels, options.max_side)
    except (ImageRejected, TesseraError) as e:
        result.error = str(e)
        return result
    h, w = photo.shape[:2]
    result.width, result.height = w, h
    t1 = time.monotonic()
    try:
        # The whole photo in one call; a tiled render for photos over the GPU's limits
        # would take this call's place (the page side's network.run).
        rendered = page.render(pixels.pad_to_multiple(photo, multiple))
    except RenderFailed as e:
        result.error = _too_large_advice(str(e), w, h) if e.too_large else str(e)
        return result
    t2 = time.monotonic()
    final = pixels.finish(rendered.pixels[:h, :w], photo, options.strength, options.preserve_colours)
    description = f"Stylized by Tessera: {choice.describe()}"
    if options.strength < 1:
        description += f", strength {options.strength:g}"
    if options.preserve_colours:
        description += ", original colours"
    result.output = export.save(final, output_target(Path(path), out, choice.label),
                                export.source_exif(Path(path)), description)
    t3 = time.monotonic()
    result.stages_ms = {"decode": (t1 - t0) * 1000, "render": rendered.stages_ms.get("render", 0.0),
                        "transfer": rendered.transfer_s * 1000,
                        "page_pixels": rendered.stages_ms.get("unpack", 0.0) + rendered.stages_ms.get("pack", 0.0),
                        "encode": (t3 - t2) * 1000}
    return result


def _style_images(choice: StyleChoice) -> list[np.ndarray]:
    out = []
    for path in choice.images:
        try:
            out.append(pixels.style_square(decode_image(path).pixels))
        except ImageRejected as e:
            raise TesseraError(f"The style image {path} can't be used: {e}.") from None
    return out


def stylize(inputs: list[str], choice: StyleChoice, out: Path | None, options: StylizeOptions,
            emit: Callable[[Stylized], None]) -> PageInfo:
    """Stylise every photo named; `emit` gets each one's outcome, in order. Returns what the page
    said when its network was ready (backend, load time)."""
    options.check()
    check_output(inputs, out)
    network = get_model(choice.network)
    if choice.predictor:
        get_model(choice.predictor)
    multiple = int(network.meta["stylize"].get("size_multiple", 1))
    style_images = _style_images(choice)
    with running_server() as server:
        job = StylizePageJob.create(f"models/{choice.network}/",
                                    choice.predictor and f"models/{choice.predictor}/",
                                    choice.weights(), len(style_images), options.backend)
        with PageStylizer(server, job, style_images) as page:
            info = page.start()
            for path in inputs:
                emit(_stylize_one(page, path, choice, out, options, multiple))
    return info
