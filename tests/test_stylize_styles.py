"""Style choice and the CPU-side pixel work of `tessera stylize` (no browser)."""

from __future__ import annotations

import numpy as np
import pytest

from tessera.errors import TesseraError
from tessera.stylize import pixels
from tessera.stylize.styles import choose_style

rng = np.random.default_rng()


def test_builtin_styles_by_name_and_index_blend_normalised():
    choice = choose_style("style-3", "7=3")
    weights = choice.weights()
    assert choice.builtin and choice.network == "multistyle26" and choice.predictor is None
    assert weights[3] == pytest.approx(0.25) and weights[7] == pytest.approx(0.75) and sum(weights) == pytest.approx(1)
    assert choice.label == "style-3+style-7"


def test_image_styles_blend_their_vectors(tmp_path):
    a, b = tmp_path / "a.jpg", tmp_path / "b.png"
    a.write_bytes(b"x")
    b.write_bytes(b"x")
    choice = choose_style(None, f"{a}=1,{b}=3")
    assert not choice.builtin and choice.predictor == "arbitrary-predict"
    assert choice.images == [a, b] and choice.weights() == pytest.approx([0.25, 0.75])


@pytest.mark.parametrize("style, mix", [("26", None), ("nowhere.jpg", None), (None, "3"), (None, "3=-1"),
                                        (None, None), (None, "3=0,5=0")])
def test_bad_styles_are_refused(style, mix):
    with pytest.raises(TesseraError):
        choose_style(style, mix)


def test_builtin_and_image_styles_do_not_mix(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    with pytest.raises(TesseraError, match="can't be mixed"):
        choose_style("3", f"{tmp_path / 'a.jpg'}=1")


def test_preserve_colours_keeps_stylised_luminance_and_photo_chroma():
    photo = rng.integers(0, 256, (8, 6, 3), dtype=np.uint8)
    stylised = rng.integers(0, 256, (8, 6, 3), dtype=np.uint8)
    assert np.array_equal(pixels.finish(photo, photo, 1.0, True), photo)
    out = pixels.finish(stylised, photo, 1.0, True).astype(float)
    luma = np.array([0.299, 0.587, 0.114])
    inside = (out > 0).all(-1) & (out < 255).all(-1)          # clipping changes the rest
    assert np.abs(out @ luma - stylised @ luma)[inside].max() <= 1.0
    chroma = lambda x: x - (x @ luma)[..., None]            # noqa: E731
    assert np.abs(chroma(out) - chroma(photo.astype(float)))[inside].max() <= 1.0


def test_strength_blends_with_the_photo():
    photo = np.zeros((4, 4, 3), np.uint8)
    stylised = np.full((4, 4, 3), 200, np.uint8)
    assert (pixels.finish(stylised, photo, 0.25, False) == 50).all()
    assert pixels.finish(stylised, photo, 1.0, False) is stylised


def test_padding_reaches_the_multiple_and_style_images_are_square():
    padded = pixels.pad_to_multiple(rng.integers(0, 256, (30, 41, 3), dtype=np.uint8), 4)
    assert padded.shape == (32, 44, 3)
    assert pixels.style_square(rng.integers(0, 256, (50, 90, 3), dtype=np.uint8)).shape == (256, 256, 3)
