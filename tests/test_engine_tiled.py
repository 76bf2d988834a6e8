"""The tiled full-resolution render (webapp/src/engine/tiled_render.ts) in headless Chromium on
SwiftShader. Small style-like networks keep it fast: reflect-padded 3×3 convs, instance norms
whose scale and bias come from a style input (multistyle26's conditional form, NCHW), or written
with global average pools (the arbitrary-style transform's form, NHWC; no style input here:
see style_net), so the
receptive field is 4 pixels each side and 48-pixel tiles with a 16-pixel overlap cover it
(a third of the overlap is margin: 5 pixels).
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.engine_harness import page_image

rng = np.random.default_rng()
WIDTH, HEIGHT, TILE, OVERLAP = 96, 80, 48, 16
STYLES = 5


def style_net(channels_last: bool):
    """pad/conv 3→8 → norm → relu, twice more at 8 channels, pad/conv 8→3 → sigmoid. NCHW with
    style_weights [S] (norm = ReduceMean pattern, the compiler's instance_norm with affine
    inputs), or NHWC (norm = GlobalAveragePool pattern, the compiler's global_pool + binary).
    The NHWC form has no style input: a scale computed from one ([1, C, 1, 1] times the
    activations) does not match onnxruntime on the engine yet, tiled or not."""
    nodes, inits = [], {}
    x = "image"
    if channels_last:
        nodes.append(helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]))
        x = "nchw"
    inits["pads"] = np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)
    inits["eps"] = np.array(1e-5, np.float32)
    cin = 3
    for i in range(4):
        last = i == 3
        cout = 3 if last else 8
        inits[f"w{i}"] = (rng.standard_normal((cout, cin, 3, 3)) / np.sqrt(cin * 9)).astype(np.float32)
        inits[f"b{i}"] = rng.standard_normal(cout).astype(np.float32) * 0.1
        nodes += [helper.make_node("Pad", [x, "pads"], [f"p{i}"], mode="reflect"),
                  helper.make_node("Conv", [f"p{i}", f"w{i}", f"b{i}"], [f"c{i}"], kernel_shape=[3, 3])]
        x = f"c{i}"
        if last:
            break
        nodes += norm(i, x, cout, inits, channels_last)
        nodes.append(helper.make_node("Relu", [f"n{i}"], [f"r{i}"]))
        x, cin = f"r{i}", cout
    out = "y"
    if channels_last:
        nodes += [helper.make_node("Sigmoid", [x], ["s"]), helper.make_node("Transpose", ["s"], ["y"], perm=[0, 2, 3, 1])]
        io = [1, "h", "w", 3]
        inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, io)]
    else:
        nodes.append(helper.make_node("Sigmoid", [x], ["y"]))
        io = [1, 3, "h", "w"]
        inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, io),
                  helper.make_tensor_value_info("style_weights", TensorProto.FLOAT, [STYLES])]
    g = helper.make_graph(nodes, "style-net", inputs,
                          [helper.make_tensor_value_info(out, TensorProto.FLOAT, io)],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def norm(i, x, c, inits, pooled):
    """Instance norm of x: global average pools, or ReduceMean with per-channel scale and bias
    from style_weights (summed against a table, as multistyle26 does)."""
    if pooled:
        ops = [helper.make_node("GlobalAveragePool", [x], [f"m{i}"])]
        scaled = []
    else:
        inits[f"tg{i}"] = (1 + 0.3 * rng.standard_normal((STYLES, c))).astype(np.float32)
        inits[f"tb{i}"] = (0.3 * rng.standard_normal((STYLES, c))).astype(np.float32)
        inits["col"] = np.array([STYLES, 1], np.int64)
        inits["ax0"] = np.array([0], np.int64)
        inits[f"aff{i}"] = np.array([1, c, 1, 1], np.int64)
        ops = [helper.make_node("Reshape", ["style_weights", "col"], [f"sc{i}"]),
               helper.make_node("Mul", [f"sc{i}", f"tg{i}"], [f"gm{i}"]),
               helper.make_node("ReduceSum", [f"gm{i}", "ax0"], [f"gs{i}"], keepdims=0),
               helper.make_node("Reshape", [f"gs{i}", f"aff{i}"], [f"g{i}"]),
               helper.make_node("Mul", [f"sc{i}", f"tb{i}"], [f"bm{i}"]),
               helper.make_node("ReduceSum", [f"bm{i}", "ax0"], [f"bs{i}"], keepdims=0),
               helper.make_node("Reshape", [f"bs{i}", f"aff{i}"], [f"be{i}"]),
               helper.make_node("ReduceMean", [x], [f"m{i}"], axes=[2, 3])]
        scaled = [helper.make_node("Mul", [f"nn{i}", f"g{i}"], [f"ns{i}"]),
                  helper.make_node("Add", [f"ns{i}", f"be{i}"], [f"n{i}"])]
    variance = (helper.make_node("GlobalAveragePool", [f"d2{i}"], [f"v{i}"]) if pooled
                else helper.make_node("ReduceMean", [f"d2{i}"], [f"v{i}"], axes=[2, 3]))
    normalised = f"nn{i}" if scaled else f"n{i}"
    return ops + [helper.make_node("Sub", [x, f"m{i}"], [f"d{i}"]), helper.make_node("Mul", [f"d{i}", f"d{i}"], [f"d2{i}"]),
                  variance, helper.make_node("Add", [f"v{i}", "eps"], [f"ve{i}"]),
                  helper.make_node("Sqrt", [f"ve{i}"], [f"sd{i}"]),
                  helper.make_node("Div", [f"d{i}", f"sd{i}"], [normalised]), *scaled]


@pytest.fixture(scope="module", params=["nchw-style-weights", "nhwc-pooled-norms"])
def net(request, page):
    """A loaded style-like net (compiled for the tile size), its style input and layout."""
    channels_last = request.param.startswith("nhwc")
    url, _ = page.compile(style_net(channels_last), request.param, {"h": TILE, "w": TILE}, extra={"pixel_range": 1})
    model_id = page.load(url, "fp32")
    others = {} if channels_last else {"style_weights": rng.uniform(0, 1, STYLES).astype(np.float32)}
    yield model_id, others, channels_last
    page.dispose(model_id)


def photo_like(height=HEIGHT, width=WIDTH) -> np.ndarray:
    """Smooth colour gradients plus noise: flat areas and texture, as a photo has."""
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([np.sin(3 * xx + 1), np.cos(4 * yy), np.sin(2 * (xx + yy))], axis=2) * 80 + 128
    return np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)


def as_input(rgb: np.ndarray, channels_last: bool) -> np.ndarray:
    x = rgb.astype(np.float32)[None] / 255
    return x if channels_last else x.transpose(0, 3, 1, 2)


def as_image(out: np.ndarray, channels_last: bool, height=HEIGHT, width=WIDTH) -> np.ndarray:
    """A model output (flat, logical order) as H×W×3 in 0..255."""
    img = out.reshape(height, width, 3) if channels_last else out.reshape(3, height, width).transpose(1, 2, 0)
    return np.clip(img.astype(np.float64), 0, 1) * 255


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2) / 255 ** 2
    return float("inf") if mse == 0 else float(10 * np.log10(1 / mse))


def seam_mask(grid: dict) -> np.ndarray:
    """Pixels within the blend band (a third of the overlap) of a seam between two tiles."""
    mask = np.zeros((HEIGHT, WIDTH), bool)
    for axis, (length, tiles) in enumerate([(HEIGHT, grid["rows"]), (WIDTH, grid["columns"])]):
        starts = [min(i * (TILE - OVERLAP), length - TILE) for i in range(tiles)]
        for a, b in zip(starts, starts[1:]):
            middle = (b + a + TILE) / 2
            lo, hi = int(middle - OVERLAP / 6 - 1), int(np.ceil(middle + OVERLAP / 6 + 1))
            if axis == 0:
                mask[lo:hi, :] = True
            else:
                mask[:, lo:hi] = True
    return mask


def test_tiles_match_the_whole_image(page, net):
    """3×2 tiles of 48×48 (overlap 16) vs one run of the 96×80 image: ≥ 35 dB, and no seam:
    along the seams the difference is no larger than elsewhere plus 2 levels (a seam pixel is
    mixed in 8 bits up to four times, each rounding by at most half a level)."""
    model_id, others, channels_last = net
    rgb = photo_like()
    whole = as_image(page.run(model_id, as_input(rgb, channels_last), others), channels_last)
    got = page.render_tiled(model_id, page_image(rgb), others=others, maxTileSize=TILE, overlap=OVERLAP)
    assert got.get("grid") == {"columns": 3, "rows": 2, "tileWidth": TILE, "tileHeight": TILE}, got.get("message")
    tiled = got["pixels"]
    assert np.all(tiled[..., 3] == 255)
    diff = np.abs(tiled[..., :3] - whole).max(axis=2)
    seams = seam_mask(got["grid"])
    assert psnr(tiled[..., :3], whole) >= 35
    assert diff[seams].max() <= diff[~seams].max() + 2
    assert whole.std() > 10     # an image, not a flat colour any bug could match


def test_an_image_smaller_than_the_overlap_is_one_whole_tile(page, net):
    """Default options on the 96×80 image: it fits in one tile narrower than twice the default
    overlap, which must not leave the tile grid empty (the result was all black)."""
    model_id, others, channels_last = net
    rgb = photo_like()
    whole = as_image(page.run(model_id, as_input(rgb, channels_last), others), channels_last)
    got = page.render_tiled(model_id, page_image(rgb), others=others)
    assert got.get("grid") == {"columns": 1, "rows": 1, "tileWidth": WIDTH, "tileHeight": HEIGHT}, got
    assert psnr(got["pixels"][..., :3], whole) >= 40


def test_supplied_statistics_are_used(page, net):
    """Statistics captured from the same image and supplied give the whole-image output (≥ 40
    dB); captured from another image, they change it (the supplied ones are what is used)."""
    model_id, others, channels_last = net
    x = as_input(photo_like(), channels_last)
    same = page.run_with_captured_stats(model_id, x, x, others)
    assert set(same["own"]) == set(same["captured"]) and len(same["own"]) == 3 * (2 if channels_last else 1)
    assert psnr(as_image(same["supplied"], channels_last), as_image(same["whole"], channels_last)) >= 40
    other = page.run_with_captured_stats(model_id, x, x[..., ::-1, :] * 0.5, others)
    assert psnr(as_image(other["supplied"], channels_last), as_image(other["whole"], channels_last)) < 30


def test_cancel_stops_between_tiles(page, net):
    model_id, others, _ = net
    got = page.render_tiled(model_id, page_image(photo_like()), others=others, maxTileSize=TILE, overlap=OVERLAP,
                            abortAfter=2)
    assert got["error"] == "AbortError"
    assert got["progress"] == [1, 7, 2, 7]      # the statistics pass, one tile, then nothing


@pytest.mark.parametrize("limit, why", [(16 * 1024, "the result needs 0.0 MiB"), (40_000, "even a 40×40 tile needs")])
def test_too_big_is_refused_in_one_sentence(page, net, limit, why):
    model_id, others, _ = net
    got = page.render_tiled(model_id, page_image(photo_like()), others=others, overlap=16,
                            limits={"maxBufferSize": limit, "maxStorageBufferBindingSize": limit})
    assert got["error"] == "TiledRenderRefused"
    message = got["message"]
    assert message.startswith("nchw" if others else "nhwc") and why in message
    assert message.count(". ") == 0 and message.endswith(".")
    assert got["progress"] == []
