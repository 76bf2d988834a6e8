"""Every kernel template of the WebGPU engine against onnxruntime (CPU), in real headless
Chromium: one-op (or one fused pattern) ONNX graphs, compiled by our compiler, run by the
engine on fresh random inputs with every GPU buffer poisoned (NaN) first. Shapes include odd
channel counts and sizes that are not multiples of the conv tiles (64 pixels × 16/32/64
channels × 16 taps, or 128 × 128 × 8 for big grids). Small shapes where the kernel allows:
SwiftShader runs WebGPU on the CPU.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper, shape_inference

from tests.engine_harness import onnxruntime_output, onnxruntime_outputs, rel_l2

FP32_TOLERANCE = 1e-4
rng = np.random.default_rng()


def graph(nodes, x_shape, y_shape, initializers, name, opset=17):
    return helper.make_model(
        helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)],
                          [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in initializers.items()]),
        opset_imports=[helper.make_opsetid("", opset)])


def conv_model(n, c, h, w, co, k, stride=1, pad=0, dilation=1, groups=1, activation=None, residual=False,
               opset=17):
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["conv"], kernel_shape=[k, k], strides=[stride] * 2,
                              pads=[pad] * 4, dilations=[dilation] * 2, group=groups)]
    last = "conv"
    if residual:  # the residual add needs the output shaped like the input
        nodes.append(helper.make_node("Add", [last, "x"], ["sum"]))
        last = "sum"
    if activation:
        op, attrs = activation
        nodes.append(helper.make_node(op, [last], ["y"], **attrs))
    else:
        nodes[-1].output[0] = "y"
    oh = (h + 2 * pad - dilation * (k - 1) - 1) // stride + 1
    ow = (w + 2 * pad - dilation * (k - 1) - 1) // stride + 1
    inits = {"w": rng.standard_normal((co, c // groups, k, k)) / np.sqrt(c // groups * k * k),
             "b": rng.standard_normal(co)}
    return graph(nodes, [n, c, h, w], [n, co, oh, ow], inits, "conv", opset), (n, c, h, w)


CONV_CASES = {
    # dense conv as implicit GEMM: odd channels, K and M not multiples of the tiles
    "3x3 s2 cin3 co29": conv_model(1, 3, 17, 19, 29, 3, stride=2, pad=1, activation=("Relu", {})),
    "3x3 cin5 co70 batch2": conv_model(2, 5, 9, 11, 70, 3, pad=1, activation=("HardSwish", {})),
    "1x1 cin36 co40": conv_model(1, 36, 10, 13, 40, 1, activation=("Sigmoid", {})),
    "1x1 cin64 co130": conv_model(1, 64, 9, 9, 130, 1, activation=("Tanh", {})),
    "5x5 dilation2 cin8 co12": conv_model(1, 8, 14, 12, 12, 5, pad=3, dilation=2,
                                          activation=("LeakyRelu", {"alpha": 0.1})),
    "3x3 residual cin16": conv_model(1, 16, 8, 7, 16, 3, pad=1, residual=True, activation=("Relu", {})),
    "1x1 residual cin7": conv_model(1, 7, 5, 6, 7, 1, residual=True),
    # split-K: few tiles, long K (partial sums, then a reduce with the epilogue)
    "split-K 3x3 residual cin32": conv_model(1, 32, 5, 5, 32, 3, pad=1, residual=True, activation=("Relu", {})),
    "split-K 1x1 cin130 co21": conv_model(1, 130, 4, 5, 21, 1),
    # 1×1 convs in vec4s that would split K split it inside the workgroup instead (one dispatch):
    # M and the vec4 columns not multiples of the 16×16 tile, groups left with no K at all
    # (8×8 outputs split 64 ways where K is long and the grid small; 16×16 split 16 ways else)
    "group-split 1x1 cin256 co40 (64 groups)": conv_model(1, 256, 7, 7, 40, 1, activation=("Relu", {})),
    "group-split 1x1 residual cin164 batch2 (64 groups)": conv_model(2, 164, 5, 7, 164, 1, residual=True),
    "group-split 1x1 cin256 co200 batch3 (64 groups)": conv_model(3, 256, 3, 5, 200, 1,
                                                                  activation=("HardSwish", {})),
    "group-split 1x1 cin120 co36, short K (16 groups)": conv_model(1, 120, 5, 6, 36, 1),
    "group-split 1x1 cin128 co128 16x16, big grid (16 groups)": conv_model(1, 128, 16, 16, 128, 1),
    "7x7 s2 cin4 co9": conv_model(1, 4, 23, 21, 9, 7, stride=2, pad=3,
                                  activation=("HardSigmoid", {"alpha": 0.2, "beta": 0.4})),
    # depthwise
    # (strip: stride 1 along x, 8 or more outputs wide: 4 outputs of a row per thread, the
    # last strip of a row partial here)
    "dw 3x3 c32 (strip)": conv_model(1, 32, 12, 10, 32, 3, pad=1, groups=32, activation=("Relu", {})),
    "dw 7x7 residual c13 batch2 (strip)": conv_model(2, 13, 9, 11, 13, 7, pad=3, groups=13, residual=True,
                                                    activation=("Relu", {})),
    "dw 3x3 dilation 2 c8": conv_model(1, 8, 12, 12, 8, 3, pad=2, dilation=2, groups=8),
    "dw 5x5 s2 c13": conv_model(2, 13, 11, 9, 13, 5, stride=2, pad=2, groups=13),
    "dw 3x3 residual c20": conv_model(1, 20, 7, 7, 20, 3, pad=1, groups=20, residual=True),
    # grouped (neither dense nor depthwise)
    "grouped g2 cin8 co12": conv_model(1, 8, 9, 8, 12, 3, pad=1, groups=2, activation=("Relu", {})),
    "grouped g3 cin9 co15": conv_model(1, 9, 7, 7, 15, 3, groups=3),
}


def preactivation_model(n, c, h, w, co, k, stride=1, pad=0, activation=("Relu", {}), second_reader=False):
    """BatchNorm → activation → k×k conv (DenseNet's and pre-activation ResNets' order): the
    compiler folds the BatchNorm and activation into the conv's loads. Half the shifts are
    well above zero, so ReLU(shift) isn't 0 and the conv's zero padding is wrong if the
    prologue reaches it. `second_reader`: a 1×1 conv reads the activation too, and its output is
    the first conv's residual (a projection shortcut): both convs take the prologue."""
    inits = {"g": rng.uniform(0.5, 1.5, c), "beta": rng.standard_normal(c) + 0.5, "mean": rng.standard_normal(c) * 0.5,
             "var": rng.uniform(0.5, 2.0, c), "w": rng.standard_normal((co, c, k, k)) / np.sqrt(c * k * k),
             "b": rng.standard_normal(co)}
    op, attrs = activation
    nodes = [helper.make_node("BatchNormalization", ["x", "g", "beta", "mean", "var"], ["bn"]),
             helper.make_node(op, ["bn"], ["a"], **attrs),
             helper.make_node("Conv", ["a", "w", "b"], ["c" if second_reader else "y"], kernel_shape=[k, k],
                              strides=[stride] * 2, pads=[pad] * 4)]
    if second_reader:
        inits.update(w1=rng.standard_normal((co, c, 1, 1)) / np.sqrt(c), b1=rng.standard_normal(co))
        nodes += [helper.make_node("Conv", ["a", "w1", "b1"], ["short"], strides=[stride] * 2),
                  helper.make_node("Add", ["c", "short"], ["y"])]
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    return graph(nodes, [n, c, h, w], [n, co, oh, ow], inits, "preactivation"), (n, c, h, w)


# The prologue on every form a dense conv can take: tiled with vec4 and scalar A loads, split-K,
# K split in the workgroup (1×1 in vec4s), and the large tiles (LARGE_CONV_CASES).
PREACTIVATION_CASES = {
    "preact 3x3 pad1 cin8 co12": preactivation_model(1, 8, 9, 7, 12, 3, pad=1),
    "preact 3x3 s2 pad1 cin6 co10 batch2 (hardswish)": preactivation_model(2, 6, 11, 9, 10, 3, stride=2, pad=1,
                                                                           activation=("HardSwish", {})),
    "preact split-K 3x3 pad1 cin32 co16": preactivation_model(1, 32, 5, 5, 16, 3, pad=1),
    "preact split-K 1x1 cin130 co21": preactivation_model(1, 130, 4, 5, 21, 1),
    "preact group-split 1x1 cin256 co40": preactivation_model(1, 256, 7, 7, 40, 1),
    "preact 3x3 and 1x1 readers cin8 co12": preactivation_model(1, 8, 6, 6, 12, 3, pad=1, second_reader=True),
}


def with_fp16_weights(case):
    """The model with its initializers rounded to fp16, so that its fp16 package is exact."""
    model, x_shape = case
    for init in model.graph.initializer:
        init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16).astype(np.float32),
                                              init.name))
    return model, x_shape


def wide_residual_model(n, c, h, w, co):
    """y = relu(conv 3×3 (x) + conv 1×1 (x)), c → co: the 3×3 conv adds the 1×1's output as its
    residual; a wide output from a narrow input (a short K, and no big input to send)."""
    inits = {"w1": rng.standard_normal((co, c, 1, 1)) / np.sqrt(c), "b1": rng.standard_normal(co),
             "w3": rng.standard_normal((co, c, 3, 3)) / (3 * np.sqrt(c)), "b3": rng.standard_normal(co)}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["t"]),
             helper.make_node("Conv", ["x", "w3", "b3"], ["p"], kernel_shape=[3, 3], pads=[1] * 4),
             helper.make_node("Add", ["p", "t"], ["s"]), helper.make_node("Relu", ["s"], ["y"])]
    return graph(nodes, [n, c, h, w], [n, co, h, w], inits, "wide_residual"), (n, c, h, w)


