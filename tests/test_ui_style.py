"""The Style view in real Chromium (SwiftShader): a small photo stylised in the preview equals
the network's output for the same photo and style (onnxruntime; fp16 weights on the GPU);
strength 0 shows the original; the split shows the original left of its line; undo/redo
restores the previous style; the editing state survives a reload; export writes a new file into
the output folder with the photo's EXIF kept and the style in its metadata. Style images: the
preview equals the arbitrary pair's output by onnxruntime for that style image, blends of two
style images and with the photo's own style equal the transform of the blended vector, a file
that is no image gets one sentence, the styles survive a reload, an export names the style
image. The status line says what runs the preview (and the style predictor, and why on wasm),
and the wasm banner is not shown over the view. Light and dark screenshots of the view.

Speed: the app runs on a build folder of its own holding only the three style packages, whose
reference shape (the size the engine compiles pipelines for at load) is the test photo's, so
SwiftShader compiles each network's pipelines once, not for 512² and again for 64×48; and no
classifier loads in the background.

Chromium on SwiftShader loses the device on any draw into a real WebGPU canvas, so the preview
canvas's WebGPU context is a stand-in (tests/webgpu_canvas_standin.js) that copies each frame's
texture into the element: what the app's render pass drew is checked, presentation isn't."""

from __future__ import annotations

import base64
import json
import shutil

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image
from playwright.sync_api import expect

from tessera import paths
from tests.conftest import REPO
from tests.engine_harness import from_page
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


STYLE_PACKAGES = ("multistyle26", "arbitrary-predict", "arbitrary-transform")
TRANSFORM_VECTOR = "mobilenet_conv/Conv/BiasAdd"


@pytest.fixture(scope="module")
def style_build(bundled_models, tmp_path_factory):
    """A build folder with the three style packages, the image networks' reference shape set
    to the test photo's size (the predictor's is already its 256×256)."""
    build = tmp_path_factory.mktemp("build")
    for name in STYLE_PACKAGES:
        folder = build / "models" / name
        shutil.copytree(paths.bundled_models_dir() / name, folder)
        manifest = json.loads((folder / "manifest.json").read_text())
        if name != "arbitrary-predict":
            manifest["memory"]["reference_bindings"] = {"h": H, "w": W}
        (folder / "manifest.json").write_text(json.dumps(manifest))
    return build


@pytest.fixture(scope="module")
def app(webapp_dist, style_build, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("TESSERA_BUILD_DIR", str(style_build))
    try:
        with running_app(webapp_dist, tmp_path_factory.mktemp("userdata")) as running:
            yield running
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def page(app):
    server, browser, errors = app
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    context.add_init_script(path=str(STANDIN))
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.app_url() + "#style")
    expect(page.locator(".view-style .status")).to_contain_text("Preview on webgpu", timeout=120_000)
    return page


