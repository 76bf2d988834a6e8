"""Two small networks of the kinds users bring besides CNN classifiers, written the way
torch.onnx.export writes them (opset 17, dynamic batch N, exact GELU as Erf, linear layers as
MatMul + Add), with seeded random weights: a ViT and a ConvNeXt. 64×64 inputs keep them quick
on SwiftShader; their structure, not their size, is what the tests exercise."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

IMG = 64
CLASSES = 10


class _Graph:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.batch: str | None = None     # [N] from Shape(x), made on first use

    def const(self, name: str, value, dtype=np.float32) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def random(self, name: str, shape, scale: float) -> str:
        return self.const(name, self.rng.standard_normal(shape) * scale)

    def op(self, op: str, inputs: list[str], out: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def linear(self, x: str, cin: int, cout: int, tag: str) -> str:
        product = self.op("MatMul", [x, self.random(f"{tag}.w", (cin, cout), cin ** -0.5)], f"{tag}.mm")
        return self.op("Add", [product, self.random(f"{tag}.b", cout, 0.02)], tag)

    def layer_norm(self, x: str, d: int, tag: str) -> str:
        return self.op("LayerNormalization", [x, self.const(f"{tag}.g", 1 + 0.1 * self.rng.standard_normal(d)),
                                              self.random(f"{tag}.b", d, 0.1)], tag, axis=-1, epsilon=1e-6)

    def gelu(self, x: str, tag: str) -> str:
        """Exact GELU as torch writes it below opset 20: x · (1 + erf(x / √2)) · ½."""
        erf = self.op("Erf", [self.op("Div", [x, self.const(f"{tag}.root2", np.sqrt(2))], f"{tag}.d")], f"{tag}.erf")
        plus = self.op("Add", [erf, self.const(f"{tag}.one", 1.0)], f"{tag}.plus")
        return self.op("Mul", [self.op("Mul", [x, plus], f"{tag}.xp"), self.const(f"{tag}.half", 0.5)], tag)

    def batch_shape(self, tag: str, rest: list[int]) -> str:
        """Concat(N, rest): a shape whose first entry is the input's free batch size."""
        if self.batch is None:
            n = self.op("Gather", [self.op("Shape", ["x"], "x.shape"), self.const("zero", 0, np.int64)], "n", axis=0)
            self.batch = self.op("Unsqueeze", [n, self.const("axis0", [0], np.int64)], "batch")
        return self.op("Concat", [self.batch, self.const(f"{tag}.rest", rest, np.int64)], tag, axis=0)

    def model(self, name: str, out: str) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, IMG, IMG])],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", CLASSES])], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.checker.check_model(model, full_check=True)
        return model