def pool_model(op, x_shape, y_shape, **attrs):
    return graph([helper.make_node(op, ["x"], ["y"], **attrs)], list(x_shape), y_shape, {}, op), x_shape


def pool_out(h, k, s, p, ceil=False):
    return (-(-(h + 2 * p - k) // s) if ceil else (h + 2 * p - k) // s) + 1


POOL_CASES = {
    "maxpool 3x3 s2 c24": pool_model("MaxPool", (1, 24, 15, 16), [1, 24, pool_out(15, 3, 2, 1), pool_out(16, 3, 2, 1)],
                                     kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    "maxpool 2x2 ceil c5": pool_model("MaxPool", (2, 5, 9, 9), [2, 5, 5, 5], kernel_shape=[2, 2], strides=[2, 2],
                                      ceil_mode=1),
    "avgpool 3x3 pad c6": pool_model("AveragePool", (1, 6, 10, 9), [1, 6, 10, 9], kernel_shape=[3, 3],
                                     pads=[1, 1, 1, 1]),
    "avgpool include pad ceil c8": pool_model("AveragePool", (1, 8, 10, 10), [1, 8, 6, 6], kernel_shape=[3, 3],
                                              strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1, ceil_mode=1),
    "global avg c37": pool_model("GlobalAveragePool", (2, 37, 9, 11), [2, 37, 1, 1]),
    "global max c16": pool_model("GlobalMaxPool", (1, 16, 13, 5), [1, 16, 1, 1]),
}


def gemm_model(m, k, n, activation=None):
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1)]
    if activation:
        nodes.append(helper.make_node(activation, ["g"], ["y"]))
    else:
        nodes[0].output[0] = "y"
    inits = {"w": rng.standard_normal((n, k)) / np.sqrt(k), "b": rng.standard_normal(n)}
    return graph(nodes, [m, k], [m, n], inits, "gemm"), (m, k)


GEMM_CASES = {
    "gemm 1x40x1000": gemm_model(1, 40, 1000),
    "gemm 3x37x21 relu": gemm_model(3, 37, 21, "Relu"),
    # Rows kept per workgroup: all 8 at once; 12 rows as two workgroups of 6; K over many slices.
    "gemm 8x264x130": gemm_model(8, 264, 130),
    "gemm 12x20x9 relu": gemm_model(12, 20, 9, "Relu"),
    # Many rows (a transformer's tokens): conv2d.ts's tiled GEMM, as a 1×1 conv over M pixels;
    # rows, K and N off the tiles; a long K on few tiles (split); a residual.
    "tiled gemm 100x24x40 relu": gemm_model(100, 24, 40, "Relu"),
    "tiled gemm 130x7x13": gemm_model(130, 7, 13),
    "tiled gemm 70x300x20 split": gemm_model(70, 300, 20),
    # from 16 rows (a ConvNeXt's or Swin's last stage: 7×7 tokens), half an empty tile and all
    "tiled gemm 49x300x24 split": gemm_model(49, 300, 24),
    "tiled gemm 16x40x12 relu": gemm_model(16, 40, 12, "Relu"),
}


def linear_residual_model(n, t, d):
    """A transformer's projection: x [n, t, d] @ W + b + x (MatMul, Add, Add)."""
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["z"]),
             helper.make_node("Add", ["z", "x"], ["y"])]
    return graph(nodes, [n, t, d], [n, t, d], {"w": rng.standard_normal((d, d)) / np.sqrt(d),
                                              "b": rng.standard_normal(d)}, "linear"), (n, t, d)


GEMM_CASES["tiled linear residual 2x40x16"] = linear_residual_model(2, 40, 16)


def se_nodes(cr_init: dict, c: int, cr: int, out: str = "y", src: str = "x") -> list:
    """MobileNetV3's squeeze-excite of `src`: src · hard_sigmoid(W2 · relu(W1 · mean(src))) into `out`."""
    cr_init.update({"w1": rng.standard_normal((cr, c, 1, 1)) / np.sqrt(c), "b1": rng.standard_normal(cr),
                    "w2": rng.standard_normal((c, cr, 1, 1)) / np.sqrt(cr), "b2": rng.standard_normal(c)})
    return [helper.make_node("GlobalAveragePool", [src], ["s"]),
            helper.make_node("Conv", ["s", "w1", "b1"], ["r"], kernel_shape=[1, 1]),
            helper.make_node("Relu", ["r"], ["rr"]),
            helper.make_node("Conv", ["rr", "w2", "b2"], ["e"], kernel_shape=[1, 1]),
            helper.make_node("HardSigmoid", ["e"], ["g"], alpha=1 / 6, beta=0.5),
            helper.make_node("Mul", [src, "g"], [out])]


def se_model(n, c, h, w, cr):
    """The scaled map is the graph's output: the standalone squeeze_excite op (gate + scale)."""
    inits: dict = {}
    return graph(se_nodes(inits, c, cr), [n, c, h, w], [n, c, h, w], inits, "se"), (n, c, h, w)


