"""The Style view in real Chromium (SwiftShader): a small photo stylised in the preview equals
the network's output for the same photo and style (onnxruntime; fp16 weights on the GPU); strength 0 shows the original; the split
shows the original left of its line; undo/redo restores the previous style; the editing state
survives a reload; export writes a new file into the output folder with the photo's EXIF kept
and the style in its metadata. Light and dark screenshots of the view.

Chromium on SwiftShader loses the device on any draw into a real WebGPU canvas, so the preview
canvas's WebGPU context is a stand-in (tests/webgpu_canvas_standin.js) that copies each frame's
texture into the element: what the app's render pass drew is checked, presentation isn't."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.conftest import REPO
from tests.ui_harness import running_app, screenshot_both_schemes

STANDIN = REPO / "tests" / "webgpu_canvas_standin.js"
W, H = 64, 48
MAKE, IMAGE_DESCRIPTION = 0x010F, 0x010E
CAMERA_MAKE = "Tessera Test Camera"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> tuple[object, np.ndarray]:
    """A smooth 64×48 PNG (lossless, so the browser and numpy see the same pixels) with EXIF."""
    yy, xx = np.mgrid[0:H, 0:W]
    rgb = np.stack([xx * 4, yy * 5, 255 - xx * 2 - yy * 2], -1).clip(0, 255).astype(np.uint8)
    rgb[16:32, 20:44] = [240, 200, 40]          # an edge for the style to work on
    path = tmp_path_factory.mktemp("photos") / "harbour.png"
    exif = Image.Exif()
    exif[MAKE] = CAMERA_MAKE
    Image.fromarray(rgb).save(path, exif=exif.tobytes())
    return path, rgb


@pytest.fixture(scope="module")
def app(webapp_dist, bundled_models, tmp_path_factory):
    with running_app(webapp_dist, tmp_path_factory.mktemp("userdata")) as running:
        yield running


@pytest.fixture(scope="module")
def page(app):
    server, browser, errors = app
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    context.add_init_script(path=str(STANDIN))
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.app_url() + "#style")
    expect(page.locator(".view-style .status")).to_contain_text("on webgpu", timeout=120_000)
    return page


def settled(page) -> None:
    """Every draw the view asked for is done and on the canvas."""
    page.wait_for_function("""() => {
        const c = document.querySelector('.view-style canvas');
        return c.dataset.idle === 'true' && c.dataset.frames && c.dataset.presented === c.dataset.frames;
    }""", timeout=120_000)


def preview_pixels(page) -> np.ndarray:
    settled(page)
    rgba = page.evaluate("""() => {
        const c = document.querySelector('.view-style canvas');
        const copy = new OffscreenCanvas(c.width, c.height).getContext('2d');
        copy.drawImage(c, 0, 0);
        return Array.from(copy.getImageData(0, 0, c.width, c.height).data);
    }""")
    return np.asarray(rgba, np.uint8).reshape(H, W, 4)[..., :3]


def network_output(rgb: np.ndarray, style: int) -> np.ndarray:
    """multistyle26's output for the photo and one style, by onnxruntime on the package's source
    ONNX (the engine's equality with it is the engine tests' business; loading the package a
    second time on SwiftShader would cost this test half a minute)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(REPO / "build" / "models" / "multistyle26" / "source.onnx"),
                                   providers=["CPUExecutionProvider"])
    weights = np.zeros(26, np.float32)
    weights[style] = 1
    x = (rgb.astype(np.float32) / 255).transpose(2, 0, 1)[None]
    image_input, style_input = (i.name for i in session.get_inputs())
    out = session.run(None, {image_input: x, style_input: weights})[0][0]
    return (np.clip(out.transpose(1, 2, 0), 0, 1) * 255).round().astype(np.uint8)


def choose_style(page, index: int) -> None:
    page.get_by_role("button", name=f"style-{index}", exact=True).click()
    expect(page.locator(".style-tile.chosen")).to_have_count(1)


