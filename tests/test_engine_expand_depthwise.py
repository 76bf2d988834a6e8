"""An inverted-residual block's 1×1 expansion computed inside its depthwise conv
(kernels/expand_depthwise.ts), in headless Chromium against onnxruntime: tiles that don't divide
the map, strides, 5×5 windows, dilation, batches, fp16 weights, lanes past the channels, and a
squeeze-excite gate reading the channel sums the fused conv writes per tile. And where it must
not fuse: an expanded map read twice, channels not in fours, expansions too wide to gain."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.engine_harness import onnxruntime_output, rel_l2
from tests.test_engine_kernels import FP32_TOLERANCE, plan, se_nodes, with_fp16_weights

rng = np.random.default_rng()
FUSED = "// expand+depthwise"


def block(n, cin, h, w, cexp, co, k=3, stride=1, dilation=1, se=0, tap_expanded=False, stem=False):
    """[x → 3×3 conv + ReLU, the block's input, when `stem`:] x → 1×1 expand + HardSwish → depthwise k×k (`same` padding) + ReLU [→ squeeze-excite of
    `se` reduced channels] → 1×1 projection [+ x when the shapes allow]. `tap_expanded`: the
    expanded map is also added to the output of a second depthwise conv, so two ops read it."""
    pad = dilation * (k // 2)
    source = "xs" if stem else "x"
    inits = {"we": rng.standard_normal((cexp, cin, 1, 1)) / np.sqrt(cin), "be": rng.standard_normal(cexp),
             "wd": rng.standard_normal((cexp, 1, k, k)) / k, "bd": rng.standard_normal(cexp),
             "wp": rng.standard_normal((co, cexp, 1, 1)) / np.sqrt(cexp), "bp": rng.standard_normal(co)}
    nodes = [helper.make_node("Conv", [source, "we", "be"], ["ex"], kernel_shape=[1, 1]),
             helper.make_node("HardSwish", ["ex"], ["exh"]),
             helper.make_node("Conv", ["exh", "wd", "bd"], ["d"], kernel_shape=[k, k], strides=[stride] * 2,
                              pads=[pad] * 4, dilations=[dilation] * 2, group=cexp),
             helper.make_node("Relu", ["d"], ["dr"])]
    if stem:
        inits.update(ws=rng.standard_normal((cin, cin, 3, 3)) / np.sqrt(9 * cin), bs=rng.standard_normal(cin))
        nodes[:0] = [helper.make_node("Conv", ["x", "ws", "bs"], ["xc"], kernel_shape=[3, 3], pads=[1] * 4),
                     helper.make_node("Relu", ["xc"], ["xs"])]
    last = "dr"
    if tap_expanded:
        nodes.append(helper.make_node("Add", ["dr", "exh"], ["da"]))
        last = "da"
    if se:
        nodes += se_nodes(inits, cexp, se, "excited", src=last)
        last = "excited"
    residual = stride == 1 and cin == co
    nodes.append(helper.make_node("Conv", [last, "wp", "bp"], ["p" if residual else "y"], kernel_shape=[1, 1]))
    if residual:
        nodes.append(helper.make_node("Add", ["p", "x"], ["y"]))
    oh, ow = (h - 1) // stride + 1, (w - 1) // stride + 1
    model = helper.make_model(
        helper.make_graph(nodes, "block", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, cin, h, w])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, co, oh, ow])],
                          [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()]),
        opset_imports=[helper.make_opsetid("", 17)])
    return model, (n, cin, h, w)


# (model, whether the expansion fuses)
CASES = {
    # 14×14 as one tile; 19×17 in 8×8 tiles with partial ones at the edges
    "k3 s1 cin16 exp64 14x14": (block(1, 16, 14, 14, 64, 16), True),
    "k3 s1 cin8 exp24 19x17 batch2": (block(2, 8, 19, 17, 24, 12), True),
    # stride 2, 5×5; dilation; lanes past the channels (C/4 = 18 in lanes of 8)
    "k5 s2 cin12 exp72 23x21": (block(1, 12, 23, 21, 72, 20, k=5, stride=2), True),
    "k3 dilation2 cin4 exp20 11x13": (block(1, 4, 11, 13, 20, 4, dilation=2), True),
    # a squeeze-excite gate starts from the fused conv's per-tile channel sums
    "k3 s1 cin16 exp72 20x20 se18 batch2": (block(2, 16, 20, 20, 72, 16, se=18), True),
    "k5 s2 cin24 exp120 15x15 se32": (block(1, 24, 15, 15, 120, 40, k=5, stride=2, se=32), True),
    "k3 s1 cin16 exp64 9x9 fp16": (with_fp16_weights(block(1, 16, 9, 9, 64, 24)), True),
    # the block's input is computed and read by nothing after the expansion: the memory plan
    # must still not give the fused conv's output its buffer
    "k3 s2 cin8 exp32 12x12 after a stem conv": (block(1, 8, 12, 12, 32, 16, stride=2, stem=True), True),
    # not fused: two ops read the expanded map; input channels not in fours
    "expanded map read twice": (block(1, 16, 10, 10, 32, 16, tap_expanded=True), False),
    "cin6": (block(1, 6, 10, 10, 32, 8), False),
    # wider than 512 channels (MAX_FUSED_EXPAND_CHANNELS): measured slower fused
    "k3 s1 cin8 exp520 6x6": (block(1, 8, 6, 6, 520, 8), False),
}


@pytest.mark.parametrize("case", list(CASES))
def test_expansion_inside_the_depthwise_conv_matches_onnxruntime(page, case):
    (model, x_shape), fused = CASES[case]
    url, path = page.compile(model, "expand_" + "".join(ch if ch.isalnum() else "_" for ch in case))
    model_id = page.load(url, "fp16" if "fp16" in case else "fp32", split_k_in_workgroup=True)
    kernels = page.kernels(model_id)["kernels"]
    assert sum(FUSED in k["source"] for k in kernels) == (1 if fused else 0), case
    if " se" in case:  # the gate reads sums, not the map
        assert any("var<storage, read_write> sums" in k["source"] and FUSED in k["source"] for k in kernels)
    for _ in range(2):  # fresh inputs, buffers poisoned before each run
        x = rng.standard_normal(x_shape).astype(np.float32)
        out = page.run(model_id, x)
        assert rel_l2(out, onnxruntime_output(path, x).ravel()) <= FP32_TOLERANCE, case
    page.dispose(model_id)


def test_a_fused_block_has_one_dispatch_fewer(page):
    """Input layout, expansion + depthwise conv, projection (with the residual): three."""
    (model, x_shape), _ = CASES["k3 s1 cin16 exp64 14x14"]
    url, _ = page.compile(model, "expand_plan")
    labels = plan(page, url, x_shape)["labels"]
    assert len(labels) == 3 and labels[0] == "input layout", labels


def test_a_package_whose_plan_shares_that_buffer_runs_the_convs_apart(page):
    """A package whose memory plan predates the fusion may give the depthwise conv's output the
    buffer of the expansion's input, which the fused kernel would read while writing it: there
    the engine runs the two convs as two dispatches, as before."""
    (model, x_shape), _ = CASES["k3 s2 cin8 exp32 12x12 after a stem conv"]
    url, path = page.compile(model, "expand_old_plan")
    manifest_path = page.packages_dir / "expand_old_plan" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    producers = {out: op for op in manifest["ops"] for out in op["outputs"]}
    depthwise = next(op for op in manifest["ops"] if op["op"] == "conv2d" and op["attrs"]["groups"] > 1)
    expansion_input = producers[depthwise["inputs"][0]]["inputs"][0]
    tensors = manifest["tensors"]
    assert tensors[depthwise["outputs"][0]]["buffer"] != tensors[expansion_input]["buffer"]
    tensors[depthwise["outputs"][0]]["buffer"] = tensors[expansion_input]["buffer"]
    manifest_path.write_text(json.dumps(manifest))
    model_id = page.load(url, "fp32")
    assert not any(FUSED in k["source"] for k in page.kernels(model_id)["kernels"])
    x = rng.standard_normal(x_shape).astype(np.float32)
    assert rel_l2(page.run(model_id, x), onnxruntime_output(path, x).ravel()) <= FP32_TOLERANCE
    page.dispose(model_id)