def se_project_model(n, c, h, w, cr, co, k=1, residual=False):
    """Squeeze-excite, then the block's projection conv (k×k, `same` padding), optionally plus
    x: the gate op, and the conv scaling its input channels as it loads them."""
    inits: dict = {"wp": rng.standard_normal((co, c, k, k)) / np.sqrt(c * k * k), "bp": rng.standard_normal(co)}
    nodes = se_nodes(inits, c, cr, "excited")
    nodes.append(helper.make_node("Conv", ["excited", "wp", "bp"], ["p" if residual else "y"],
                                  kernel_shape=[k, k], pads=[k // 2] * 4))
    if residual:
        nodes.append(helper.make_node("Add", ["p", "x"], ["y"]))
    return graph(nodes, [n, c, h, w], [n, co, h, w], inits, "se_project"), (n, c, h, w)


def dw_se_project_model(n, c, h, w, cr, co, k=3, stride=1):
    """A MobileNetV3 block's second half: depthwise k×k conv + HardSwish, squeeze-excite of its
    output, the projection conv. The depthwise conv also writes the channel sums the gate
    starts from (when C % 4 = 0)."""
    inits: dict = {"wd": rng.standard_normal((c, 1, k, k)) / k, "bd": rng.standard_normal(c),
                   "wp": rng.standard_normal((co, c, 1, 1)) / np.sqrt(c), "bp": rng.standard_normal(co)}
    nodes = [helper.make_node("Conv", ["x", "wd", "bd"], ["d"], kernel_shape=[k, k], strides=[stride] * 2,
                              pads=[k // 2] * 4, group=c),
             helper.make_node("HardSwish", ["d"], ["dh"]),
             *se_nodes(inits, c, cr, "excited", src="dh"),
             helper.make_node("Conv", ["excited", "wp", "bp"], ["y"], kernel_shape=[1, 1])]
    oh, ow = (h - 1) // stride + 1, (w - 1) // stride + 1
    return graph(nodes, [n, c, h, w], [n, co, oh, ow], inits, "dw_se_project"), (n, c, h, w)


def se_flat_gate_model(n, c, h, w, cr, co):
    """Squeeze-excite outside the fused pattern: the gate goes [N, C] → Sigmoid → back to
    [N, C, 1, 1] and multiplies first; unfused ops, then the projection conv."""
    inits: dict = {"wp": rng.standard_normal((co, c, 1, 1)) / np.sqrt(c), "bp": rng.standard_normal(co)}
    nodes = se_nodes(inits, c, cr)[:4] + [
        helper.make_node("Flatten", ["e"], ["f"]), helper.make_node("Sigmoid", ["f"], ["sg"]),
        helper.make_node("Reshape", ["sg", "gate_shape"], ["g"]), helper.make_node("Mul", ["g", "x"], ["excited"]),
        helper.make_node("Conv", ["excited", "wp", "bp"], ["y"], kernel_shape=[1, 1])]
    model = graph(nodes, [n, c, h, w], [n, co, h, w], inits, "se_flat_gate")
    model.graph.initializer.append(numpy_helper.from_array(np.array([0, -1, 1, 1], np.int64), "gate_shape"))
    return model, (n, c, h, w)


SE_CASES = {
    "se c24 r8": se_model(1, 24, 9, 9, 8),
    "se c18 r5 batch2": se_model(2, 18, 6, 7, 5),
    # gate fused into the consumer: vec4 and scalar loads of A, batch rows, split-K, taps
    "se+project c24 r8 residual": se_project_model(1, 24, 9, 9, 8, 24, residual=True),
    "se+project c18 r5 co7 batch2": se_project_model(2, 18, 6, 7, 5, 7),
    "se+project split-K c256 r64 co40": se_project_model(1, 256, 7, 7, 64, 40),
    "se+3x3 conv c20 r6 co9 batch2": se_project_model(2, 20, 5, 6, 6, 9, k=3),
    # more vec4 columns than a 256-thread workgroup has threads: the gate's stages loop over them
    "se+project c1030 r9 co5": se_project_model(1, 1030, 2, 5, 9, 5),
    # the same odd block in both gate forms (see se_gate_spreads): small, then a wide pool
    "se c90 r23 batch2": se_model(2, 90, 5, 6, 23),
    "se c90 r23 batch2 spread": se_model(2, 90, 20, 19, 23),
    "se+project c90 r23 co11 batch2 spread": se_project_model(2, 90, 19, 20, 23, 11),
    # as wide, but three images: one workgroup each already runs side by side (single form)
    "se c90 r23 batch3 wide": se_model(3, 90, 20, 19, 23),
    # spread by its FC weights alone (vec4 rows in the GEMVs); a 3×4 map once kept it unfused
    "se+project c256 r132 co6 3x4 spread": se_project_model(1, 256, 3, 4, 132, 6),
    # EfficientNet-B0's last stage
    "se+project c1152 r48 co8 7x7 spread": se_project_model(1, 1152, 7, 7, 48, 8),
    # After a depthwise conv, whose channel sums the gate starts from: strips of 42 pixels by 6
    # vec4 lanes (the map's 784 pixels end in a partial strip), then both FCs in one workgroup
    "dw+se+project c120 r32 co40 28x28": dw_se_project_model(1, 120, 28, 28, 32, 40),
    # 5×5 stride 2, two images, 5 vec4 lanes; FCs wide enough to spread (two GEMVs, no pool)
    "dw+se+project c200 r168 co16 s2 batch2 spread": dw_se_project_model(2, 200, 19, 17, 168, 16, k=5, stride=2),
    # three images (single form whatever the sizes); C/4 = 11: lane blocks of 8 and 3
    "dw+se+project c44 r12 co9 batch3": dw_se_project_model(3, 44, 11, 13, 12, 9),
    # channels not in vec4s: no channel sums, the gate pools the map (spread: three dispatches)
    "dw+se+project c90 r23 co11 spread": dw_se_project_model(1, 90, 20, 19, 23, 11),
}
# Unfused: its ops run as they are, with no transpose of the map
SE_UNFUSED_CASES = {"se flat gate c20 r6 co5 3x4 batch2": se_flat_gate_model(2, 20, 3, 4, 6, 5)}
SE_SPREAD_ELEMENTS = 32768


def channel_sum_parts(hw: int, c: int) -> int:
    """Strips of pixels per image whose channel sums a depthwise conv writes for the gate after
    it (depthwise.ts, channelSumLayout): 256 threads as vec4 lanes (a divisor of C/4 from 8 down
    to 4, else up to 8) by pixels."""
    c4 = c // 4
    lanes = next((d for d in (8, 7, 6, 5, 4) if c4 % d == 0), min(c4, 8))
    return -(-hw // (256 // lanes))


def se_gate_spreads(c: int, h: int, w: int, cr: int, n: int = 1, after_depthwise: bool = False) -> bool:
    """The engine's rule (squeeze_excite.ts): for one or two images, a gate whose pool (H·W·C,
    or the parts·C channel sums of a depthwise conv before it) or either FC (C·CR) reaches 32768
    elements per image spreads over many workgroups; otherwise one single-workgroup dispatch
    per image."""
    rows = channel_sum_parts(h * w, c) if after_depthwise and c % 4 == 0 else h * w
    return n <= 2 and max(rows * c, c * cr) >= SE_SPREAD_ELEMENTS


def se_gate_dispatches(c: int, h: int, w: int, cr: int, n: int = 1, after_depthwise: bool = False) -> int:
    """Spread: pool and two GEMVs, or only the GEMVs when a depthwise conv wrote channel sums."""
    if not se_gate_spreads(c, h, w, cr, n, after_depthwise):
        return 1
    return 2 if after_depthwise and c % 4 == 0 else 3

# The 128×128 tiles with 8×8 per thread. Their arithmetic is checked on small shapes, loaded
# with every conv forced onto them (`largeConvTiles`): 1×1 pointwise convs with vec4 A loads
# (the residual case's 1×1, the gated projection with `input_scale`); 3×3 with padding,
# residual and ReLU; stride 2 with dilation, scalar A loads (3 input channels) and scalar stores
# (130 output channels), fp16 weights; M and N not multiples of 128. Which convs take them by
# themselves (big grids, long K) is checked on plans of full-size shapes, which aren't run.
LARGE_CONV_CASES = {
    "large 3x3 + 1x1 residual cin4 co136 batch2": wide_residual_model(2, 4, 9, 11, 136),
    "large 3x3 s2 dilation2 cin3 co130 batch2 fp16": with_fp16_weights(conv_model(
        2, 3, 17, 15, 130, 3, stride=2, pad=2, dilation=2, activation=("HardSwish", {}))),
    "large se+project c8 r4 co520 batch2": se_project_model(2, 8, 7, 9, 4, 520),
    "large preact 3x3 pad1 cin8 co136 batch2": preactivation_model(2, 8, 9, 7, 136, 3, pad=1),
}
# Planned at full size: (model, whether its last conv takes the large tiles by the rule).
TILING_RULE_CASES = {
    "3x3 cin128 co128 256x256 (a style network's residual block)": (conv_model(1, 128, 256, 256, 128, 3, pad=1), True),
    "1x1 cin64 co256 56x56 batch8 (ResNet50's stage 1: K too short)": (conv_model(8, 64, 56, 56, 256, 1), False),
    "3x3 cin128 co96 256x256 (under 128 output channels)": (conv_model(1, 128, 256, 256, 96, 3, pad=1), False),
    "3x3 cin64 co128 56x56 batch2 (grid too small)": (conv_model(2, 64, 56, 56, 128, 3, pad=1), False),
}
LARGE_TILES = "128x128x8, 8x8"


def conv_takes_large_tiles(m: int, cog: int, groups: int, k: int) -> bool:
    """The engine's rule (conv2d.ts `tiling`): 128×128 tiles with 8×8 per thread when groups = 1,
    at least 128 output channels, K ≥ 128 taps and the 64×64 tiling would give ≥ 1024
    workgroups (twice the 512 split-K aims for); otherwise 64-pixel tiles with 4×4 per thread."""
    return groups == 1 and cog >= 128 and k >= 128 and -(-m // 64) * -(-(-(-cog // 4) * 4) // 64) >= 1024


def last_conv_gemm(model) -> tuple[int, int, int, int]:
    """M (pixels), output channels per group, groups and K (taps per output) of the graph's
    last Conv."""
    inferred = shape_inference.infer_shapes(model).graph
    dims = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in [*inferred.value_info, *inferred.output]}
    conv = [n for n in model.graph.node if n.op_type == "Conv"][-1]
    n, co, oh, ow = dims[conv.output[0]]
    groups = next((a.i for a in conv.attribute if a.name == "group"), 1)
    _, cig, kh, kw = next(i.dims for i in model.graph.initializer if i.name == conv.input[1])
    return n * oh * ow, co // groups, groups, cig * kh * kw


def tilings(kernels: list[dict]) -> dict[str, str]:
    """Each conv kernel's tiling as its WGSL states it ('64x64x16, 4x4'), by dispatch label."""
    return {k["label"]: k["source"].split("// conv2d tile ", 1)[1].split(" per thread", 1)[0]
            for k in kernels if "// conv2d tile " in k["source"]}


def channel_shuffle_model(n, c, h, w, groups, co):
    """ShuffleNet's channel shuffle between two 1×1 convs: Reshape [N, g, C/g, H, W] →
    Transpose [0, 2, 1, 3, 4] → Reshape [N, C, H, W]; the NHWC map goes through real
    transposes to the plain 5-D order and back."""
    inits = {"w1": rng.standard_normal((c, c, 1, 1)) / np.sqrt(c), "b1": rng.standard_normal(c),
             "w2": rng.standard_normal((co, c, 1, 1)) / np.sqrt(c), "b2": rng.standard_normal(co)}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["a"], kernel_shape=[1, 1]),
             helper.make_node("Reshape", ["a", "split"], ["s"]),
             helper.make_node("Transpose", ["s"], ["t"], perm=[0, 2, 1, 3, 4]),
             helper.make_node("Reshape", ["t", "merge"], ["m"]),
             helper.make_node("Conv", ["m", "w2", "b2"], ["y"], kernel_shape=[1, 1])]
    model = graph(nodes, [n, c, h, w], [n, co, h, w], inits, "channel_shuffle")
    model.graph.initializer.extend([
        numpy_helper.from_array(np.array([n, groups, c // groups, h, w], np.int64), "split"),
        numpy_helper.from_array(np.array([n, c, h, w], np.int64), "merge")])
    return model, (n, c, h, w)


def transpose_model(x_shape, perm, after=None):
    """x → Transpose(perm) → a reader that needs the permuted order in memory: a flattening
    Reshape, or `after` (a MatMul by a constant: a gemm over the last axis)."""
    t_shape = [x_shape[p] for p in perm]
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=perm)]
    inits: dict = {}
    if after:
        inits["w"] = rng.standard_normal((t_shape[-1], after)) / np.sqrt(t_shape[-1])
        nodes.append(helper.make_node("MatMul", ["t", "w"], ["y"]))
        y_shape = t_shape[:-1] + [after]
    else:
        nodes.append(helper.make_node("Reshape", ["t", "flat"], ["y"]))
        y_shape = [int(np.prod(t_shape))]
    model = graph(nodes, list(x_shape), y_shape, inits, "transpose")
    if not after:
        model.graph.initializer.append(numpy_helper.from_array(np.array([-1], np.int64), "flat"))
    return model, tuple(x_shape)


TRANSPOSE_CASES = {
    "channel shuffle g3 c12 batch2": channel_shuffle_model(2, 12, 5, 7, 3, 10),
    "channel shuffle g2 c10 co6": channel_shuffle_model(1, 10, 3, 9, 2, 6),
    "transpose 4-D perm 3,1,0,2": transpose_model((2, 3, 5, 7), [3, 1, 0, 2]),
    "transpose 5-D perm 4,2,0,3,1": transpose_model((3, 1, 5, 2, 7), [4, 2, 0, 3, 1]),
    "transpose 3-D then matmul": transpose_model((3, 11, 5), [0, 2, 1], after=9),
}

def activation_chain(n, c, h, w, acts, depthwise=()):
    """A conv per activation, each activation fused into its conv's store: 1×1 convs, 3×3
    depthwise at the positions in `depthwise` (opset 20, for Gelu)."""
    nodes, inits, last = [], {}, "x"
    for i, (op, attrs) in enumerate(acts):
        dw = i in depthwise
        inits[f"w{i}"] = rng.standard_normal((c, 1, 3, 3) if dw else (c, c, 1, 1)) / (3 if dw else np.sqrt(c))
        inits[f"b{i}"] = rng.standard_normal(c) * 0.1
        out = "y" if i == len(acts) - 1 else f"a{i}"
        nodes += [helper.make_node("Conv", [last, f"w{i}", f"b{i}"], [f"c{i}"], group=c if dw else 1,
                                   kernel_shape=[3, 3] if dw else [1, 1], pads=[1] * 4 if dw else [0] * 4),
                  helper.make_node(op, [f"c{i}"], [out], **attrs)]
        last = out
    return graph(nodes, [n, c, h, w], [n, c, h, w], inits, "activations", opset=20), (n, c, h, w)


# Activations past the MobileNets' (ViTs' and ConvNeXts' GELU, ELU-family, Mish, ...), fused into
# convs' stores (a chain of them, so that each is checked on the values the one before makes),
# or on their own (the unary kernel) where nothing produces their input.
ACTIVATION_CASES = {
    "gelu, elu, selu, celu, mish, softsign batch2": activation_chain(
        2, 12, 5, 7, [("Gelu", {}), ("Elu", {"alpha": 0.7}), ("Selu", {}), ("Celu", {"alpha": 1.5}),
                      ("Mish", {}), ("Softsign", {})]),
    "gelu tanh, erf, softplus (depthwise), exp": activation_chain(
        1, 9, 6, 5, [("Gelu", {"approximate": "tanh"}), ("Erf", {}), ("Softplus", {}), ("Exp", {})], depthwise=(2,)),
    "abs then log then neg": (graph([helper.make_node("Abs", ["x"], ["a"]), helper.make_node("Log", ["a"], ["l"]),
                                     helper.make_node("Neg", ["l"], ["y"])], [2, 3, 5, 7], [2, 3, 5, 7], {}, "log"),
                              (2, 3, 5, 7)),
    # arguments of up to ~±150: far outside [−π, π], where WGSL's sin and cos need not be accurate
    "sin and cos of 40x, then F.normalize over channels (ReduceL2)": (graph([
        helper.make_node("Mul", ["x", "forty"], ["t"]), helper.make_node("Sin", ["t"], ["s"]),
        helper.make_node("Cos", ["t"], ["c"]), helper.make_node("Add", ["s", "c"], ["u"]),
        helper.make_node("ReduceL2", ["u"], ["norm"], axes=[1], keepdims=1),
        helper.make_node("Div", ["u", "norm"], ["y"])], [2, 6, 5, 7], [2, 6, 5, 7], {"forty": np.array(40.0)}, "trig"),
        (2, 6, 5, 7)),
    "ReduceSumSquare and ReduceL1 over height and width": (graph([
        helper.make_node("ReduceSumSquare", ["x"], ["q"], axes=[2, 3], keepdims=0),
        helper.make_node("ReduceL1", ["x"], ["a"], axes=[2, 3], keepdims=0),
        helper.make_node("Sub", ["q", "a"], ["y"])], [2, 5, 6, 7], [2, 5], {}, "norms"), (2, 5, 6, 7)),
}


def layer_norm_model(x_shape, axis):
    """LayerNormalization over the axes from `axis` on (a transformer's last axis, or C, H, W of
    an NHWC image), with scale and bias."""
    norm_shape = x_shape[axis:]
    inits = {"scale": rng.standard_normal(norm_shape), "bias": rng.standard_normal(norm_shape)}
    nodes = [helper.make_node("LayerNormalization", ["x", "scale", "bias"], ["y"], axis=axis, epsilon=1e-5)]
    return graph(nodes, list(x_shape), list(x_shape), inits, "layer_norm"), tuple(x_shape)


def group_norm_model(n, c, h, w, groups, unit=True):
    """PyTorch's GroupNorm as exported: Reshape to [N, groups, -1], InstanceNormalization of that
    rank-3 tensor (unit scale and zero B; `unit=False`: random ones, which ONNX also allows),
    Reshape back to Shape(x), then the per-channel affine. Each channel is first shifted by its
    own offset, so the parts of a group (and of a long row's chunks) have different means."""
    inits = {"rows": np.array([0, groups, -1]), "ones": np.ones(groups) if unit else rng.uniform(0.5, 1.5, groups),
             "zeros": np.zeros(groups) if unit else rng.standard_normal(groups),
             "gamma": rng.uniform(0.5, 1.5, (c, 1, 1)), "beta": rng.standard_normal((c, 1, 1)),
             "offsets": 3.0 * rng.standard_normal((c, 1, 1))}
    nodes = [helper.make_node("Add", ["x", "offsets"], ["shifted"]), helper.make_node("Reshape", ["shifted", "rows"], ["r"]),
             helper.make_node("InstanceNormalization", ["r", "ones", "zeros"], ["nr"], epsilon=1e-5),
             helper.make_node("Shape", ["x"], ["shape"]), helper.make_node("Reshape", ["nr", "shape"], ["n4"]),
             helper.make_node("Mul", ["n4", "gamma"], ["scaled"]), helper.make_node("Add", ["scaled", "beta"], ["y"])]
    model = graph(nodes, [n, c, h, w], [n, c, h, w], {k: v for k, v in inits.items() if k != "rows"}, "group_norm")
    model.graph.initializer.append(numpy_helper.from_array(inits["rows"].astype(np.int64), "rows"))
    return model, (n, c, h, w)


def tile_model(x_shape, repeats):
    y_shape = [d * r for d, r in zip(x_shape, repeats)]
    model = graph([helper.make_node("Tile", ["x", "repeats"], ["y"])], list(x_shape), y_shape, {}, "tile")
    model.graph.initializer.append(numpy_helper.from_array(np.array(repeats, np.int64), "repeats"))
    return model, tuple(x_shape)


def split_prelu_max_model(n, c, h, w, first):
    """Split the channels in two; PRelu (a slope per channel) on the first part, Max with a
    constant on the other; Concat them back."""
    inits = {"slope": rng.random((first, 1, 1)), "floor": np.array(0.25)}
    nodes = [helper.make_node("Split", ["x", "sizes"], ["a", "b"], axis=1),
             helper.make_node("PRelu", ["a", "slope"], ["pa"]), helper.make_node("Max", ["b", "floor"], ["mb"]),
             helper.make_node("Concat", ["pa", "mb"], ["y"], axis=1)]
    model = graph(nodes, [n, c, h, w], [n, c, h, w], inits, "split")
    model.graph.initializer.append(numpy_helper.from_array(np.array([first, c - first], np.int64), "sizes"))
    return model, (n, c, h, w)


def concat_model(n, h, w, channels, axis=1):
    """Concat along `axis` of one 1×1 conv of x per entry of `channels` (its output channels),
    with the same height and width unless `axis` is 2, where entry i is its conv's height (x is
    cropped to it by a Slice)."""
    c = 3
    nodes, weights, names = [], {}, []
    ints = {"start": np.array([0], np.int64), "axis2": np.array([2], np.int64)} if axis == 2 else {}
    for i, co in enumerate(channels):
        src = "x"
        if axis == 2:
            src = f"rows{i}"
            nodes.append(helper.make_node("Slice", ["x", "start", f"end{i}", "axis2"], [src]))
            ints[f"end{i}"] = np.array([co], np.int64)
        weights[f"w{i}"] = rng.standard_normal((4 if axis == 2 else co, c, 1, 1))
        nodes.append(helper.make_node("Conv", [src, f"w{i}"], [f"c{i}"]))
        names.append(f"c{i}")
    nodes.append(helper.make_node("Concat", names, ["y"], axis=axis, name="cat"))
    out = [n, 4, sum(channels), w] if axis == 2 else [n, sum(channels), h, w]
    model = graph(nodes, [n, c, h, w], out, weights, "concat")
    model.graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in ints.items())
    return model, (n, c, h, w)


def gather_model(x_shape, axis, indices, after=None):
    """Gather of constant indices along `axis`; `after` output columns: a Gemm reading it (a
    transformer's class token x[:, 0] going to its head)."""
    inits: dict = {}
    out = list(x_shape[:axis]) + list(np.shape(indices)) + list(x_shape[axis + 1:])
    nodes = [helper.make_node("Gather", ["x", "idx"], ["g" if after else "y"], axis=axis)]
    if after:
        inits = {"w": rng.standard_normal((out[-1], after)), "b": rng.standard_normal(after)}
        nodes.append(helper.make_node("Gemm", ["g", "w", "b"], ["y"]))
        out = out[:-1] + [after]
    model = graph(nodes, list(x_shape), out, inits, "gather")
    model.graph.initializer.append(numpy_helper.from_array(np.array(indices, np.int64), "idx"))
    return model, tuple(x_shape)


def expand_sum_model():
    """Expand [2, 1, 6] to [2, 3, 6], then the Sum of it, a constant and it again."""
    nodes = [helper.make_node("Expand", ["x", "shape"], ["e"]), helper.make_node("Sum", ["e", "c", "e"], ["y"])]
    model = graph(nodes, [2, 1, 6], [2, 3, 6], {"c": rng.standard_normal((3, 6))}, "expand")
    model.graph.initializer.append(numpy_helper.from_array(np.array([2, 3, 6], np.int64), "shape"))
    return model, (2, 1, 6)


def reduce_model(op, x_shape, axes, keepdims):
    y = [1 if i in axes else d for i, d in enumerate(x_shape)] if keepdims else \
        [d for i, d in enumerate(x_shape) if i not in axes]
    return graph([helper.make_node(op, ["x"], ["y"], axes=axes, keepdims=keepdims)], list(x_shape), y, {}, op), \
        tuple(x_shape)


def attention_model(n, t, d, h):
    """A one-head transformer classifier in miniature: a class token (a constant) concatenated
    to the tokens, a position embedding, LayerNormalization, Q·Kᵀ and attention · V (matmuls of
    two activations), the class token's row (Gather) to a linear head."""
    inits = {"cls": rng.standard_normal((n, 1, d)), "pos": rng.standard_normal((1, t + 1, d)),
             "g": rng.standard_normal(d), "b": rng.standard_normal(d), "scale": np.array(h ** -0.5),
             **{w: rng.standard_normal((d, h)) / np.sqrt(d) for w in ("wq", "wk", "wv")},
             "wh": rng.standard_normal((h, 10)), "bh": rng.standard_normal(10)}
    make = helper.make_node
    nodes = [make("Concat", ["cls", "x"], ["z"], axis=1), make("Add", ["z", "pos"], ["zp"]),
             make("LayerNormalization", ["zp", "g", "b"], ["zn"]),
             *[make("MatMul", ["zn", f"w{v}"], [v]) for v in "qkv"],
             make("Transpose", ["k"], ["kt"], perm=[0, 2, 1]), make("MatMul", ["q", "kt"], ["s"]),
             make("Mul", ["s", "scale"], ["ss"]), make("Softmax", ["ss"], ["p"], axis=-1),
             make("MatMul", ["p", "v"], ["o"]), make("Gather", ["o", "first"], ["c"], axis=1),
             make("Gemm", ["c", "wh", "bh"], ["y"])]
    model = graph(nodes, [n, t, d], [n, 10], inits, "attention")
    model.graph.initializer.append(numpy_helper.from_array(np.array(0, np.int64), "first"))
    return model, (n, t, d)


def multi_head_attention_model(n, t, heads, d):
    """Heads as timm writes them: qkv reshaped to [N, T, 3, heads, d], permuted to [3, N, heads,
    T, d] and unbound with Gather; Q·Kᵀ scaled, softmax, attention · V transposed back and
    merged, then a projection. Odd sizes, so every view's strides are odd (the matmuls read the
    projection's output in place and write the merged heads: no copies)."""
    make = helper.make_node
    width = heads * d
    nodes = [make("MatMul", ["x", "wqkv"], ["qkv"]), make("Reshape", ["qkv", "split"], ["r"]),
             make("Transpose", ["r"], ["p5"], perm=[2, 0, 3, 1, 4]),
             *[make("Gather", ["p5", f"i{i}"], [v], axis=0) for i, v in enumerate("qkv")],
             make("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]), make("MatMul", ["q", "kt"], ["s"]),
             make("Mul", ["s", "scale"], ["ss"]), make("Softmax", ["ss"], ["p"], axis=-1),
             make("MatMul", ["p", "v"], ["o"]), make("Transpose", ["o"], ["ot"], perm=[0, 2, 1, 3]),
             make("Reshape", ["ot", "merge"], ["m"]), make("MatMul", ["m", "wo"], ["y"])]
    model = graph(nodes, [n, t, width], [n, t, width], {"wqkv": rng.standard_normal((width, 3 * width)) / np.sqrt(width),
                                                     "scale": np.array(d ** -0.5),
                                                     "wo": rng.standard_normal((width, width))}, "mha")
    model.graph.initializer.extend(numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in {
        "split": [n, t, 3, heads, d], "merge": [n, t, width], "i0": 0, "i1": 1, "i2": 2}.items())
    return model, (n, t, width)


def head_split_attention_model(n, m, t, heads, d, dv, bias=None):
    """Cross attention as the fused op sees it at its most general: the first m of t tokens
    query all t keys, heads of d for Q and K but dv for V, each split out of its projection by
    Reshape → Transpose (K's straight to [N, heads, d, T]); the heads merged after. ``bias``,
    added to the scaled scores: "stored" (a relative position bias, [heads, m, t], the same for
    every image) or "computed" (from x, [N, 1, m, t], the same for every head)."""
    make = helper.make_node
    nodes = [make("Slice", ["x", "zero", "m", "one"], ["xq"]),
             make("MatMul", ["xq", "wq"], ["q2"]), make("Reshape", ["q2", "q_heads"], ["q4"]),
             make("Transpose", ["q4"], ["q"], perm=[0, 2, 1, 3]),
             make("MatMul", ["x", "wk"], ["k2"]), make("Reshape", ["k2", "k_heads"], ["k4"]),
             make("Transpose", ["k4"], ["kt"], perm=[0, 2, 3, 1]),
             make("MatMul", ["x", "wv"], ["v2"]), make("Reshape", ["v2", "v_heads"], ["v4"]),
             make("Transpose", ["v4"], ["v"], perm=[0, 2, 1, 3]),
             make("MatMul", ["q", "kt"], ["s"]), make("Mul", ["s", "scale"], ["ss"]),
             *({"stored": [make("Add", ["ss", "relative"], ["sb"])],
                "computed": [make("MatMul", ["x", "wb"], ["xb"]), make("Transpose", ["xb"], ["xbt"], perm=[0, 2, 1]),
                             make("Slice", ["xbt", "zero", "m", "one"], ["xbm"]),
                             make("Unsqueeze", ["xbm", "one"], ["mask"]), make("Add", ["mask", "ss"], ["sb"])],
                None: []}[bias]),
             make("Softmax", ["sb" if bias else "ss"], ["p"], axis=-1), make("MatMul", ["p", "v"], ["o"]),
             make("Transpose", ["o"], ["ot"], perm=[0, 2, 1, 3]), make("Reshape", ["ot", "merge"], ["y"])]
    width = 16
    model = graph(nodes, [n, t, width], [n, m, heads * dv], {
        "wq": rng.standard_normal((width, heads * d)), "wk": rng.standard_normal((width, heads * d)),
        "wv": rng.standard_normal((width, heads * dv)), "scale": np.array(d ** -0.5),
        "relative": rng.standard_normal((heads, m, t)), "wb": rng.standard_normal((width, t))}, "cross_attention")
    model.graph.initializer.extend(numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in {
        "zero": [0], "m": [m], "one": [1], "q_heads": [n, m, heads, d], "k_heads": [n, t, heads, d],
        "v_heads": [n, t, heads, dv], "merge": [n, m, heads * dv]}.items())
    return model, (n, t, width)


def sequence_first_encoder_model(n, t, e):
    """torch's sequence-first encoder tail: x [N, T, E] viewed as [T, N, E], LayerNorm, an MLP
    whose second layer adds the normalised stream (its residual, read in [T, N, E] order), then
    an output projection over the [T·N, E] rows, viewed back as [N, T, E] and added to x."""
    make = helper.make_node
    nodes = [make("Transpose", ["x"], ["t"], perm=[1, 0, 2]), make("LayerNormalization", ["t", "g", "b"], ["h"]),
             make("MatMul", ["h", "w1"], ["m"]), make("Relu", ["m"], ["r"]), make("MatMul", ["r", "w2"], ["o"]),
             make("Add", ["o", "h"], ["s"]), make("Reshape", ["s", "rows"], ["a"]),
             make("MatMul", ["a", "w3"], ["p"]), make("Add", ["p", "bias"], ["pb"]),
             make("Reshape", ["pb", "grouped"], ["gp"]), make("Transpose", ["gp"], ["gt"], perm=[1, 0, 2]),
             make("Add", ["gt", "x"], ["y"])]
    model = graph(nodes, [n, t, e], [n, t, e], {
        "g": 1 + rng.standard_normal(e), "b": rng.standard_normal(e), "w1": rng.standard_normal((e, 2 * e)) / np.sqrt(e),
        "w2": rng.standard_normal((2 * e, e)) / np.sqrt(2 * e), "w3": rng.standard_normal((e, e)) / np.sqrt(e),
        "bias": rng.standard_normal(e)}, "sequence_first")
    model.graph.initializer.extend(numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in {
        "rows": [t * n, e], "grouped": [t, n, e]}.items())
    return model, (n, t, e)


def constant_times_batch_model():
    """A stored [3, 4, 5] stack of matrices times x [2, 1, 5, 6]: the constant as a tensor of its
    own, and batch axes broadcast from both sides."""
    return graph([helper.make_node("MatMul", ["c", "x"], ["y"])], [2, 1, 5, 6], [2, 3, 4, 6],
                 {"c": rng.standard_normal((3, 4, 5))}, "stacked"), (2, 1, 5, 6)


def free_batch_model(c=6, hw=5, groups=2, classes=7):
    """Shapes computed from the input's free batch size N, as a dynamic-batch export writes them
    (Shape → Gather → Unsqueeze → Concat): a channel shuffle's reshapes, a class token expanded
    to every image, a flatten to [N, -1]; then a linear head."""
    make = helper.make_node
    tokens = hw * hw + 1
    shape = lambda name: [make("Concat", ["n1", f"{name}_rest"], [name], axis=0)]  # noqa: E731
    nodes = [make("Shape", ["x"], ["s"]), make("Gather", ["s", "zero"], ["n"], axis=0),
             make("Unsqueeze", ["n", "axis0"], ["n1"]),
             *shape("split"), make("Reshape", ["x", "split"], ["r1"]),
             make("Transpose", ["r1"], ["t"], perm=[0, 2, 1, 3, 4]),
             *shape("merge"), make("Reshape", ["t", "merge"], ["r2"]),
             make("Transpose", ["r2"], ["tk"], perm=[0, 2, 1]),
             *shape("cls"), make("Expand", ["cls_token", "cls"], ["e"]),
             make("Concat", ["e", "tk"], ["z"], axis=1),
             *shape("flat"), make("Reshape", ["z", "flat"], ["f"]),
             make("Gemm", ["f", "w", "b"], ["y"])]
    model = helper.make_model(helper.make_graph(
        nodes, "free_batch", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", c, hw, hw])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", classes])],
        [numpy_helper.from_array(v, k) for k, v in {
            "zero": np.array(0, np.int64), "axis0": np.array([0], np.int64),
            "split_rest": np.array([groups, c // groups, hw, hw], np.int64),
            "merge_rest": np.array([c, hw * hw], np.int64), "cls_rest": np.array([1, c], np.int64),
            "cls_token": rng.standard_normal((1, 1, c)).astype(np.float32),
            "flat_rest": np.array([-1], np.int64),
            "w": (rng.standard_normal((tokens * c, classes)) / np.sqrt(tokens * c)).astype(np.float32),
            "b": rng.standard_normal(classes).astype(np.float32)}.items()]),
        opset_imports=[helper.make_opsetid("", 17)])
    return model, (3, c, hw, hw)


# Ops written as other package ops (LayerNormalization, LRN) or as views and copies (Split,
# Gather, Expand), and the binary/reduce fns past add..pow and sum/mean.
MORE_OP_CASES = {
    # an axis of 1 broadcast (expand), a longer one repeated (a concat of copies), both at once
    "tile [1,3,4,5] by [2,1,3,1]": tile_model((1, 3, 4, 5), [2, 1, 3, 1]),
    "group norm, 1 group (PoolFormer's) batch2": group_norm_model(2, 6, 5, 4, 1),
    # rows of 5·61·67 = 20,435 floats: past layer_norm's one-workgroup rows, 5 chunks, the last partial
    "group norm, 1 group, long rows (chunked) batch2": group_norm_model(2, 5, 61, 67, 1),
    "group norm, 3 groups, InstanceNormalization's own scale and B": group_norm_model(1, 12, 3, 5, 3, unit=False),
    "layer norm last axis [2,7,13]": layer_norm_model((2, 7, 13), -1),
    "layer norm C,H,W of an image": layer_norm_model((2, 5, 4, 6), 1),
    "lrn size 5 c10": (graph([helper.make_node("LRN", ["x"], ["y"], size=5, alpha=0.5, beta=0.75, bias=2.0)],
                             [1, 10, 6, 7], [1, 10, 6, 7], {}, "lrn"), (1, 10, 6, 7)),
    "split, prelu, max, concat": split_prelu_max_model(2, 12, 5, 6, 5),
    # up to 7 inputs a dispatch (8 storage buffers a stage): 9 inputs are 2 dispatches
    "concat of 9 inputs, channels in fours (vec4)": concat_model(2, 5, 6, [4, 8, 4, 12, 4, 4, 8, 4, 16]),
    "concat of 9 inputs, odd channels": concat_model(2, 5, 6, [3, 1, 5, 2, 7, 4, 1, 6, 3]),
    # the second dispatch's inputs are in fours, but it starts at channel 23 of 35
    "concat of 9 inputs, the last two in fours": concat_model(2, 5, 6, [3, 1, 5, 2, 7, 4, 1, 4, 8]),
    "concat along height, 3 inputs": concat_model(2, 9, 5, [2, 4, 3], axis=2),
    "gather token then gemm": gather_model((2, 9, 16), 1, 0, after=10),
    "gather channel runs": gather_model((1, 11, 5, 4), 1, [3, 4, 5, 0, 8]),
    "gather every other row, 2-D indices": gather_model((3, 10, 4), 1, [[1, 3], [5, 7]]),
    "expand then sum of three": expand_sum_model(),
    "reduce max over channels": reduce_model("ReduceMax", (2, 6, 5, 7), [1], 0),
    "reduce min over h,w": reduce_model("ReduceMin", (2, 6, 5, 7), [2, 3], 1),
    # attention: one fused dispatch, whose workgroups take 8 or 16 query rows by grid size
    "attention, one head, batch 2 (8 rows)": attention_model(2, 19, 24, 20),
    "attention, 3 heads of 5 through views (8 rows)": multi_head_attention_model(2, 11, 3, 5),
    "attention, 7 queries over 40 keys, heads of 6 and 10 (8 rows)": head_split_attention_model(2, 7, 40, 2, 6, 10),
    "attention, 197 tokens, 12 heads of 64 (16 rows)": head_split_attention_model(2, 197, 197, 12, 64, 64),
    "attention, one query over 50 keys (8 rows)": head_split_attention_model(2, 1, 50, 2, 8, 8),   # class attention
    "attention, one query over a single key (8 rows)": head_split_attention_model(2, 1, 1, 2, 8, 8),
    "attention, heads of 128 (8 rows)": head_split_attention_model(1, 20, 20, 1, 128, 128),
    "attention with a relative position bias (8 rows)": head_split_attention_model(2, 7, 40, 2, 6, 10, "stored"),
    "attention with a mask computed per image (8 rows)": head_split_attention_model(2, 7, 40, 2, 6, 10, "computed"),
    "attention, 49 tokens, 32 windows of 3 heads, with a bias (16 rows)": head_split_attention_model(32, 49, 49, 3, 32, 32, "stored"),
    # MaxViT's Einsum attention over [B, G, H, I, D]: two matmuls with three batch axes
    "einsum attention, 3 batch axes": (graph(
        [helper.make_node("Einsum", ["x", "x"], ["s"], equation="B G H I D, B G H J D -> B G H I J"),
         helper.make_node("Softmax", ["s"], ["p"], axis=-1),
         helper.make_node("Einsum", ["p", "x"], ["y"], equation="bghij,bghjd->bghid")],
        [2, 3, 2, 7, 5], [2, 3, 2, 7, 5], {}, "einsum"), (2, 3, 2, 7, 5)),   # (8 rows)
    "matmul of a constant stack, batch broadcast": constant_times_batch_model(),
    # linear layers over [T, N, E] rows as they lie, residuals over regrouped rows (gemv, tiled)
    "sequence-first encoder tail, 6 rows": sequence_first_encoder_model(2, 3, 8),
    "sequence-first encoder tail, 80 rows": sequence_first_encoder_model(2, 40, 24),
    "shapes from a free batch size": free_batch_model(),
    # x @ xᵀ per head: 70×70 outputs over K = 33 (tiles of 64 and steps of 16 cut through both)
    "matmul x times its transpose, 2x2 heads": (graph(
        [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 1, 3, 2]), helper.make_node("MatMul", ["x", "t"], ["y"])],
        [2, 2, 70, 33], [2, 2, 70, 70], {}, "gram"), (2, 2, 70, 33)),
}

ALL_CASES = {**CONV_CASES, **PREACTIVATION_CASES, **ACTIVATION_CASES, **MORE_OP_CASES, **POOL_CASES, **GEMM_CASES, **SE_CASES, **SE_UNFUSED_CASES, **TRANSPOSE_CASES}


def plan(page, url: str, shape) -> dict:
    """The dispatch labels and distinct WGSL sources of a package's call (planned, not run)."""
    return page.page.evaluate("([u, s]) => tesseraEngine.plan(u, s)", [url, list(shape)])


@pytest.mark.parametrize("case", list(ALL_CASES))
def test_kernel_matches_onnxruntime(page, case):
    model, x_shape = ALL_CASES[case]
    url, path = page.compile(model, case.replace(" ", "_"))
    model_id = page.load(url, "fp32", split_k_in_workgroup=True)     # the kernels a hardware adapter gets
    if case.startswith("dw "):
        strip = any("let ox0 =" in k["source"] for k in page.kernels(model_id)["kernels"])
        assert strip == case.endswith("(strip)"), case
    if case.startswith("concat of 9"):
        copies = [k for k in page.kernels(model_id)["kernels"] if k["label"].startswith("cat")]
        assert sorted(k["label"] for k in copies) == ["cat:0", "cat:1"], case
        assert all(("vec4<f32>" in k["source"]) == case.endswith("(vec4)") for k in copies), case
    if "attention" in case:
        forms = {re.search(r"// attention (\d+) rows", k["source"])[1]
                 for k in page.kernels(model_id)["kernels"] if "// attention" in k["source"]}
        assert forms == {"16" if case.endswith("(16 rows)") else "8"}, case
        biased = any("var<storage, read> bt:" in k["source"] for k in page.kernels(model_id)["kernels"])
        assert biased == (" bias" in case or " mask" in case), case
    if "long rows" in case:
        assert any(k["label"].endswith(":combine") for k in page.kernels(model_id)["kernels"]), case
    if case in PREACTIVATION_CASES:   # no dispatch of the BatchNorm's own: every conv applies it
        kernels = page.kernels(model_id)["kernels"]
        convs = [k for k in kernels if k["label"] not in ("input layout", "output layout") and "split-k sum" not in k["label"]]
        assert convs and all(re.search(r"\bpre[14]\(x\[", k["source"]) for k in convs), case
        assert ("K split over" in "".join(k["source"] for k in kernels)) == ("group-split" in case), case
        assert any(k["label"].endswith("split-k sum") for k in kernels) == ("split-K" in case), case
    if case in CONV_CASES and "dw" not in case:  # small grids: 64-pixel tiles, 4×4 per thread
        assert not conv_takes_large_tiles(*last_conv_gemm(model))
        kernels = page.kernels(model_id)["kernels"]
        assert set(tilings(kernels).values()) <= {f"64x{bn}x16, 4x4" for bn in (16, 32, 64)}, case
        split_in_workgroup = any("K split over" in k["source"] for k in kernels)
        summed = any(k["label"].endswith("split-k sum") for k in kernels)
        if case.startswith("group-split"):
            assert split_in_workgroup and not summed, case
            groups = case.split("(")[-1].split()[0]
            assert any(f"K split over {groups} thread groups" in k["source"] for k in kernels), case
        if case.startswith("split-K"):
            assert summed and not split_in_workgroup, case
    for _ in range(2):  # fresh inputs each time, buffers poisoned before each run
        x = rng.standard_normal(x_shape).astype(np.float32)
        out = page.run(model_id, x)
        ref = onnxruntime_output(path, x)
        assert out.shape == (ref.size,)
        assert rel_l2(out, ref.ravel()) <= FP32_TOLERANCE, case
    page.dispose(model_id)


def test_software_adapters_keep_split_k_with_its_sum(page):
    """On a software adapter (SwiftShader here), where K split inside the workgroup runs slower
    than split-K, the engine leaves that form to hardware adapters unless told otherwise."""
    model, x_shape = CONV_CASES["group-split 1x1 cin256 co40 (64 groups)"]
    url, path = page.compile(model, "software_default")
    model_id = page.load(url, "fp32")
    kernels = page.kernels(model_id)["kernels"]
    assert any(k["label"].endswith("split-k sum") for k in kernels)
    assert not any("K split over" in k["source"] for k in kernels)
    x = rng.standard_normal(x_shape).astype(np.float32)
    assert rel_l2(page.run(model_id, x), onnxruntime_output(path, x).ravel()) <= FP32_TOLERANCE
    page.dispose(model_id)


@pytest.mark.parametrize("case", list(LARGE_CONV_CASES))
def test_large_conv_tiles_match_onnxruntime(page, case):
    """Every conv forced onto the large tiles; `fp16` cases load the fp16 weights (exact: the
    model's weights are fp16 values)."""
    model, x_shape = LARGE_CONV_CASES[case]
    url, path = page.compile(model, case.replace(" ", "_").replace("+", "_"))
    model_id = page.page.evaluate("([u, p]) => tesseraEngine.load(u, p, true, true, true)",
                                  [url, "fp16" if "fp16" in case else "fp32"])
    assert set(tilings(page.kernels(model_id)["kernels"]).values()) == {LARGE_TILES}, case
    x = rng.standard_normal(x_shape).astype(np.float32)
    out = page.run(model_id, x)
    assert rel_l2(out, onnxruntime_output(path, x).ravel()) <= FP32_TOLERANCE, case
    page.dispose(model_id)


@pytest.mark.parametrize("case", list(TILING_RULE_CASES))
def test_conv_tiling_follows_the_rule(page, case):
    (model, x_shape), large = TILING_RULE_CASES[case]
    assert conv_takes_large_tiles(*last_conv_gemm(model)) == large
    url, _ = page.compile(model, "rule_" + "".join(ch if ch.isalnum() else "_" for ch in case))
    got = tilings(plan(page, url, x_shape)["kernels"])
    assert list(got.values()) == [LARGE_TILES if large else "64x64x16, 4x4"], got


def test_fused_ops_are_the_ones_tested():
    """The cases above really reach each kernel family (the compiler fuses them as expected)."""
    from tessera.compiler.pipeline import compile_graph

    ops = {n.op for model, _ in ALL_CASES.values() for n in compile_graph(model, "case").nodes}
    assert {"conv2d", "pool", "global_pool", "gemm", "squeeze_excite", "squeeze_excite_gate", "transpose"} <= ops


def se_case_plan(page, case: str) -> tuple[int, list[str]]:
    """The gate dispatches the shape rule gives SE_CASES[case] (checked against its name), and
    the labels of its planned dispatches; a depthwise conv before the gate writes channel sums
    exactly when its channels are vec4 rows."""
    model, x_shape = SE_CASES[case]
    n, c = x_shape[:2]
    h, w = (d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim[2:])  # the gated map's
    cr = next(i.dims[0] for i in model.graph.initializer if i.name == "w1")
    gate = se_gate_dispatches(c, h, w, cr, n, after_depthwise=case.startswith("dw+"))
    assert ("spread" in case) == (gate > 1), case
    url, _ = page.compile(model, f"plan_{case}".replace(" ", "_"))
    planned = plan(page, url, x_shape)
    sums_written = ["var<storage, read_write> sums" in k["source"] for k in planned["kernels"]]
    assert sums_written == [case.startswith("dw+") and c % 4 == 0 and i == 1 for i in range(len(sums_written))], case
    return gate, planned["labels"]


@pytest.mark.parametrize("case", [c for c in SE_CASES if "+" in c])
def test_squeeze_excite_before_a_conv_is_its_gate_then_the_conv(page, case):
    """The gate (one dispatch, or two or three when it spreads) after the depthwise conv if
    there is one, its scaling inside the conv (a split-K conv adds its sum)."""
    gate, labels = se_case_plan(page, case)
    before = 2 if case.startswith("dw+") else 1      # the input layout, the depthwise conv
    conv = [label for label in labels[before + gate:] if not label.endswith("split-k sum")]
    assert labels[0] == "input layout" and labels[before + gate - 1].endswith(":gate"), labels
    assert sum(label.endswith(":gate") for label in labels) == 1, labels
    assert len(conv) == 1 and len(labels) <= before + gate + 2, labels


@pytest.mark.parametrize("case", [c for c in SE_CASES if "+" not in c])
def test_squeeze_excite_alone_is_its_gate_then_the_scale(page, case):
    gate, labels = se_case_plan(page, case)
    assert len(labels) == 1 + gate + 1 and labels[gate].endswith(":gate") and labels[-1].endswith(":scale"), labels


def test_mobilenet_v3_large_dispatches_follow_from_its_layers(page):
    """One dispatch per conv and classifier layer but the expansions that the depthwise convs
    after them compute, the squeeze-excite gates' (one, or two where
    se_gate_spreads: its pool is in the depthwise conv before it, its two FCs and the scaling
    are otherwise inside the gate and the next conv), the input layout, the head's pool and the
    split-K sums: nothing else."""
    import onnx

    from tessera import paths
    from tessera.bench.cases import ensure_bench_models

    ensure_bench_models(["mobilenet-v3-large"], log=lambda _: None)
    model = onnx.load(paths.build_dir() / "bench-models" / "mobilenet-v3-large" / "model.onnx")
    count = lambda *ops: sum(n.op_type in ops for n in model.graph.node)  # noqa: E731
    readers = {i for n in model.graph.node if n.op_type == "Conv" for i in n.input}
    se_pools = [n for n in model.graph.node if n.op_type == "GlobalAveragePool" and n.output[0] in readers]
    se_blocks = len(se_pools)
    dims = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in onnx.shape_inference.infer_shapes(model).graph.value_info}
    weights = {i.name: i.dims for i in model.graph.initializer}
    reduce_weight = {n.input[0]: n.input[1] for n in model.graph.node if n.op_type == "Conv"}
    gates = [(*dims[p.input[0]][1:], weights[reduce_weight[p.output[0]]][0]) for p in se_pools]  # C, H, W, CR
    # Every gate reads a depthwise conv's output, which also writes its channel sums.
    gate_dispatches = [se_gate_dispatches(*g, after_depthwise=True) for g in gates]
    # A 1×1 expansion (into at most 512 channels in fours, of at most 2^24 multiply-adds) is
    # computed by the depthwise conv after it (kernels/expand_depthwise.ts): no dispatch of its own.
    producers = {o: n for n in model.graph.node for o in n.output}
    attr = lambda node, name: next((helper.get_attribute_value(a) for a in node.attribute if a.name == name), None)  # noqa: E731
    expansions = 0
    for node in model.graph.node:
        if node.op_type != "Conv" or (attr(node, "group") or 1) == 1:
            continue
        source = producers[node.input[0]]
        while source.op_type in ("BatchNormalization", "Relu", "HardSwish"):
            source = producers[source.input[0]]
        if source.op_type == "Conv" and attr(source, "kernel_shape") == [1, 1] and (attr(source, "group") or 1) == 1:
            _, cin, h, w = dims[source.input[0]]
            cexp = weights[source.input[1]][0]
            expansions += cin % 4 == 0 and cexp % 4 == 0 and cexp <= 512 and h * w * cin * cexp <= 2 ** 24
    assert expansions == 10
    url, _ = page.compile(model, "mobilenet-v3-large-plan")
    got = plan(page, url, (1, 3, 224, 224))
    labels = got["labels"]
    split_sums = sum(label.endswith("split-k sum") for label in labels)
    layers = count("Conv") - 2 * se_blocks + count("Gemm", "MatMul") - expansions
    assert se_blocks == 8 and sum(label.endswith(":gate") for label in labels) == se_blocks
    # The rule's intent: the 28×28 blocks' FCs are small enough for one workgroup once the pool is
    # in the depthwise conv; the wider blocks' FCs spread, as two GEMVs.
    assert gate_dispatches == [1, 1, 1, 2, 2, 2, 2, 2], gates
    assert len(labels) == 1 + layers + sum(gate_dispatches) + (count("GlobalAveragePool") - se_blocks) + split_sums, labels
    print(f"MobileNetV3-Large: {len(labels)} dispatches, {got['sources']} distinct WGSL sources")


def style_scaled_model(c, h, w, s):
    """y = conv3x3(x) · conv1x1(style) + conv1x1'(style): a per-channel scale and shift computed
    from a [1, S, 1, 1] input vector, broadcast over an NHWC map (the arbitrary transform's
    form of conditional normalisation)."""
    inits = {"wx": rng.standard_normal((c, c, 3, 3)) / (3 * np.sqrt(c)), "bx": rng.standard_normal(c),
             "ws": rng.standard_normal((c, s, 1, 1)) / np.sqrt(s), "bs": rng.standard_normal(c),
             "wb": rng.standard_normal((c, s, 1, 1)) / np.sqrt(s), "bb": rng.standard_normal(c)}
    nodes = [helper.make_node("Conv", ["x", "wx", "bx"], ["f"], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["style", "ws", "bs"], ["scale"]),
             helper.make_node("Mul", ["f", "scale"], ["m"]),
             helper.make_node("Conv", ["style", "wb", "bb"], ["shift"]),
             helper.make_node("Add", ["m", "shift"], ["y"])]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, h, w]),
              helper.make_tensor_value_info("style", TensorProto.FLOAT, [1, s, 1, 1])]
    return helper.make_model(helper.make_graph(
        nodes, "style_scaled", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c, h, w])],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()]),
        opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("c, h, w, s", [(6, 5, 7, 7), (12, 9, 6, 5)])
