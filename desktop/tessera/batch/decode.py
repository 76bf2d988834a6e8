"""Decode one image file to RGB pixels at least as large as the model needs, and no larger.

The model resizes the shorter side to a fixed size before its centre crop (256 px for a 224 px
input), so decoding a 12-megapixel photo at full size wastes most of the work: a JPEG is
decoded in draft mode at 1/2 to 1/8 scale (libjpeg skips the fine DCT coefficients), chosen so
that the shorter side stays at or above the target, then resized with Lanczos to exactly the
target. Other formats are decoded at full size and resized the same way.

The checks shared with the app's image route come from `library.images`: empty files, non-images,
corrupt or truncated data and decompression bombs (refused from the header's size, before any
pixel is decoded) each raise `ImageRejected` with one sentence.
"""

from __future__ import annotations

import os
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from tessera.library.images import ImageRejected, decode_checked, open_checked

SUPPORTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF"})
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})
BACKGROUND = (255, 255, 255)     # transparent areas become white, as image viewers show them

# open_checked refuses oversized images itself, with the size in its message; Pillow's own
# warning for the same images would only add noise on stderr.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


@dataclass(frozen=True)
class Decoded:
    pixels: np.ndarray      # height × width × 3, uint8, RGB, EXIF orientation applied
    width: int              # the image's own size (after orientation), before any downscaling
    height: int
    format: str             # Pillow's name for the file's format: JPEG, PNG, …


def _oriented(img: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(img)
    except (OSError, SyntaxError, ValueError, struct.error):
        return img    # unreadable EXIF: the pixels are still good, keep them as stored


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in SIXTEEN_BIT_MODES:
        # Pillow's own conversion clips 16-bit values at 255 (a white picture); scale instead.
        wide = np.asarray(img).astype(np.uint32)
        return Image.fromarray((np.clip(wide, 0, 65535) >> 8).astype(np.uint8), "L").convert("RGB")
    if "A" in img.mode or "transparency" in img.info:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def _shrunk(img: Image.Image, min_side: int | None) -> Image.Image:
    short = min(img.size)
    if min_side is None or short <= min_side:
        return img
    scale = min_side / short
    size = tuple(min_side if side == short else max(min_side, round(side * scale)) for side in img.size)
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def decode_image(path: str | os.PathLike, min_side: int | None = None) -> Decoded:
    """RGB pixels whose shorter side is min_side (or the image's own, if smaller); None: full size.

    Raises ImageRejected (one sentence) for anything that is not a readable, supported image.
    GIF and multi-page TIFF give their first frame.
    """
    with open_checked(Path(path)) as img:
        if img.format not in SUPPORTED_FORMATS:
            raise ImageRejected(f"{img.format} images are not supported "
                                f"(Tessera reads JPEG, PNG, WebP, GIF, BMP and TIFF)")
        width, height = img.size      # before draft mode shrinks it
        loaded = decode_checked(img, min_side or max(width, height))
        try:
            oriented = _oriented(loaded)
            pixels = np.asarray(_shrunk(_to_rgb(oriented), min_side))
        except (OSError, ValueError) as e:
            raise ImageRejected(f"the image could not be converted to RGB ({e})") from None
        if oriented.size != loaded.size:    # turned a quarter by its EXIF orientation
            width, height = height, width
        return Decoded(pixels, width, height, img.format)
