"""`tessera stylize` end to end, as a user runs it (headless Chromium; `auto` picks wasm on this
software adapter): a small photo with an EXIF orientation and a camera make comes out upright,
stylised like onnxruntime stylises it, with the make kept, the orientation normalised and the
style recorded; a second run never overwrites; bad input is one sentence and the right exit code."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image, ImageOps

from tessera import paths

MAKE, ORIENTATION, DESCRIPTION = 0x010F, 0x0112, 0x010E


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A 40×28 JPEG stored sideways: orientation 6 (turn 90° clockwise to view)."""
    path = tmp_path_factory.mktemp("photos") / "holiday.jpg"
    img = Image.open(paths.SAMPLES_DIR / "astronaut.jpg").convert("RGB").resize((40, 28), Image.LANCZOS)
    exif = Image.Exif()
    exif[MAKE], exif[ORIENTATION] = "TestCam", 6
    img.save(path, quality=95, exif=exif.tobytes())
    return path


def reference(photo_path, style: int) -> np.ndarray:
    """onnxruntime's multistyle26 on the upright photo, padded to a multiple of 4 and cropped back."""
    upright = np.asarray(ImageOps.exif_transpose(Image.open(photo_path)).convert("RGB"), np.float32) / 255
    h, w, _ = upright.shape
    padded = np.pad(upright, ((0, -h % 4), (0, -w % 4), (0, 0)), mode="reflect")
    weights = np.zeros(26, np.float32)
    weights[style] = 1
    session = ort.InferenceSession(str(paths.bundled_models_dir() / "multistyle26" / "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    out = session.run(None, {"image": padded.transpose(2, 0, 1)[None], "style_weights": weights})[0][0]
    return np.clip(out.transpose(1, 2, 0)[:h, :w], 0, 1)


def test_stylized_photo_is_upright_keeps_exif_and_records_the_style(run_cli, photo, tmp_path):
    out_dir = tmp_path / "out"
    done = run_cli("stylize", str(photo), "--style", "style-3", "-o", str(out_dir))
    assert done.returncode == 0, done.stderr
    result = out_dir / "holiday-style-3.png"
    with Image.open(result) as img:
        assert img.size == (28, 40)                     # turned upright
        exif = img.getexif()
        assert exif[MAKE] == "TestCam" and exif[ORIENTATION] == 1
        assert "style-3" in exif[DESCRIPTION] and "style-3" in img.text["Description"]
        pixels = np.asarray(img.convert("RGB"), np.float64) / 255
    mse = np.mean((pixels - reference(photo, 3)) ** 2)
    assert 10 * np.log10(1 / mse) >= 40      # 8-bit rounding alone gives ~59 dB

    first = result.read_bytes()
    again = run_cli("stylize", str(photo), "--style", "3", "-o", str(out_dir))
    assert again.returncode == 0, again.stderr
    assert result.read_bytes() == first
    assert (out_dir / "holiday-style-3 (2).png").is_file()


def test_strength_and_colours_and_json_timings(run_cli, photo, tmp_path):
    target = tmp_path / "soft.jpg"
    done = run_cli("stylize", str(photo), "--mix", "3=1,7=1", "--strength", "0.5", "--preserve-colors",
                   "-o", str(target), "--json")
    assert done.returncode == 0, done.stderr
    import json

    record = json.loads(done.stdout)
    assert record["ok"] and record["output"] == str(target)
    assert set(record["stages_ms"]) >= {"decode", "render", "transfer", "encode"}
    with Image.open(target) as img:
        assert img.format == "JPEG" and "style-3 50%, style-7 50%" in img.getexif()[DESCRIPTION]


def test_bad_inputs_are_one_sentence(run_cli, tmp_path):
    junk = tmp_path / "notes.jpg"
    junk.write_text("not an image")
    done = run_cli("stylize", str(junk), "--style", "1", "-o", str(tmp_path))
    assert done.returncode == 1
    assert done.stdout.count("\n") == 1 and "error:" in done.stdout and "Traceback" not in done.stderr

    unknown = run_cli("stylize", str(junk), "--style", "style-26")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "tessera: There is no built-in style 'style-26': use style-0 to style-25."