def test_scale_and_shift_from_a_style_vector_conv(page, c, h, w, s):
    url, path = page.compile(style_scaled_model(c, h, w, s), f"style_scaled_{c}_{s}")
    model_id = page.load(url, "fp32")
    x = rng.standard_normal((1, c, h, w)).astype(np.float32)
    style = rng.standard_normal((1, s, 1, 1)).astype(np.float32)
    out = page.run(model_id, x, {"style": style})
    assert rel_l2(out, onnxruntime_outputs(path, {"x": x, "style": style}).ravel()) <= FP32_TOLERANCE
    page.dispose(model_id)


def test_a_weight_over_the_shard_size_is_a_shard_of_its_own_and_runs(page):
    """A 2100×2048 fully-connected layer (17 MB in fp32, over the compiler's 16 MB shard size):
    its own shard, fetched as byte ranges, bound whole; refused in one sentence on a GPU whose
    buffers can't hold it."""
    model, x_shape = gemm_model(2, 2048, 2100)
    url, path = page.compile(model, "wide_fc")
    manifest = json.loads((page.packages_dir / "wide_fc" / "manifest.json").read_text())
    slices = manifest["weights"]["slices"]
    big = max(slices.values(), key=lambda s: s["fp32"]["bytes"])["fp32"]
    assert big["bytes"] > 16 * 2**20 and big["offset"] == 0
    assert all(s["fp32"]["shard"] != big["shard"] for s in slices.values() if s["fp32"] is not big)
    model_id = page.load(url, "fp32")
    x = rng.standard_normal(x_shape).astype(np.float32)
    assert rel_l2(page.run(model_id, x), onnxruntime_output(path, x).ravel()) <= FP32_TOLERANCE
    page.dispose(model_id)
    fit = lambda precision, limit: page.page.evaluate(  # noqa: E731
        "([u, p, l]) => tesseraEngine.weightsFit(u, p, l)", [url, precision, limit])
    assert fit("fp32", 2**30) is None and fit("fp16", 12 * 2**20) is None
    assert fit("fp32", 12 * 2**20) == "wide_fc has a 16 MiB fp32 weight; this GPU allows 12 MiB per buffer (fp16 weights take half)"