def test_preview_is_the_networks_output_and_its_controls_composite_on_the_gpu(app, page, photo):
    server, _, _ = app
    path, rgb = photo
    expect(page.locator(".view-style .message")).to_contain_text("Open a photo")
    server.api.dialogs.next = [path]
    page.get_by_role("button", name="Open photo…").click()
    choose_style(page, 3)
    styled = preview_pixels(page)
    expected = network_output(rgb, 3)
    print(f"preview vs onnxruntime: {psnr(styled, expected):.1f} dB")
    assert psnr(styled, expected) >= 35
    assert psnr(styled, rgb) < 20                   # really stylised, not the photo

    page.get_by_label("Strength").fill("0")
    assert np.abs(preview_pixels(page).astype(int) - rgb).max() <= 1
    page.get_by_role("button", name="Undo").click()    # strength back to 1
    expect(page.get_by_label("Strength")).to_have_value("1")

    page.get_by_label("Before and after").fill("0.5")
    split = preview_pixels(page).astype(int)
    assert np.abs(split[:, :W // 2 - 1] - rgb[:, :W // 2 - 1]).max() <= 1
    assert psnr(split[:, W // 2 + 1:], styled[:, W // 2 + 1:]) >= 40
    page.get_by_label("Before and after").fill("0")


def test_undo_redo_and_reload_restore_the_editing_state(page):
    styled3 = preview_pixels(page)
    choose_style(page, 7)
    styled7 = preview_pixels(page)
    assert psnr(styled7, styled3) < 30
    page.keyboard.press("Control+z")
    expect(page.get_by_role("option").nth(3)).to_have_attribute("aria-selected", "true")
    assert psnr(preview_pixels(page), styled3) >= 40
    page.keyboard.press("Control+Shift+z")
    expect(page.get_by_role("option").nth(7)).to_have_attribute("aria-selected", "true")
    assert psnr(preview_pixels(page), styled7) >= 40

    page.get_by_role("option").nth(12).get_by_role("button", name="Add style-12 to the mix").click()
    expect(page.get_by_label("Weight of style-12")).to_be_visible()
    page.get_by_label("Keep the original colours").check()
    mixed = preview_pixels(page)

    page.reload()
    expect(page.locator(".view-style .status")).to_contain_text("on webgpu", timeout=120_000)
    expect(page.get_by_label("Weight of style-12")).to_be_visible()
    expect(page.get_by_label("Keep the original colours")).to_be_checked()
    assert psnr(preview_pixels(page), mixed) >= 40      # the same photo, mix and colours
    page.locator(".style-side").evaluate("(side) => { side.scrollTop = 0; }")
    screenshot_both_schemes(page, "style")


def test_export_writes_a_new_file_with_the_photos_exif_and_the_style(app, page, photo, tmp_path):
    server, _, _ = app
    path, _ = photo
    server.api.dialogs.next = [tmp_path]
    page.get_by_role("button", name="Export", exact=True).click()
    expect(page.locator(".style-side .notice")).to_contain_text("Exported harbour-", timeout=120_000)
    page.get_by_role("button", name="Export", exact=True).click()      # again: a second file, none overwritten
    expect(page.locator(".style-side .notice")).to_contain_text("(2).png", timeout=120_000)
    written = sorted(tmp_path.glob("harbour-*.png"))
    assert len(written) == 2
    with Image.open(written[0]) as out:
        assert out.size == (W, H)
        exif = out.getexif()
        assert exif[MAKE] == CAMERA_MAKE
        assert "style-7" in exif[IMAGE_DESCRIPTION] and "style-12" in exif[IMAGE_DESCRIPTION]
        assert "original colours" in exif[IMAGE_DESCRIPTION]


def test_without_webgpu_the_view_says_what_to_do(app):
    server, browser, errors = app
    context = browser.new_context()
    context.add_init_script("Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined });")
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.app_url() + "#style")
    expect(page.locator(".view-style .message")).to_contain_text("needs WebGPU", timeout=60_000)
    expect(page.get_by_role("button", name="Open photo…")).to_be_disabled()
    context.close()
