"""torchvision's MobileNetV2 (1.0, 224) as an ONNX graph, from its state dict.

Layout of the state dict (torchvision's ``mobilenet_v2``): ``features.0`` is conv 3x3/2 +
BN + ReLU6 (32); ``features.1..17`` are inverted residuals whose ``conv`` sequence holds
[expand ConvBNReLU6 (absent when the expansion is 1), depthwise ConvBNReLU6, project conv,
BN]; ``features.18`` is conv 1x1 + BN + ReLU6 (1280); ``classifier.1`` is the linear layer
(``classifier.0`` is dropout). Padding is PyTorch's symmetric ``(k - 1) // 2``.

Channel widths come from the weights; the stride of each stage's first block comes from
the architecture's table, since strides are not stored in a state dict.
"""

from __future__ import annotations

import numpy as np
import onnx

from tessera.zoo.graph import GraphBuilder

# (stride of the stage's first block, number of blocks) for torchvision's seven stages.
STAGES = ((1, 1), (2, 2), (2, 3), (2, 4), (1, 3), (2, 3), (1, 1))
BN_EPS = 1e-5


def _conv_bn(g: GraphBuilder, state: dict[str, np.ndarray], x: str, conv: str, bn: str, *,
             stride: int = 1, act: bool = True) -> str:
    w = state[f"{conv}.weight"]
    group = w.shape[0] if w.shape[1] == 1 and w.shape[2] > 1 else 1
    y = g.conv(x, w, stride=stride, group=group)
    y = g.batch_norm(y, state[f"{bn}.weight"], state[f"{bn}.bias"], state[f"{bn}.running_mean"],
                     state[f"{bn}.running_var"], eps=BN_EPS)
    return g.relu6(y) if act else y


def _inverted_residual(g: GraphBuilder, state, x: str, i: int, stride: int) -> str:
    p = f"features.{i}.conv"
    expand = f"{p}.3.weight" in state  # four layers when there is an expansion conv
    y = _conv_bn(g, state, x, f"{p}.0.0", f"{p}.0.1") if expand else x
    dw, project, bn = (f"{p}.1", f"{p}.2", f"{p}.3") if expand else (f"{p}.0", f"{p}.1", f"{p}.2")
    y = _conv_bn(g, state, y, f"{dw}.0", f"{dw}.1", stride=stride)
    y = _conv_bn(g, state, y, project, bn, act=False)
    in_channels = state[f"{p}.0.0.weight"].shape[1 if expand else 0]
    residual = stride == 1 and in_channels == state[f"{project}.weight"].shape[0]
    return g.add(x, y) if residual else y


def build(state: dict[str, np.ndarray]) -> onnx.ModelProto:
    """ONNX model: input "image" [N, 3, 224, 224] with ImageNet mean/std, output "logits"."""
    g = GraphBuilder("mobilenet_v2")
    x = g.input("image", ["N", 3, 224, 224])
    x = _conv_bn(g, state, x, "features.0.0", "features.0.1", stride=2)
    i = 1
    for first_stride, blocks in STAGES:
        for b in range(blocks):
            x = _inverted_residual(g, state, x, i, first_stride if b == 0 else 1)
            i += 1
    x = _conv_bn(g, state, x, f"features.{i}.0", f"features.{i}.1")
    x = g.flatten(g.global_avg_pool(x))
    x = g.gemm(x, state["classifier.1.weight"], state["classifier.1.bias"])
    g.output(x, "logits", ["N", state["classifier.1.bias"].shape[0]])
    return g.model("MobileNetV2 (ImageNet-1k), torchvision's weights")