def softmax_top_k(logits: np.ndarray, k: int) -> list[tuple[list[int], np.ndarray]]:
    """Per row of `logits`: the k most probable classes after a softmax (ties to the lower
    index) and their probabilities, highest first."""
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    return [(list(np.argsort(-p, kind="stable")[:k]), np.sort(p)[::-1][:k]) for p in probs]


def test_softmax_top_k_on_the_gpu(page):
    """Loaded as the app loads (only the first calls of a kind validated in an error scope):
    the calls after those still give each its own right answer."""
    model, x_shape = gemm_model(3, 16, 300)
    url, path = page.compile(model, "topk")
    model_id = page.page.evaluate("([u, p]) => tesseraEngine.load(u, p, false)", [url, "fp32"])
    for _ in range(4):
        x = rng.standard_normal(x_shape).astype(np.float32)
        rows = page.top_k(model_id, x, 5)
        for row, (indices, scores) in zip(rows, softmax_top_k(onnxruntime_output(path, x), 5)):
            assert [e["index"] for e in row] == indices
            np.testing.assert_allclose([e["score"] for e in row], scores, rtol=1e-4)
    page.dispose(model_id)


def assert_subgroup_form(page, model_id: int, subgroups: bool, reducing: str) -> None:
    """With subgroups on, exactly the kernels whose label ends with `reducing` use subgroup
    operations (and say `enable subgroups`); off, no kernel does."""
    got = page.kernels(model_id)
    assert (got["subgroups"] is not None) == subgroups, f"subgroups {got['subgroups']} (this adapter has the feature)"
    uses = {k["label"]: "subgroup" in k["source"] for k in got["kernels"]}
    assert any(label.endswith(reducing) for label in uses), uses
    assert uses == {label: subgroups and label.endswith(reducing) for label in uses}, uses
    assert all(k["source"].startswith("enable subgroups;") == uses[k["label"]] for k in got["kernels"])


