"""MobileNetV3 Large and Small exactly as torchvision.models.mobilenet_v3_large/_small build them.

Layer tables, channel rounding (_make_divisible), squeeze-excite widths, BatchNorm eps 0.001
and the 1280/1024-wide hardswish classifier all follow torchvision, so the learnable parameter
counts match (5,483,032 and 2,542,856). Dropout is an identity at inference and is left out.
"""

from __future__ import annotations

from typing import NamedTuple, TYPE_CHECKING

from .graph import GraphBuilder

if TYPE_CHECKING:
    from .bench_models import RandomWeights

BN_EPS = 1e-3


class Block(NamedTuple):
    """One torchvision InvertedResidualConfig row (width_mult 1.0, no dilation)."""
    cin: int
    kernel: int
    expanded: int
    cout: int
    se: bool
    act: str  # "relu" or "hard_swish"
    stride: int


RE, HS = "relu", "hard_swish"

LARGE = (
    Block(16, 3, 16, 16, False, RE, 1),
    Block(16, 3, 64, 24, False, RE, 2),
    Block(24, 3, 72, 24, False, RE, 1),
    Block(24, 5, 72, 40, True, RE, 2),
    Block(40, 5, 120, 40, True, RE, 1),
    Block(40, 5, 120, 40, True, RE, 1),
    Block(40, 3, 240, 80, False, HS, 2),
    Block(80, 3, 200, 80, False, HS, 1),
    Block(80, 3, 184, 80, False, HS, 1),
    Block(80, 3, 184, 80, False, HS, 1),
    Block(80, 3, 480, 112, True, HS, 1),
    Block(112, 3, 672, 112, True, HS, 1),
    Block(112, 5, 672, 160, True, HS, 2),
    Block(160, 5, 960, 160, True, HS, 1),
    Block(160, 5, 960, 160, True, HS, 1),
)

SMALL = (
    Block(16, 3, 16, 16, True, RE, 2),
    Block(16, 3, 72, 24, False, RE, 2),
    Block(24, 3, 88, 24, False, RE, 1),
    Block(24, 5, 96, 40, True, HS, 2),
    Block(40, 5, 240, 40, True, HS, 1),
    Block(40, 5, 240, 40, True, HS, 1),
    Block(40, 5, 120, 48, True, HS, 1),
    Block(48, 5, 144, 48, True, HS, 1),
    Block(48, 5, 288, 96, True, HS, 2),
    Block(96, 5, 576, 96, True, HS, 1),
    Block(96, 5, 576, 96, True, HS, 1),
)


def make_divisible(v: float, divisor: int = 8) -> int:
    """torchvision's _make_divisible: round to a multiple of 8, never more than 10% down."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _conv_bn(g: GraphBuilder, w: RandomWeights, x: str, cout: int, cin_per_group: int, k: int,
             **kw) -> str:
    """torchvision's Conv2dNormActivation with BatchNorm eps 0.001."""
    return g.conv_bn(x, w.conv(cout, cin_per_group, k), w.batch_norm(cout), eps=BN_EPS, **kw)


def _squeeze_excite(g: GraphBuilder, w: RandomWeights, x: str, c: int) -> str:
    squeeze = make_divisible(c // 4)
    s = g.relu(g.conv(g.global_avg_pool(x), w.conv(squeeze, c, 1), w.bias(squeeze)))
    s = g.hard_sigmoid(g.conv(s, w.conv(c, squeeze, 1), w.bias(c)))
    return g.mul(x, s)


def _inverted_residual(g: GraphBuilder, w: RandomWeights, x: str, b: Block) -> str:
    y = x
    if b.expanded != b.cin:
        y = _conv_bn(g, w, y, b.expanded, b.cin, 1, act=b.act)
    y = _conv_bn(g, w, y, b.expanded, 1, b.kernel, stride=b.stride, group=b.expanded, act=b.act)
    if b.se:
        y = _squeeze_excite(g, w, y, b.expanded)
    y = _conv_bn(g, w, y, b.cout, b.expanded, 1)
    return g.add(y, x) if b.stride == 1 and b.cin == b.cout else y


def build(w: RandomWeights, variant: str, num_classes: int = 1000) -> GraphBuilder:
    """variant "large" or "small"."""
    blocks, last_channel = {"large": (LARGE, 1280), "small": (SMALL, 1024)}[variant]
    g = GraphBuilder(f"mobilenet_v3_{variant}")
    x = g.input("input", ["N", 3, 224, 224])
    x = _conv_bn(g, w, x, 16, 3, 3, stride=2, act=HS)
    for b in blocks:
        x = _inverted_residual(g, w, x, b)
    lastconv = 6 * blocks[-1].cout
    x = _conv_bn(g, w, x, lastconv, blocks[-1].cout, 1, act=HS)
    x = g.flatten(g.global_avg_pool(x))
    x = g.hard_swish(g.gemm(x, *w.linear(last_channel, lastconv)))
    g.output(g.gemm(x, *w.linear(num_classes, last_channel)), "logits", ["N", num_classes])
    return g
