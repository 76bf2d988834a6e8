"""ResNet50 exactly as torchvision.models.resnet50 builds it (v1.5: stride on the 3x3 conv).

25,557,032 learnable parameters; the graph takes ["N", 3, 224, 224] and returns ImageNet logits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .graph import GraphBuilder

if TYPE_CHECKING:
    from .bench_models import RandomWeights

LAYERS = (3, 4, 6, 3)  # bottleneck blocks per stage
EXPANSION = 4


def _bottleneck(g: GraphBuilder, w: RandomWeights, x: str, cin: int, width: int, stride: int) -> str:
    cout = width * EXPANSION
    y = g.conv_bn(x, w.conv(width, cin, 1), w.batch_norm(width), act="relu")
    y = g.conv_bn(y, w.conv(width, width, 3), w.batch_norm(width), stride=stride, act="relu")
    y = g.conv_bn(y, w.conv(cout, width, 1), w.residual_batch_norm(cout))
    if stride != 1 or cin != cout:
        x = g.conv_bn(x, w.conv(cout, cin, 1), w.batch_norm(cout), stride=stride)
    return g.relu(g.add(y, x))


def build(w: RandomWeights, num_classes: int = 1000) -> GraphBuilder:
    g = GraphBuilder("resnet50")
    x = g.input("input", ["N", 3, 224, 224])
    x = g.conv_bn(x, w.conv(64, 3, 7), w.batch_norm(64), stride=2, act="relu")
    x = g.max_pool(x, 3, 2, pad=1)
    cin = 64
    for stage, blocks in enumerate(LAYERS):
        width = 64 << stage
        for i in range(blocks):
            x = _bottleneck(g, w, x, cin, width, stride=2 if stage > 0 and i == 0 else 1)
            cin = width * EXPANSION
    x = g.flatten(g.global_avg_pool(x))
    g.output(g.gemm(x, *w.linear(num_classes, cin)), "logits", ["N", num_classes])
    return g