@pytest.mark.parametrize("subgroups", [True, False], ids=["subgroups", "no subgroups"])
def test_softmax_top_k_with_and_without_subgroups(page, subgroups):
    """Class counts that are multiples of neither 4 nor 32, and ties: equal maxima and equal
    zeros (relu), which go to the lower index whichever subgroups the candidates fall in."""
    for classes in (1000, 997):
        model = graph([helper.make_node("Relu", ["x"], ["y"])], [3, classes], [3, classes], {}, "relu")
        url, path = page.compile(model, f"topk_{classes}_{subgroups}")
        model_id = page.load(url, "fp32", subgroups)
        x = rng.standard_normal((3, classes)).astype(np.float32)
        x[0, [classes - 1, 5, 600]] = x[0].max() + 1   # a three-way tie for the top
        x[1] = -np.abs(x[1])                             # all zeros after relu but two
        x[1, rng.choice(classes, 2, replace=False)] = [1.5, 2.5]
        rows = page.top_k(model_id, x, 6)
        for row, (indices, scores) in zip(rows, softmax_top_k(onnxruntime_output(path, x), 6)):
            assert [e["index"] for e in row] == indices
            assert rel_l2(np.array([e["score"] for e in row]), scores) <= FP32_TOLERANCE
        assert_subgroup_form(page, model_id, subgroups, "softmax+top-k")
        page.dispose(model_id)