def settled(page) -> None:
    """Every draw the view asked for is done and on the canvas (on a timeout, what the view
    says is in the error)."""
    try:
        page.wait_for_function("""() => {
            const c = document.querySelector('.view-style canvas');
            return c.dataset.idle === 'true' && c.dataset.frames && c.dataset.presented === c.dataset.frames;
        }""", timeout=240_000)
    except Exception as e:
        said = page.evaluate("""() => [...document.querySelectorAll(
            '.view-style .status, .view-style .notice, .view-style .message')].map((e) => e.textContent)
            .concat(JSON.stringify(document.querySelector('.view-style canvas').dataset))""")
        raise AssertionError(f"the preview did not settle; the view says {said}") from e


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
    second time on SwiftShader would only slow this test down)."""
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


@pytest.fixture(scope="module")
def style_images(tmp_path_factory) -> dict[str, tuple[object, np.ndarray]]:
    """Two 256×256 PNG style images: the predictor's own size, so the page feeds them unresized."""
    folder = tmp_path_factory.mktemp("styles")
    out = {}
    for name, sample in (("wave.png", "coffee"), ("stripes.png", "astronaut")):
        img = Image.open(paths.SAMPLES_DIR / f"{sample}.jpg").convert("RGB")
        side = min(img.size)
        img = img.crop(((img.width - side) // 2, (img.height - side) // 2,
                        (img.width + side) // 2, (img.height + side) // 2)).resize((256, 256), Image.LANCZOS)
        img.save(folder / name)
        out[name] = (folder / name, np.asarray(img))
    return out


def style_vector(page, rgb: np.ndarray) -> np.ndarray:
    """The predictor's style vector of a 256×256 image by onnxruntime-web's wasm in the page, at
    the 'basic' level (the ONNX semantics, as the app runs it on wasm). Not Python's onnxruntime:
    the int8 predictor rounds every activation to a quantisation step, so two float
    implementations' vectors differ by a few per cent (docs/stylize.md), which alone moves the
    picture below 40 dB; the preview is checked against the transform of this very vector."""
    got = page.evaluate("""async (b64) => {
        const pixels = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
        const base = new URL('vendor/ort/', document.baseURI).href;
        const ort = await import(`${base}ort.webgpu.min.mjs`);
        ort.env.wasm.wasmPaths = base;
        window.testPredictor ??= fetch('models/arbitrary-predict/source.onnx').then((r) => r.arrayBuffer())
            .then((model) => ort.InferenceSession.create(new Uint8Array(model),
                { executionProviders: ['wasm'], graphOptimizationLevel: 'basic' }));
        const session = await window.testPredictor;
        const x = new ort.Tensor('float32', Float32Array.from(pixels, (v) => v / 255), [1, 256, 256, 3]);
        const out = await session.run({ [session.inputNames[0]]: x });
        return Array.from(await out[session.outputNames[0]].getData());
    }""", base64.b64encode(np.ascontiguousarray(rgb, np.uint8).tobytes()).decode())
    return np.asarray(got, np.float32)


@pytest.fixture(scope="module")
def pair():
    """The transform by onnxruntime with graph optimisations off (the int8 network's ONNX
    semantics, which the engine computes), on the package's source ONNX."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    transform = ort.InferenceSession(str(paths.bundled_models_dir() / "arbitrary-transform" / "source.onnx"),
                                     options, providers=["CPUExecutionProvider"])

    def stylised(photo: np.ndarray, v: np.ndarray) -> np.ndarray:
        out = transform.run(None, {"content_image": (photo.astype(np.float32) / 255)[None],
                                   TRANSFORM_VECTOR: v.astype(np.float32).reshape(1, 100, 1, 1)})[0][0]
        return (np.clip(out, 0, 1) * 255).round().astype(np.uint8)

    return stylised


def photo_style_input(page) -> np.ndarray:
    """The shown photo's centre square at 256×256 as the browser resamples it for the predictor
    (the same createImageBitmap call the page makes): the input of "the photo's own style"."""
    rgba = page.evaluate("""async () => {
        const { photo } = JSON.parse(localStorage.getItem('tessera.style-editor'));
        const image = await createImageBitmap(await (await fetch(photo.url)).blob(), { imageOrientation: 'from-image' });
        const side = Math.min(image.width, image.height);
        const square = await createImageBitmap(image, (image.width - side) >> 1, (image.height - side) >> 1, side, side,
            { resizeWidth: 256, resizeHeight: 256, resizeQuality: 'high' });
        const ctx = new OffscreenCanvas(256, 256).getContext('2d');
        ctx.drawImage(square, 0, 0);
        const bytes = ctx.getImageData(0, 0, 256, 256).data;
        let text = '';      // base64: a JSON array of 262,144 numbers takes seconds to cross
        for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        return btoa(text);
    }""")
    return from_page(rgba, np.uint8).reshape(256, 256, 4)[..., :3]


def add_style_image(app, page, path) -> None:
    server, _, _ = app
    server.api.dialogs.next = [path]
    page.get_by_role("button", name="Style image…").click()
    expect(page.get_by_role("button", name=path.name, exact=True)).to_be_visible(timeout=120_000)


def test_status_line_says_what_runs_the_preview_and_no_wasm_banner_over_it(page):
    status = page.locator(".view-style .status")
    expect(status).to_contain_text("Preview on webgpu (Tessera's engine, on a software GPU: slow)")
    banner = page.locator(".banner")
    expect(banner).to_contain_text("WebAssembly")            # what the shell says for SwiftShader ...
    expect(banner).to_be_hidden()                           # ... is not true here, so not shown
    page.get_by_role("link", name="Classify").click()
    expect(banner).to_be_visible()
    page.get_by_role("link", name="Style").click()
    expect(banner).to_be_hidden()


def test_image_styles_preview_their_blends_on_the_gpu(app, page, photo, style_images, pair, tmp_path):
    _, rgb = photo
    stylised = pair
    (wave, wave_rgb), (stripes, stripes_rgb) = style_images["wave.png"], style_images["stripes.png"]
    junk = tmp_path / "notes.png"
    junk.write_bytes(b"not a picture")
    page.locator(".style-section").first.locator("input[type=file]").set_input_files(str(junk))
    expect(page.locator(".style-side .notice")).to_have_text(
        "“notes.png” can't be used as a style: it is not an image this browser can read.")

    add_style_image(app, page, wave)
    # On SwiftShader `auto` reads style images on wasm, and the line says why.
    expect(page.locator(".view-style .status")).to_contain_text(
        "style images read on wasm because the only GPU here is a software one")
    v_wave = style_vector(page, wave_rgb)
    alone = preview_pixels(page)
    got = psnr(alone, stylised(rgb, v_wave))
    print(f"image style preview vs onnxruntime: {got:.1f} dB")
    assert got >= 40
    assert psnr(alone, rgb) < 20

    add_style_image(app, page, stripes)                     # used alone ...
    page.get_by_role("button", name="Add wave.png to the mix").click()     # ... then wave added at 0.5
    expect(page.get_by_label("Weight of wave.png")).to_be_visible()
    v_stripes = style_vector(page, stripes_rgb)
    mixed = preview_pixels(page)
    assert psnr(mixed, stylised(rgb, v_wave / 3 + v_stripes * 2 / 3)) >= 40
    assert psnr(mixed, alone) < 35                          # the blend is not one style

    page.get_by_label("Photo's own style").fill("0.5")
    v_own = style_vector(page, photo_style_input(page))
    own_half = preview_pixels(page)
    assert psnr(own_half, stylised(rgb, (v_wave / 3 + v_stripes * 2 / 3) / 2 + v_own / 2)) >= 40
    page.keyboard.press("Control+z")                        # the photo's share back to 0
    expect(page.get_by_label("Photo's own style")).to_have_value("0")
    assert psnr(preview_pixels(page), mixed) >= 40
    page.get_by_role("button", name="Remove stripes.png from the mix").click()   # wave alone again
    assert psnr(preview_pixels(page), alone) >= 40
    choose_style(page, 3)                                   # back to the built-in styles
    expect(page.get_by_label("Photo's own style")).to_be_hidden()


def test_export_with_an_image_style_is_its_picture_and_names_it(app, page, tmp_path):
    server, _, _ = app
    page.get_by_role("button", name="wave.png", exact=True).click()
    shown = preview_pixels(page)
    server.api.dialogs.next = [tmp_path]             # no output folder yet: Export asks for one
    page.get_by_role("button", name="Export", exact=True).click()
    expect(page.locator(".style-side .notice")).to_contain_text("Exported harbour-wave.png", timeout=300_000)
    with Image.open(tmp_path / "harbour-wave.png") as out:
        assert out.size == (W, H)
        exif = out.getexif()
        assert exif[MAKE] == CAMERA_MAKE
        assert exif[IMAGE_DESCRIPTION] == "Stylized by Tessera: wave"
        # The full-resolution tiled render of the transform, at this size, is the preview's picture.
        assert np.abs(np.asarray(out.convert("RGB"), int) - shown).max() <= 1
    choose_style(page, 3)                                   # the built-in style the next test starts from


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
    expect(page.locator(".view-style .status")).to_contain_text("Preview on webgpu", timeout=120_000)
    expect(page.locator(".style-side .notice")).not_to_contain_text("no longer readable")
    expect(page.get_by_role("button", name="wave.png", exact=True)).to_be_visible()    # image styles kept
    expect(page.get_by_label("Weight of style-12")).to_be_visible()
    expect(page.get_by_label("Keep the original colours")).to_be_checked()
    assert psnr(preview_pixels(page), mixed) >= 40      # the same photo, mix and colours
    page.locator(".style-side").evaluate("(side) => { side.scrollTop = 0; }")
    screenshot_both_schemes(page, "style")


def test_export_writes_a_new_file_with_the_photos_exif_and_the_style(app, page, photo, tmp_path):
    server, _, _ = app
    path, _ = photo
    server.api.dialogs.next = [tmp_path]
    page.get_by_role("button", name="Output folder…").click()
    expect(page.locator(".style-side")).to_contain_text(tmp_path.name)      # chosen before exporting
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