def vit(dim: int = 32, heads: int = 2, patch: int = 16, depth: int = 2, unbind: str = "slice") -> onnx.ModelProto:
    """Patchify conv, class token Expand-ed to the batch, position embedding, pre-norm blocks
    (qkv, heads by Reshape/Transpose and then Slice + Squeeze, or Split + Squeeze as torch
    writes ``unbind(0)`` with ``unbind="split"``; Q·Kᵀ, Softmax, attention · V, projection, MLP
    with GELU, residuals), final LayerNorm, the class token's row (Gather) to a linear head."""
    g = _Graph(5)
    tokens = (IMG // patch) ** 2 + 1
    x = g.op("Conv", ["x", g.random("patch.w", (dim, 3, patch, patch), 0.02), g.random("patch.b", dim, 0.02)],
             "patch", kernel_shape=[patch, patch], strides=[patch, patch])
    x = g.op("Transpose", [g.op("Reshape", [x, g.batch_shape("flat", [dim, -1])], "patch.flat")], "tokens",
             perm=[0, 2, 1])
    cls = g.op("Expand", [g.random("cls", (1, 1, dim), 0.02), g.batch_shape("cls.shape", [1, dim])], "cls.all")
    z = g.op("Add", [g.op("Concat", [cls, x], "cat", axis=1), g.random("pos", (1, tokens, dim), 0.02)], "z")
    for layer in range(depth):
        t = f"block{layer}"
        qkv = g.linear(g.layer_norm(z, dim, f"{t}.ln1"), dim, 3 * dim, f"{t}.qkv")
        qkv = g.op("Transpose", [g.op("Reshape", [qkv, g.batch_shape(f"{t}.split", [tokens, 3, heads, dim // heads])],
                                      f"{t}.heads")], f"{t}.qkv_t", perm=[2, 0, 3, 1, 4])
        if unbind == "split":
            g.nodes.append(helper.make_node("Split", [qkv, g.const(f"{t}.thirds", [1, 1, 1], np.int64)],
                                            [f"{t}.part{i}" for i in range(3)], axis=0))
            parts = [f"{t}.part{i}" for i in range(3)]
        else:
            parts = [g.op("Slice", [qkv, g.const(f"{t}.s{i}", [i], np.int64), g.const(f"{t}.e{i}", [i + 1], np.int64)],
                          f"{t}.slice{i}") for i in range(3)]
        q, k, v = (g.op("Squeeze", [part, "axis0"], f"{t}.{name}") for part, name in zip(parts, "qkv"))
        scores = g.op("MatMul", [q, g.op("Transpose", [k], f"{t}.kt", perm=[0, 1, 3, 2])], f"{t}.scores")
        scaled = g.op("Mul", [scores, g.const(f"{t}.scale", (dim // heads) ** -0.5)], f"{t}.scaled")
        attn = g.op("MatMul", [g.op("Softmax", [scaled], f"{t}.p", axis=-1), v], f"{t}.attn")
        merged = g.op("Reshape", [g.op("Transpose", [attn], f"{t}.attn_t", perm=[0, 2, 1, 3]),
                                  g.batch_shape(f"{t}.merge", [tokens, dim])], f"{t}.merged")
        z = g.op("Add", [z, g.linear(merged, dim, dim, f"{t}.proj")], f"{t}.z1")
        hidden = g.gelu(g.linear(g.layer_norm(z, dim, f"{t}.ln2"), dim, 2 * dim, f"{t}.fc1"), f"{t}.gelu")
        z = g.op("Add", [z, g.linear(hidden, 2 * dim, dim, f"{t}.fc2")], f"{t}.z2")
    first = g.op("Gather", [g.layer_norm(z, dim, "final.ln"), g.const("first", 0, np.int64)], "cls.out", axis=1)
    g.op("Gemm", [first, g.random("head.w", (CLASSES, dim), 1.0), g.random("head.b", CLASSES, 1.0)], "logits",
         transB=1)
    return g.model("vit", "logits")


def convnext(dim: int = 24, depth: int = 2) -> onnx.ModelProto:
    """Patchify conv, blocks of depthwise 7×7 → to NHWC → LayerNorm → linear → GELU → linear →
    layer scale → back to NCHW → residual, then global mean, LayerNorm and a linear head."""
    g = _Graph(3)
    x = g.op("Conv", ["x", g.random("stem.w", (dim, 3, 4, 4), 0.1), g.random("stem.b", dim, 0.1)], "stem",
             kernel_shape=[4, 4], strides=[4, 4])
    for layer in range(depth):
        t = f"block{layer}"
        y = g.op("Conv", [x, g.random(f"{t}.dw.w", (dim, 1, 7, 7), 0.1), g.random(f"{t}.dw.b", dim, 0.1)], f"{t}.dw",
                 group=dim, pads=[3] * 4, kernel_shape=[7, 7])
        y = g.op("Transpose", [y], f"{t}.nhwc", perm=[0, 2, 3, 1])
        y = g.linear(g.gelu(g.linear(g.layer_norm(y, dim, f"{t}.ln"), dim, 4 * dim, f"{t}.fc1"), f"{t}.gelu"),
                     4 * dim, dim, f"{t}.fc2")
        y = g.op("Mul", [y, g.const(f"{t}.gamma", 0.5 + 0.1 * g.rng.standard_normal(dim))], f"{t}.scaled")
        x = g.op("Add", [x, g.op("Transpose", [y], f"{t}.nchw", perm=[0, 3, 1, 2])], f"{t}.out")
    pooled = g.layer_norm(g.op("ReduceMean", [x], "pool", axes=[2, 3], keepdims=0), dim, "final.ln")
    g.op("Gemm", [pooled, g.random("head.w", (CLASSES, dim), 1.0), g.random("head.b", CLASSES, 1.0)], "logits",
         transB=1)
    return g.model("convnext", "logits")


def sequence_first_attention(tokens: int = 7, dim: int = 12, heads: int = 2) -> onnx.ModelProto:
    """One attention layer as torch's nn.MultiheadAttention exports it (torchvision's ViT):
    tokens first ([T, N, E], so the free batch sits behind the token axis), heads by Reshape to
    [T, N·heads, d] and Transpose, then Q and K each scaled by d^-¼ (K before its Transpose to
    Kᵀ), the heads merged back to [N, T, E]. Input [N, T, E], output [N, T, E]."""
    g = _Graph(11)
    d = dim // heads
    xt = g.op("Transpose", ["x"], "xt", perm=[1, 0, 2])
    split = g.const("split", [tokens, -1, d], np.int64)
    quarter = g.const("quarter", d ** -0.25)

    def heads_of(name: str, scaled: bool) -> str:
        proj = g.op("MatMul", [xt, g.random(f"w{name}", (dim, dim), dim ** -0.5)], f"{name}.proj")
        heads = g.op("Transpose", [g.op("Reshape", [proj, split], f"{name}.split")], f"{name}.heads", perm=[1, 0, 2])
        return g.op("Mul", [heads, quarter], f"{name}.scaled") if scaled else heads

    q, k, v = heads_of("q", True), heads_of("k", True), heads_of("v", False)
    scores = g.op("MatMul", [q, g.op("Transpose", [k], "kt", perm=[0, 2, 1])], "scores")
    attn = g.op("MatMul", [g.op("Softmax", [scores], "p", axis=-1), v], "attn")
    n = g.op("Gather", [g.op("Shape", ["x"], "x.shape"), g.const("zero", [0], np.int64)], "n", axis=0)
    merge = g.op("Concat", [g.const("t", [tokens], np.int64), n, g.const("e", [dim], np.int64)], "merge", axis=0)
    merged = g.op("Reshape", [g.op("Transpose", [attn], "attn.t", perm=[1, 0, 2]), merge], "merged")
    g.op("Transpose", [merged], "y", perm=[1, 0, 2])
    graph = helper.make_graph(
        g.nodes, "mha", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", tokens, dim])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", tokens, dim])], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def shifted_window_attention(windows: int = 4, tokens: int = 9, dim: int = 12, heads: int = 2,
                             relative: bool = True) -> onnx.ModelProto:
    """Window attention as torchvision's Swin writes it for a shifted block: x [N, windows, T, E]
    as N·windows windows, qkv split into heads (Reshape, Transpose, Gather), Q·Kᵀ scaled, plus a
    relative position bias [heads, T, T] (``relative``), then viewed as [N, windows, heads, T, T]
    to add the windows' mask [windows, 1, T, T] and viewed back, softmax, · V, heads merged."""
    g = _Graph(13)
    d = dim // heads
    n = g.op("Unsqueeze", [g.op("Gather", [g.op("Shape", ["x"], "x.shape"), g.const("zero", 0, np.int64)], "n", axis=0),
                           g.const("axis0", [0], np.int64)], "batch")
    flat = g.op("Reshape", ["x", g.const("flat", [-1, tokens, dim], np.int64)], "windows")
    qkv = g.op("MatMul", [flat, g.random("wqkv", (dim, 3 * dim), dim ** -0.5)], "qkv")
    split = g.op("Reshape", [qkv, g.const("split", [-1, tokens, 3, heads, d], np.int64)], "qkv.split")
    parts = g.op("Transpose", [split], "qkv.parts", perm=[2, 0, 3, 1, 4])
    q, k, v = (g.op("Gather", [parts, g.const(f"i{i}", i, np.int64)], name, axis=0) for i, name in enumerate("qkv"))
    scores = g.op("Mul", [g.op("MatMul", [q, g.op("Transpose", [k], "kt", perm=[0, 1, 3, 2])], "qk"),
                          g.const("scale", d ** -0.5)], "scores")
    if relative:
        scores = g.op("Add", [scores, g.random("relative", (heads, tokens, tokens), 1.0)], "biased")
    by_window = g.op("Concat", [n, g.const("by_window.rest", [windows, heads, tokens, tokens], np.int64)], "by_window", axis=0)
    mask = np.where(g.rng.random((windows, 1, tokens, tokens)) < 0.3, -100.0, 0.0)
    masked = g.op("Add", [g.op("Reshape", [scores, by_window], "scores.by_window"), g.const("mask", mask)], "masked")
    back = g.op("Reshape", [masked, g.const("back", [-1, heads, tokens, tokens], np.int64)], "scores.back")
    attn = g.op("MatMul", [g.op("Softmax", [back], "p", axis=-1), v], "attn")
    merged = g.op("Reshape", [g.op("Transpose", [attn], "attn.t", perm=[0, 2, 1, 3]),
                              g.op("Concat", [n, g.const("merged.rest", [windows, tokens, dim], np.int64)], "merged.shape", axis=0)], "y")
    graph = helper.make_graph(
        g.nodes, "swin_window", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", windows, tokens, dim])],
        [helper.make_tensor_value_info(merged, TensorProto.FLOAT, ["N", windows, tokens, dim])], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def residual_convnet(width: int = 24) -> onnx.ModelProto:
    """A float ResNet-style network: a 3×3 stride-2 stem, a bottleneck (1×1, 3×3, 1×1 with a
    residual add and ReLU), a 3×3 stride-2 conv to 36 channels (not a multiple of 16), global
    average pool and a linear head. Sizes are deliberately off every tile (9·width taps in the
    last conv)."""
    g = _Graph(5)

    def conv(x, cin, cout, k, tag, stride=1, relu=True):
        y = g.op("Conv", [x, g.random(f"{tag}.w", (cout, cin, k, k), (cin * k * k) ** -0.5),
                          g.random(f"{tag}.b", cout, 0.1)], f"{tag}.conv",
                 kernel_shape=[k, k], strides=[stride] * 2, pads=[k // 2] * 4)
        return g.op("Relu", [y], tag) if relu else y

    stem = conv("x", 3, width, 3, "stem", stride=2)
    y = conv(conv(stem, width, 16, 1, "b.reduce"), 16, 16, 3, "b.mid")
    y = g.op("Relu", [g.op("Add", [stem, conv(y, 16, width, 1, "b.expand", relu=False)], "b.sum")], "b.out")
    y = conv(y, width, 36, 3, "down", stride=2)
    pooled = g.op("Flatten", [g.op("GlobalAveragePool", [y], "pool")], "flat", axis=1)
    g.op("Gemm", [pooled, g.random("head.w", (CLASSES, 36), 1.0), g.random("head.b", CLASSES, 0.1)], "logits",
         transB=1)
    return g.model("residual_convnet", "logits")




def densenet(stem: int = 8, growth: int = 4, layers: int = 4) -> onnx.ModelProto:
    """A dense block as torchvision's DenseNet exports it: each layer reads torch.cat of every
    earlier feature map (the first a one-input Concat), BatchNorm → ReLU → 1×1 conv → BatchNorm
    → ReLU → 3×3 conv to ``growth`` channels; then the block's Concat of all, BatchNorm → ReLU,
    global average pool and a linear head."""
    g = _Graph(17)

    def bn_relu(x: str, c: int, tag: str) -> str:
        bn = g.op("BatchNormalization", [x, g.const(f"{tag}.g", 0.5 + g.rng.random(c)), g.random(f"{tag}.b", c, 0.1),
                                         g.random(f"{tag}.m", c, 0.1), g.const(f"{tag}.v", 0.5 + g.rng.random(c))], f"{tag}.bn")
        return g.op("Relu", [bn], tag)

    def conv(x: str, cin: int, cout: int, k: int, tag: str, stride: int = 1) -> str:
        return g.op("Conv", [x, g.random(f"{tag}.w", (cout, cin, k, k), (cin * k * k) ** -0.5)], tag,
                    kernel_shape=[k, k], strides=[stride] * 2, pads=[k // 2] * 4)

    features = [conv("x", 3, stem, 4, "stem", stride=4)]
    for layer in range(layers):
        t = f"layer{layer}"
        c = stem + layer * growth
        cat = g.op("Concat", list(features), f"{t}.cat", axis=1)
        y = conv(bn_relu(cat, c, f"{t}.norm1"), c, 4 * growth, 1, f"{t}.conv1")
        features.append(conv(bn_relu(y, 4 * growth, f"{t}.norm2"), 4 * growth, growth, 3, f"{t}.conv2"))
    c = stem + layers * growth
    block = bn_relu(g.op("Concat", features, "block.cat", axis=1), c, "final")
    pooled = g.op("Flatten", [g.op("GlobalAveragePool", [block], "pool")], "flat", axis=1)
    g.op("Gemm", [pooled, g.random("head.w", (CLASSES, c), c ** -0.5), g.random("head.b", CLASSES, 0.1)], "logits",
         transB=1)
    return g.model("densenet", "logits")
