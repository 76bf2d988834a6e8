"""Johnson et al.'s fast neural style TransformerNet, as in pytorch/examples fast_neural_style.

1,679,235 learnable parameters. Every conv is reflection-padded by kernel // 2 and has a bias;
upsampling is nearest x2 followed by a padded conv (not a transposed conv). The graph takes any
["N", 3, H, W]; like the original, the output is H x W only when H and W are multiples of 4
(two stride-2 convs round up, two x2 upsamples double), so its spatial dims get their own names.
The original feeds 0..255 pixels and returns unclamped 0..255-ish values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .graph import GraphBuilder

if TYPE_CHECKING:
    from .bench_models import RandomWeights

RESIDUAL_BLOCKS = 5


def _conv(g: GraphBuilder, w: RandomWeights, x: str, cin: int, cout: int, k: int,
          stride: int = 1, upsample: int = 1) -> str:
    """ConvLayer / UpsampleConvLayer: [nearest upsample], reflection pad, conv with bias."""
    if upsample > 1:
        x = g.resize_nearest(x, upsample)
    p = k // 2
    x = g.pad(x, [0, 0, p, p, 0, 0, p, p], mode="reflect")
    return g.conv(x, w.conv(cout, cin, k), w.bias(cout), stride=stride, pads=[0, 0, 0, 0])


def _conv_in_relu(g: GraphBuilder, w: RandomWeights, x: str, cin: int, cout: int, k: int,
                  **kw) -> str:
    return g.relu(g.instance_norm(_conv(g, w, x, cin, cout, k, **kw), *w.affine(cout)))


def _residual(g: GraphBuilder, w: RandomWeights, x: str, c: int) -> str:
    y = _conv_in_relu(g, w, x, c, c, 3)
    y = g.instance_norm(_conv(g, w, y, c, c, 3), *w.affine(c))
    return g.add(y, x)


def build(w: RandomWeights) -> GraphBuilder:
    g = GraphBuilder("transformer_net")
    x = g.input("input", ["N", 3, "H", "W"])
    x = _conv_in_relu(g, w, x, 3, 32, 9)
    x = _conv_in_relu(g, w, x, 32, 64, 3, stride=2)
    x = _conv_in_relu(g, w, x, 64, 128, 3, stride=2)
    for _ in range(RESIDUAL_BLOCKS):
        x = _residual(g, w, x, 128)
    x = _conv_in_relu(g, w, x, 128, 64, 3, upsample=2)
    x = _conv_in_relu(g, w, x, 64, 32, 3, upsample=2)
    g.output(_conv(g, w, x, 32, 3, 9), "output", ["N", 3, "out_H", "out_W"])
    return g
