"""Driving Tessera's WebGPU engine in real headless Chromium (SwiftShader here) for the
engine tests: the page's engine-test mode exposes the engine as `window.tesseraEngine`.

Packages come from our compiler (one-op ONNX graphs built by the tests, or the bundled models);
the reference is onnxruntime (CPU) on the same ONNX file.
"""

from __future__ import annotations

import base64
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from playwright.sync_api import sync_playwright

from tessera.compiler.package import PackageMeta
from tessera.compiler.pipeline import compile_to_folder
from tessera.server import TesseraServer
from tessera.shells.browsers import COMMON_FLAGS, find_browser, user_flags

PACKAGES_MOUNT = "engine-packages"


class EnginePage:
    def __init__(self, page, packages_dir: Path):
        self.page = page
        self.packages_dir = packages_dir
        self.errors: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def compile(self, model: onnx.ModelProto, name: str, bindings: dict[str, int] | None = None,
                **meta) -> tuple[str, Path]:
        """Compiles `model` into a package the page can load; returns its URL and ONNX path.
        `bindings` set the reference shape the engine compiles for at load (symbolic models:
        binding the size the test runs spares SwiftShader a second set of pipelines); `meta`
        are PackageMeta fields (task, preprocess, extra manifest fields)."""
        folder = self.packages_dir / name
        folder.mkdir(parents=True)
        path = self.packages_dir / f"{name}.onnx"
        onnx.save(model, path)
        compile_to_folder(path, folder, PackageMeta(name=name, **{"task": "other", **meta}), bindings=bindings)
        return f"{PACKAGES_MOUNT}/{name}/", path

    def load(self, url: str, precision: str = "fp32", subgroups: bool = True, split_k_in_workgroup: bool | None = None,
             int8: str | None = None, large_conv_tiles: bool = False) -> int:
        """`subgroups=False`: kernels without subgroup operations even where the adapter has them;
        `split_k_in_workgroup=True`: small 1×1 convs split K inside the workgroup, as on a hardware
        adapter (by default the engine leaves that form to hardware adapters); `int8`: how convs
        marked int8 run ("auto", "off", "emulated", "matrix": EngineOptions.int8); `large_conv_tiles`: convs
        take their large tiling wherever they can, whatever their size."""
        return self.page.evaluate(
            "([u, p, s, k, q, l]) => tesseraEngine.load(u, p, true, s, l, k ?? undefined, q ?? undefined)",
            [url, precision, subgroups, split_k_in_workgroup, int8, large_conv_tiles])

    def kernels(self, model_id: int) -> dict:
        """{subgroups: {minSize, maxSize} or None, kernels: [{label, source}], int8Refusal}: what
        the model's kernels were generated for, every distinct kernel it compiled (or tried to),
        and why its int8 kernels were given up for floats at load (null if they weren't)."""
        return self.page.evaluate("(id) => tesseraEngine.kernels(id)", model_id)

    def run(self, model_id: int, x: np.ndarray, others: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """`x` is the model's first input; `others` the rest by name (e.g. style_weights)."""
        out = self.page.evaluate("([id, x, s, o]) => tesseraEngine.run(id, x, s, o)",
                                 [model_id, to_page(x), list(x.shape), tensors_to_page(others)])
        return from_page(out)

    def run_all(self, model_id: int, x: np.ndarray, others: dict[str, np.ndarray] | None = None) -> list[np.ndarray]:
        """As run, every output of the model (flat, in manifest order)."""
        outs = self.page.evaluate("([id, x, s, o]) => tesseraEngine.runAll(id, x, s, o)",
                                  [model_id, to_page(x), list(x.shape), tensors_to_page(others)])
        return [from_page(o) for o in outs]

    def top_k(self, model_id: int, x: np.ndarray, k: int) -> list[list[dict]]:
        return self.page.evaluate("([id, x, s, k]) => tesseraEngine.topK(id, x, s, k)",
                                  [model_id, to_page(x), list(x.shape), k])

    def top_k_pipelined(self, model_id: int, xs: list[np.ndarray], k: int) -> list[list[list[dict]]]:
        """One top-k call per input (all of one shape), all issued before any is awaited."""
        return self.page.evaluate("([id, xs, s, k]) => tesseraEngine.topKPipelined(id, xs, s, k)",
                                  [model_id, [to_page(x) for x in xs], list(xs[0].shape), k])

    def run_images(self, model_id: int, images: list[dict]) -> np.ndarray:
        """`images` (see page_image) as one call's batch, drawn into the input on the GPU."""
        return from_page(self.page.evaluate("([id, im]) => tesseraEngine.runImages(id, im)", [model_id, images]))

    def render_and_run(self, model_id: int, x: np.ndarray, others: dict[str, np.ndarray] | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
        """The output for `x` drawn into a canvas context of its size, and read back: (RGBA
        pixels H×W×4 uint8, the flat output)."""
        got = self.page.evaluate("([id, x, s, o]) => tesseraEngine.renderAndRun(id, x, s, o)",
                                 [model_id, to_page(x), list(x.shape), tensors_to_page(others)])
        height, width = x.shape[1:3] if x.shape[3] == 3 else x.shape[2:]    # NHWC or NCHW
        return from_page(got["pixels"], np.uint8).reshape(height, width, 4), from_page(got["output"])

    def render_tiled(self, model_id: int, image: dict, **options) -> dict:
        """renderTiled on `image` (see page_image): {pixels (H×W×4 uint8), grid, progress} or
        {error, message, progress}; `others` by name, `abortAfter` aborts after that step."""
        options["others"] = tensors_to_page(options.get("others"))
        got = self.page.evaluate("([id, im, o]) => tesseraEngine.renderTiled(id, im, o)", [model_id, image, options])
        if "pixels" in got:
            got["pixels"] = from_page(got["pixels"], np.uint8).reshape(image["height"], image["width"], 4)
        return got

    def run_with_captured_stats(self, model_id: int, x: np.ndarray, stats_x: np.ndarray,
                                others: dict[str, np.ndarray]) -> dict:
        """`x` run whole with its own instance-norm statistics and with those captured from
        `stats_x` supplied: {whole, supplied, own, captured} (the statistics by op)."""
        got = self.page.evaluate("([id, x, s, sx, ss, o]) => tesseraEngine.runWithCapturedStats(id, x, s, sx, ss, o)",
                                 [model_id, to_page(x), list(x.shape), to_page(stats_x), list(stats_x.shape),
                                  tensors_to_page(others)])
        return {k: ({op: from_page(s) for op, s in v.items()} if isinstance(v, dict) else from_page(v))
                for k, v in got.items()}

    def dispose(self, model_id: int) -> None:
        self.page.evaluate("(id) => tesseraEngine.dispose(id)", model_id)


@contextmanager
def engine_page(webapp_dist: Path, packages_dir: Path):
    with TesseraServer(webapp_dist) as server, sync_playwright() as pw:
        server.mount(PACKAGES_MOUNT, packages_dir)
        browser = pw.chromium.launch(executable_path=str(find_browser()), args=[*COMMON_FLAGS, *user_flags()])
        try:
            page = browser.new_page()
            harness = EnginePage(page, packages_dir)
            page.goto(server.app_url(mode="engine-test"))
            page.wait_for_selector("body[data-engine-test=ready]", state="attached")
            yield harness
        finally:
            browser.close()


def to_page(x: np.ndarray) -> str:
    """A tensor as the test page takes it: base64 of its float32 little-endian bytes, in C
    order (Playwright's JSON arrays cost seconds per few hundred thousand numbers)."""
    return base64.b64encode(np.ascontiguousarray(x, "<f4").tobytes()).decode()


def tensors_to_page(tensors: dict[str, np.ndarray] | None) -> dict[str, str]:
    return {name: to_page(v) for name, v in (tensors or {}).items()}


def from_page(b64: str, dtype=np.float32) -> np.ndarray:
    """A flat array the test page sent back as base64 of its bytes."""
    return np.frombuffer(base64.b64decode(b64), np.dtype(dtype).newbyteorder("<")).astype(dtype)


def page_image(rgb: np.ndarray, kind: str = "bitmap") -> dict:
    """An H×W×3 uint8 image for the test page, handed to the engine as `kind` of source:
    bitmap (ImageBitmap), canvas (OffscreenCanvas) or videoframe (VideoFrame)."""
    h, w, _ = rgb.shape
    rgba = np.concatenate([rgb, np.full((h, w, 1), 255, np.uint8)], axis=2)
    return {"width": w, "height": h, "rgba": base64.b64encode(rgba.tobytes()).decode(), "kind": kind}


def onnxruntime_output(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})[0]


def onnxruntime_outputs(path: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """The first output for several named inputs."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {k: v.astype(np.float32) for k, v in feeds.items()})[0]


def rel_l2(out: np.ndarray, ref: np.ndarray) -> float:
    out, ref = out.astype(np.float64).ravel(), ref.astype(np.float64).ravel()
    return float(np.linalg.norm(out - ref) / max(np.linalg.norm(ref), 1e-30))