@pytest.mark.parametrize("heads, k, threads, k_groups", [(3, 37, 64, False), (2, 70, 256, True), (16, 37, 256, False)])
def test_matmul_tiles_shrink_when_the_grid_is_small(page, heads, k, threads, k_groups):
    """x @ xᵀ per head (xᵀ read through a view), 150×150 outputs (neither tile side nor the K
    step divides them): 3 heads make 27 workgroups of 64-wide tiles, too few, so 32-wide tiles
    of 64 threads; 2 heads make 50 even then, and with K = 70 four groups of 64 threads take a
    slice of each K step and add their sums; 16 heads make 144 and keep 64-wide tiles."""
    shape = (1, heads, 150, k)
    model = graph([helper.make_node("Transpose", ["x"], ["t"], perm=[0, 1, 3, 2]),
                   helper.make_node("MatMul", ["x", "t"], ["y"])], list(shape), [1, heads, 150, 150], {}, "gram")
    url, path = page.compile(model, f"gram_{heads}_{k}")
    model_id = page.load(url, "fp32")
    x = rng.standard_normal(shape).astype(np.float32)
    assert rel_l2(page.run(model_id, x), onnxruntime_output(path, x).ravel()) <= FP32_TOLERANCE
    [matmul] = [k["source"] for k in page.kernels(model_id)["kernels"] if "var<workgroup> As" in k["source"]]
    assert f"@workgroup_size({threads})" in matmul
    assert ("As[(g - 1u)" in matmul) == k_groups
    page.dispose(model_id)


