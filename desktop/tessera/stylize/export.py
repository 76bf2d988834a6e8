"""Writing a stylised image: format by suffix, the photo's EXIF kept, the style recorded.

The source's EXIF travels with the result (camera, date, GPS, …) with its Orientation set to 1,
as the pixels are already turned upright. The style goes into EXIF ImageDescription (all three
formats: JPEG APP1, PNG eXIf, WebP EXIF chunk), and PNGs also get a `Description` text chunk,
which more PNG tools show. Files are created with write_output: never over an existing file
(a name that exists gets " (2)", " (3)", …), so neither the source nor an earlier result is
overwritten.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from tessera.errors import TesseraError
from tessera.library.outputs import OutputRefused, write_output

FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
ORIENTATION, IMAGE_DESCRIPTION, SOFTWARE = 0x0112, 0x010E, 0x0131


def check_suffix(path: Path) -> None:
    if path.suffix.lower() not in FORMATS:
        raise TesseraError(f"{path.name}: the output must be a .png, .jpg or .webp file (or a folder).")


def source_exif(path: Path) -> Image.Exif:
    """The photo's EXIF with the orientation normalised; empty when it has none or it's unreadable."""
    try:
        with Image.open(path) as img:
            exif = img.getexif()
    except (OSError, SyntaxError, ValueError, struct.error):
        exif = Image.Exif()
    if ORIENTATION in exif:
        exif[ORIENTATION] = 1
    return exif


def encode(pixels: np.ndarray, suffix: str, exif: Image.Exif, description: str) -> bytes:
    exif[IMAGE_DESCRIPTION] = description
    exif[SOFTWARE] = "Tessera"
    fmt = FORMATS[suffix.lower()]
    options: dict = {"exif": exif.tobytes()}
    if fmt == "PNG":
        text = PngImagePlugin.PngInfo()
        text.add_text("Description", description)
        options["pnginfo"] = text
    elif fmt in ("JPEG", "WEBP"):
        options["quality"] = 95
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt, **options)
    return buffer.getvalue()


def save(pixels: np.ndarray, target: Path, exif: Image.Exif, description: str) -> Path:
    """Write the image as target, or as a free name like it; returns the path written."""
    data = encode(pixels, target.suffix, exif, description)
    try:
        return write_output(target.parent, target.name, data)
    except OutputRefused as e:
        raise TesseraError(str(e)) from None
    except OSError as e:
        raise TesseraError(f"Could not write {target}: {e.strerror or e}.") from None
