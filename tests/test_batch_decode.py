"""decode_image(): the right size and colours from every supported kind of file, one sentence otherwise."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from tessera.batch.decode import decode_image
from tessera.library.images import ImageRejected
from tessera.paths import SAMPLES_DIR


def test_large_jpeg_is_decoded_small_in_draft_mode_then_resized(tmp_path, monkeypatch):
    photo = tmp_path / "big.jpg"
    Image.open(SAMPLES_DIR / "chelsea.jpg").resize((4000, 3000)).save(photo, quality=90)
    decoded_sizes = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = real_draft(self, mode, size)
        decoded_sizes.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    out = decode_image(photo, 256)
    assert out.pixels.shape == (256, 341, 3) and out.pixels.dtype == np.uint8
    assert (out.width, out.height, out.format) == (4000, 3000, "JPEG")
    assert decoded_sizes == [(500, 375)]       # libjpeg decoded at 1/8 scale, still ≥ 256


def test_small_images_are_not_enlarged_and_none_means_full_size(tmp_path):
    Image.new("RGB", (100, 80), (10, 20, 30)).save(tmp_path / "small.png")
    assert decode_image(tmp_path / "small.png", 256).pixels.shape == (80, 100, 3)
    assert decode_image(SAMPLES_DIR / "coffee.jpg").pixels.shape[:2] == Image.open(SAMPLES_DIR / "coffee.jpg").size[::-1]


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (60, 40), (200, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6      # rotate 90° clockwise to display
    img.save(tmp_path / "turned.jpg", exif=exif)
    out = decode_image(tmp_path / "turned.jpg", 20)
    assert out.pixels.shape == (30, 20, 3)
    assert (out.width, out.height) == (40, 60)


def test_gif_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (32, 32), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    pixels = decode_image(tmp_path / "anim.gif").pixels
    assert tuple(pixels[16, 16]) == (255, 0, 0)


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    grey = np.full((20, 20), 40000, dtype=np.uint16)
    Image.fromarray(grey).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    assert tuple(decode_image(tmp_path / "deep.png").pixels[0, 0]) == (156, 156, 156)   # 40000 >> 8


def test_cmyk_palette_and_alpha_become_rgb(tmp_path):
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    red = decode_image(tmp_path / "cmyk.jpg").pixels[8, 8]
    assert red[0] > 200 and red[1] < 60 and red[2] < 60
    Image.new("RGBA", (16, 16), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    assert tuple(decode_image(tmp_path / "clear.png").pixels[8, 8]) == (255, 255, 255)
    palette = Image.new("P", (16, 16), 1)
    palette.putpalette([0, 0, 0, 0, 128, 0])
    palette.save(tmp_path / "pal.png", transparency=0)
    assert tuple(decode_image(tmp_path / "pal.png").pixels[8, 8]) == (0, 128, 0)
    Image.new("RGB", (16, 16), (0, 0, 200)).save(tmp_path / "x.bmp")
    Image.new("RGB", (16, 16), (0, 0, 200)).save(tmp_path / "x.tif")
    Image.new("RGB", (16, 16), (0, 0, 200)).save(tmp_path / "x.webp", lossless=True)
    for name in ("x.bmp", "x.tif", "x.webp"):
        assert tuple(decode_image(tmp_path / name).pixels[8, 8]) == (0, 0, 200)


def png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("name, data, message", [
    ("empty.jpg", b"", "the file is empty (0 bytes)"),
    ("text.jpg", b"hello, not a photo", "not an image file, or an image format Tessera can't read"),
    ("bomb.png", png_header_only(20_000, 20_000), "the image is too large (20000×20000, over 250 megapixels)"),
], ids=["empty", "not-an-image", "bomb-refused-from-header"])
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_bad_files_are_refused_in_one_sentence(tmp_path, name, data, message):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(ImageRejected) as e:
        decode_image(tmp_path / name, 256)
    assert str(e.value) == message


def test_truncated_and_unsupported_images_are_refused(tmp_path):
    whole = (SAMPLES_DIR / "rocket.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ImageRejected, match="corrupt or truncated"):
        decode_image(tmp_path / "cut.jpg", 256)
    Image.new("RGB", (16, 16)).save(tmp_path / "icon.png", format="ICO")
    with pytest.raises(ImageRejected, match=r"^ICO images are not supported"):
        decode_image(tmp_path / "icon.png")
