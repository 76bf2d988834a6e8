"""Calibration images for quantising a classifier to int8 (`tessera models import --int8`):
photos from a folder, prepared as the app prepares them for the model (shorter side resized,
centre crop, mean and std), one batch of one per photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tessera.batch.decode import ImageRejected, decode_image
from tessera.batch.scan import Kind, scan
from tessera.errors import TesseraError

DEFAULT_LIMIT = 64


def photo_batches(folder: Path, preprocess: dict, nchw: bool, limit: int = DEFAULT_LIMIT) -> list[np.ndarray]:
    """Up to ``limit`` of the folder's photos (subfolders included, in name order) as float32
    batches [1, 3, crop, crop] (or NHWC); unreadable files are passed over. TesseraError when
    none is usable."""
    from PIL import Image

    if not Path(folder).is_dir():
        raise TesseraError(f"{folder} is not a folder: --calibration takes a folder of photos like "
                           "the ones the model will see.")
    crop, resize = preprocess["crop"], preprocess["resize"]
    mean, std = (np.asarray(preprocess[k], np.float32) for k in ("mean", "std"))
    batches = []
    for found in scan([folder], recursive=True):
        if found.kind != Kind.IMAGE or len(batches) >= limit:
            continue
        try:
            pixels = decode_image(found.path, min_side=resize).pixels
        except ImageRejected:
            continue
        image = Image.fromarray(pixels)
        scale = resize / min(image.size)
        image = image.resize((max(crop, round(image.width * scale)), max(crop, round(image.height * scale))),
                             Image.BILINEAR)
        left, top = (image.width - crop) // 2, (image.height - crop) // 2
        x = (np.asarray(image.crop((left, top, left + crop, top + crop)), np.float32) - mean) / std
        batches.append(np.ascontiguousarray((x.transpose(2, 0, 1) if nchw else x)[None], dtype=np.float32))
    if not batches:
        raise TesseraError(f"No photo in {folder} could be read to calibrate the int8 model with.")
    return batches