@pytest.mark.parametrize("subgroups", [True, False], ids=["subgroups", "no subgroups"])
def test_softmax_over_long_rows_takes_a_workgroup_per_row(page, subgroups):
    """Softmax and LogSoftmax over the innermost axis: rows of 197 (attention's scores) and 33
    floats take one workgroup each, its max and sum workgroup reductions (with subgroup
    operations exactly when they are on); rows of 5 keep a thread per row."""
    for op, shape in (("Softmax", (3, 7, 197)), ("LogSoftmax", (4, 33)), ("Softmax", (6, 5))):
        model = graph([helper.make_node(op, ["x"], ["y"], axis=-1)], list(shape), list(shape), {}, op)
        url, path = page.compile(model, f"{op}_{shape[-1]}_{subgroups}")
        model_id = page.load(url, "fp32", subgroups)
        x = (4 * rng.standard_normal(shape)).astype(np.float32)
        assert rel_l2(page.run(model_id, x), onnxruntime_output(path, x).ravel()) <= FP32_TOLERANCE, (op, shape)
        [kernel] = page.kernels(model_id)["kernels"]
        assert ("reduce_max(m, lid)" in kernel["source"]) == (shape[-1] >= 32), (op, shape)
        assert ("subgroupMax" in kernel["source"]) == (subgroups and shape[-1] >= 32), (op, shape)
        page.dispose(model_id)


@pytest.mark.parametrize("case, tiled", [("gemm 8x264x130", False), ("gemm 12x20x9 relu", False),
                                         ("tiled gemm 16x40x12 relu", True), ("tiled gemm 49x300x24 split", True),
                                         ("tiled gemm 100x24x40 relu", True), ("tiled linear residual 2x40x16", True)])
def test_a_gemm_of_many_rows_is_the_tiled_gemm(page, case, tiled):
    """Few rows: the gemv; from 16: conv2d.ts's GEMM (tiled, or with K split in the workgroup)."""
    model, x_shape = GEMM_CASES[case]
    url, _ = page.compile(model, "plan_" + case.replace(" ", "_"))
    kernels = plan(page, url, x_shape)["kernels"]
    assert any(k["source"].lstrip().startswith("// conv2d") for k in kernels) == tiled


def test_unsupported_op_is_refused_at_load_naming_it(page):
    """A package op this engine has no kernel for (as a newer compiler might write) is refused
    at load, by name."""
    url, _ = page.compile(graph([helper.make_node("Relu", ["x"], ["y"])], [3, 3], [3, 3], {}, "relu"), "future")
    manifest_path = page.packages_dir / "future" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["ops"][0]["op"] = "einsum"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(Exception, match="unsupported ops? einsum"):
        page.load(url, "fp32")
