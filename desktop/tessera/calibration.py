"""Calibration images for quantising a classifier to int8 (`tessera models import --int8`):
photos from a folder, prepared as the app prepares them for the model (the reference pipeline,
zoo/reference.py), one batch of one per photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tessera.batch.decode import ImageRejected, decode_image
from tessera.batch.scan import Kind, scan
from tessera.errors import TesseraError
from tessera.zoo.reference import preprocess as reference_preprocess

DEFAULT_LIMIT = 64


def photo_batches(folder: Path, preprocess: dict, nchw: bool, limit: int = DEFAULT_LIMIT) -> list[np.ndarray]:
    """Up to ``limit`` of the folder's photos (subfolders included, in name order) as float32
    batches [1, 3, crop, crop] (or NHWC); unreadable files are passed over. TesseraError when
    none is usable."""
    from PIL import Image

    if not Path(folder).is_dir():
        raise TesseraError(f"{folder} is not a folder: --int8 takes a folder of photos like the ones "
                           "the model will see.")
    batches = []
    for found in scan([folder], recursive=True):
        if found.kind != Kind.IMAGE or len(batches) >= limit:
            continue
        try:   # decoded as the batch pipeline decodes (orientation applied, refusals in a sentence)
            pixels = decode_image(found.path, min_side=preprocess["resize"]).pixels
        except ImageRejected:
            continue
        x = reference_preprocess(Image.fromarray(pixels), preprocess)
        batches.append(x if nchw else np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
    if not batches:
        raise TesseraError(f"No photo in {folder} could be read to calibrate the int8 model with.")
    return batches
