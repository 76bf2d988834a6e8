"""Checks an image file before the page sees it, and hands the browser bytes it can decode.

Pillow opens and decodes every file (JPEG in draft mode, so even a 50-megapixel photo costs a
fraction of a full decode): a corrupt, truncated, empty or non-image file becomes one clear
sentence instead of a blank result. Formats the browser can't decode (TIFF, …) and very
large images are transcoded to a browser-friendly size, with EXIF orientation applied.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

# Formats Chromium decodes itself (MPO is a multi-picture JPEG).
BROWSER_FORMATS = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png",
                   "GIF": "image/gif", "WEBP": "image/webp", "BMP": "image/bmp"}
MAX_PIXELS = 250_000_000         # refuse beyond this: decoding alone would need gigabytes
MAX_BROWSER_SIDE = 8192          # larger images are downscaled before the browser sees them
TRANSCODE_SIDE = 4096
VALIDATE_SIDE = 512              # JPEG draft size used only to prove the data decodes

# Pillow's own bomb guard, raised to our limit; we report the size ourselves below it.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class ImageRejected(Exception):
    """This file can't be used as an image; str(e) says why in one sentence."""


@dataclass(frozen=True)
class BrowserImage:
    data: bytes
    content_type: str
    width: int
    height: int


def open_checked(path: Path) -> Image.Image:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageRejected("the file does not exist (any more)") from None
    except PermissionError:
        raise ImageRejected("permission denied reading the file") from None
    if size == 0:
        raise ImageRejected("the file is empty (0 bytes)")
    try:
        img = Image.open(path)
    except UnidentifiedImageError:
        raise ImageRejected("not an image file, or an image format Tessera can't read") from None
    except Image.DecompressionBombError:
        raise ImageRejected(f"the image is too large (over {MAX_PIXELS // 1_000_000} megapixels)") from None
    except OSError as e:
        raise ImageRejected(f"could not read the file ({e.strerror or e})") from None
    if img.width * img.height > MAX_PIXELS:
        raise ImageRejected(f"the image is too large ({img.width}×{img.height}, over "
                            f"{MAX_PIXELS // 1_000_000} megapixels)")
    return img


def decode_checked(img: Image.Image, max_side: int) -> Image.Image:
    """Fully decode (at reduced scale for JPEG), so truncation and corruption surface here."""
    try:
        if img.format in ("JPEG", "MPO"):
            img.draft("RGB", (max_side, max_side))
        img.load()
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageRejected(f"the image data is corrupt or truncated ({e})") from None
    return img


def prepare_for_browser(path: Path) -> BrowserImage:
    """Validate path as an image and return bytes the browser can decode."""
    with open_checked(path) as img:
        width, height = img.size
        native = img.format in BROWSER_FORMATS and max(width, height) <= MAX_BROWSER_SIDE
        decoded = decode_checked(img, VALIDATE_SIDE if native else TRANSCODE_SIDE)
        if native:
            return BrowserImage(path.read_bytes(), BROWSER_FORMATS[img.format], width, height)
        frame = ImageOps.exif_transpose(decoded).convert("RGB")
        frame.thumbnail((TRANSCODE_SIDE, TRANSCODE_SIDE), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        frame.save(buf, "PNG", compress_level=1)
        return BrowserImage(buf.getvalue(), "image/png", width, height)
