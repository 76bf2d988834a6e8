"""`tessera bench --batch`: a folder of large JPEGs end to end (decode → infer → store), beside
the two rates it should be judged against, measured on the same files in the same run:

- decode only: the batch decoder (`decode_image` at the model's size, JPEG draft mode) on the
  same thread pool, nothing else — the ceiling for a decode-bound pipeline;
- Tessera: `tessera classify`'s pipeline (BatchRunner + the page over the JSON API) into a
  fresh results store, the model loaded before the clock starts;
- a plain onnxruntime (CPU) script: Pillow open, EXIF, full decode, resize, crop, normalise
  (`zoo.reference.preprocess`) and `session.run`, one file after another.

Where Tessera's time goes is taken on the runner's thread, the pipeline's critical path:
the page's inference, its unpacking of pixels into bitmaps, the transfer both ways (the rest of
the page's round trip), the store's transactions, and waiting for decoded images.
"""

from __future__ import annotations

import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import numpy as np

from tessera.batch.decode import decode_image
from tessera.batch.pool import DEFAULT_WORKERS, AheadPool
from tessera.batch.runner import BatchRunner, Status
from tessera.batch.store import ResultStore
from tessera.jobs.classify_run import model_min_side
from tessera.jobs.page_classifier import BatchTiming, PageClassifier
from tessera.models import get_model
from tessera.paths import SAMPLES_DIR
from tessera.shells.page_session import running_server

SCHEMA_ID = "tessera-bench-batch/1"
ASPECT = (4, 3)


def photo_size(megapixels: float) -> tuple[int, int]:
    unit = (megapixels * 1e6 / (ASPECT[0] * ASPECT[1])) ** 0.5
    return max(8, round(unit * ASPECT[0])), max(6, round(unit * ASPECT[1]))


def _photo(i: int, size: tuple[int, int], samples: list[Path]) -> "Image.Image":
    """A sample photo upscaled, under smooth colour fields and sensor-like grain: it costs what a
    real photo of that size costs to decode (flat colour would decode far faster)."""
    from PIL import Image

    rng = np.random.default_rng(i)
    w, h = size
    base = Image.open(samples[i % len(samples)]).convert("RGB").resize(size, Image.Resampling.BICUBIC)
    smooth = Image.fromarray((rng.random((6, 8, 3)) * 255).astype(np.uint8)).resize(size, Image.Resampling.BICUBIC)
    mixed = Image.blend(base, smooth, 0.25)
    grain = rng.normal(0, 6, (h, w, 3)).astype(np.int16)
    return Image.fromarray(np.clip(np.asarray(mixed, np.int16) + grain, 0, 255).astype(np.uint8))


def ensure_photos(root: Path, count: int, megapixels: float, log: Callable[[str], None]) -> list[Path]:
    """count JPEGs of about `megapixels`, made once and kept under root (each one distinct)."""
    size = photo_size(megapixels)
    folder = root / "batch-photos" / f"{size[0]}x{size[1]}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"photo{i:05d}.jpg" for i in range(count)]
    missing = [(i, p) for i, p in enumerate(paths) if not p.exists()]
    if missing:
        log(f"making {len(missing)} {size[0]}×{size[1]} JPEGs in {folder} (once)")
        samples = sorted(SAMPLES_DIR.glob("*.jpg"))
        for i, path in missing:
            tmp = path.with_suffix(".tmp")
            _photo(i, size, samples).save(tmp, "JPEG", quality=90)
            tmp.replace(path)
    return paths


def decode_only_rate(paths: list[Path], min_side: int, workers: int, batch_size: int) -> float:
    started = time.perf_counter()
    with AheadPool(paths, lambda p: decode_image(p, min_side), workers=workers, ahead=2 * batch_size) as pool:
        for _ in pool:
            pass
    return len(paths) / (time.perf_counter() - started)


class TimedStore(ResultStore):
    """The results store, adding up the time its write transactions take."""
    write_s = 0.0

    @contextmanager
    def _transaction(self):
        started = time.perf_counter()
        try:
            with super()._transaction() as conn:
                yield conn
        finally:
            self.write_s += time.perf_counter() - started


