"""The pixel work around a style network, on uint8 RGB arrays (height × width × 3).

Before: the photo's longer side capped (`--max-side`), then a reflection padding to the
network's size multiple (its two stride-2 stages and two ×2 upsamplings give back the padded
size only for multiples of 4), cropped off again after. A style image is centre-cropped to a
square and resized to the predictor's 256 × 256. After: colour preservation and strength, in
float, each exact: the stylised luminance with the photo's chroma (BT.601 YCbCr, full range:
a linear, invertible transform, so a photo stylised with itself comes back unchanged), then
the blend with the photo.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from tessera.errors import TesseraError

MIN_SIDE = 16
STYLE_SIDE = 256

# RGB -> (Y, Cb, Cr) without the +128 offset, which cancels in the round trip.
_TO_YCC = np.array([[0.299, 0.587, 0.114],
                    [-0.168736, -0.331264, 0.5],
                    [0.5, -0.418688, -0.081312]])
_FROM_YCC = np.linalg.inv(_TO_YCC)


def _lanczos(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.LANCZOS))


def fit(pixels: np.ndarray, max_side: int | None) -> np.ndarray:
    """The photo with its longer side at most max_side (never enlarged)."""
    h, w = pixels.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise TesseraError(f"The image is too small ({w}×{h}); both sides need at least {MIN_SIDE} pixels.")
    if max_side is None or max(h, w) <= max_side:
        return pixels
    scale = max_side / max(h, w)
    return _lanczos(pixels, (max(MIN_SIDE, round(w * scale)), max(MIN_SIDE, round(h * scale))))


def pad_to_multiple(pixels: np.ndarray, multiple: int) -> np.ndarray:
    h, w = pixels.shape[:2]
    return np.pad(pixels, ((0, -h % multiple), (0, -w % multiple), (0, 0)), mode="reflect")


def style_square(pixels: np.ndarray) -> np.ndarray:
    """The centre square, resized to the predictor's input size."""
    h, w = pixels.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return _lanczos(np.ascontiguousarray(pixels[top:top + side, left:left + side]), (STYLE_SIDE, STYLE_SIDE))


def finish(stylised: np.ndarray, original: np.ndarray, strength: float, preserve_colours: bool) -> np.ndarray:
    """Colour preservation, then strength (1: the stylised image, 0: the photo)."""
    if not preserve_colours and strength >= 1:
        return stylised
    out = stylised.astype(np.float64)
    photo = original.astype(np.float64)
    if preserve_colours:
        ycc = out @ _TO_YCC.T
        ycc[..., 1:] = (photo @ _TO_YCC.T)[..., 1:]
        out = ycc @ _FROM_YCC.T
    out = strength * out + (1 - strength) * photo
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
