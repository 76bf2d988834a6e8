"""Every file the page may see is checked first; bad input becomes one clear sentence."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from tessera.library.images import ImageRejected, prepare_for_browser

SAMPLE = "assets/samples/rocket.jpg"


def rejected(path) -> str:
    with pytest.raises(ImageRejected) as e:
        prepare_for_browser(path)
    return str(e.value)


def test_browser_formats_are_served_as_they_are(tmp_path):
    img = prepare_for_browser(__import__("pathlib").Path(SAMPLE))
    assert img.data == open(SAMPLE, "rb").read() and img.content_type == "image/jpeg"


def test_empty_file(tmp_path):
    (tmp_path / "e.jpg").write_bytes(b"")
    assert rejected(tmp_path / "e.jpg") == "the file is empty (0 bytes)"


def test_text_file_named_jpg(tmp_path):
    (tmp_path / "t.jpg").write_text("hello, I am not a photo\n" * 20)
    assert "not an image file" in rejected(tmp_path / "t.jpg")


def test_truncated_jpeg(tmp_path):
    data = open(SAMPLE, "rb").read()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    assert "corrupt or truncated" in rejected(tmp_path / "cut.jpg")


def test_jpeg_with_garbage_in_the_middle(tmp_path):
    data = bytearray(open(SAMPLE, "rb").read())
    data[2000:6000] = b"\xff" * 4000
    (tmp_path / "bad.jpg").write_bytes(bytes(data))
    assert "corrupt or truncated" in rejected(tmp_path / "bad.jpg")


def test_missing_file(tmp_path):
    assert "does not exist" in rejected(tmp_path / "gone.jpg")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a huge size: the check must refuse it without decoding anything."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_huge_image_is_refused_by_its_header(tmp_path):
    (tmp_path / "huge.png").write_bytes(_png_header_only(40000, 40000))
    assert "too large" in rejected(tmp_path / "huge.png")


def test_tiff_is_transcoded_for_the_browser_with_orientation_applied(tmp_path):
    img = Image.new("RGB", (60, 30), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6          # rotate 90° clockwise on display
    img.save(tmp_path / "scan.tif", exif=exif)
    out = prepare_for_browser(tmp_path / "scan.tif")
    assert out.content_type == "image/png"
    shown = Image.open(io.BytesIO(out.data))
    assert shown.size == (30, 60)


def test_very_large_dimensions_are_downscaled_for_the_browser(tmp_path):
    Image.new("RGB", (9000, 40), (0, 90, 0)).save(tmp_path / "wide.png")
    out = prepare_for_browser(tmp_path / "wide.png")
    assert max(Image.open(io.BytesIO(out.data)).size) == 4096