def tessera_run(paths: list[Path], model_name: str, batch_size: int, workers: int, backend: str) -> dict:
    installed = get_model(model_name)
    min_side = model_min_side(installed)
    with tempfile.TemporaryDirectory(prefix="tessera-bench-store-") as tmp, \
            TimedStore(Path(tmp) / "results.sqlite3") as store, running_server() as server, \
            PageClassifier(server, installed, top=5, backend=backend) as page:
        page([np.zeros((min_side, min_side, 3), np.uint8)])     # browser up, model loaded, warm
        page.timing = BatchTiming()
        runner = BatchRunner(store, installed.name, page, min_side=min_side, batch_size=batch_size,
                             workers=workers)
        store.write_s = 0.0
        started = time.perf_counter()
        summary = runner.process(_found(paths))
        wall = time.perf_counter() - started
        t = page.timing
        stages = {"inference": t.classify_s, "unpack": t.unpack_s, "transfer": t.transfer_s,
                  "store": store.write_s}
        stages["waiting for decode"] = max(0.0, wall - sum(stages.values()))
        return {"rate": len(paths) / wall, "wall_s": wall, "backend": page.info.backend,
                "load_s": (page.info.load_ms or 0) / 1000, "classified": summary.counts[Status.CLASSIFIED],
                "failed": summary.counts[Status.FAILED], "stages_s": stages}


def _found(paths: list[Path]):
    from tessera.batch.scan import examine

    return (examine(str(p), explicit=True) for p in paths)


def ort_script_rate(paths: list[Path], model_name: str) -> float:
    import onnxruntime

    from tessera.zoo.reference import preprocess

    model = get_model(model_name)
    session = onnxruntime.InferenceSession(str(model.folder / model.meta["source"]),
                                           providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    started = time.perf_counter()
    for path in paths:
        session.run(None, {name: preprocess(path, model.meta["preprocess"])})
    return len(paths) / (time.perf_counter() - started)


def run_batch_bench(root: Path, *, images: int, megapixels: float, model: str, batch_size: int,
                    backend: str, log: Callable[[str], None]) -> dict:
    from tessera.bench import environment

    started = environment.now_utc()
    paths = ensure_photos(root, images, megapixels, log)
    workers = DEFAULT_WORKERS
    min_side = model_min_side(get_model(model))
    log(f"decode only: {images} files on {workers} threads")
    decode = decode_only_rate(paths, min_side, workers, batch_size)
    log("Tessera end to end (decode → page → store)")
    tessera = tessera_run(paths, model, batch_size, workers, backend)
    log("plain onnxruntime (CPU) script")
    ort = ort_script_rate(paths, model)
    width, height = photo_size(megapixels)
    return {
        "schema": SCHEMA_ID, "date": started, "machine": environment.machine_info(),
        "browser": environment.browser_info(),
        "settings": {"images": images, "width": width, "height": height, "model": model,
                     "batch_size": batch_size, "workers": workers, "backend": backend},
        "rates": {"decode_only": decode, "tessera": tessera["rate"], "ort_cpu_script": ort},
        "tessera": tessera,
        "tessera_vs_decode_only": tessera["rate"] / decode,
    }


def format_text(report: dict) -> str:
    s, rates, t = report["settings"], report["rates"], report["tessera"]
    lines = [f"batch: {s['images']} JPEGs of {s['width']}×{s['height']}, {s['model']}, batches of "
             f"{s['batch_size']}, {s['workers']} decode threads; Tessera on {t['backend']} "
             f"(model load {t['load_s']:.1f} s, not in the rate)",
             "", f"{'pipeline':<34}{'images/s':>10}",
             f"{'decode only (same decoder, pool)':<34}{rates['decode_only']:>10.2f}",
             f"{'Tessera end to end':<34}{rates['tessera']:>10.2f}",
             f"{'onnxruntime CPU script':<34}{rates['ort_cpu_script']:>10.2f}",
             "", f"Tessera at {report['tessera_vs_decode_only']:.0%} of the decode-only rate; "
                 f"{t['classified']} classified, {t['failed']} failed in {t['wall_s']:.1f} s:"]
    lines += [f"  {stage:<20}{seconds:>8.2f} s  {seconds / t['wall_s']:>5.0%}" for stage, seconds in t["stages_s"].items()]
    return "\n".join(lines)


def format_markdown(report: dict) -> str:
    s, rates, t = report["settings"], report["rates"], report["tessera"]
    rows = [("decode only (same decoder and pool)", rates["decode_only"]), ("Tessera end to end", rates["tessera"]),
            ("onnxruntime CPU script", rates["ort_cpu_script"])]
    out = [f"{s['images']} JPEGs of {s['width']}×{s['height']}, `{s['model']}`, batches of {s['batch_size']}, "
           f"{s['workers']} decode threads, Tessera on `{t['backend']}`", "",
           "| pipeline | images/s |", "|---|---:|"]
    out += [f"| {name} | {rate:.2f} |" for name, rate in rows]
    out += ["", f"Tessera at {report['tessera_vs_decode_only']:.0%} of the decode-only rate. Where its "
                f"{t['wall_s']:.1f} s went:", "", "| stage | s | share |", "|---|---:|---:|"]
    out += [f"| {stage} | {sec:.2f} | {sec / t['wall_s']:.0%} |" for stage, sec in t["stages_s"].items()]
    return "\n".join(out) + "\n"

