"""Which ONNX ops the compiler accepts, in the default domain, opsets 11 to 21.

LOWERED ops become package ops (see passes/lower.py). FOLD_ONLY ops are accepted only where
constant folding removes them (shape arithmetic such as Shape -> Gather -> Concat feeding a
Reshape); one left over after folding depends on a runtime value and is an error.
"""

MIN_OPSET, MAX_OPSET = 11, 21

LOWERED = frozenset({
    "Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization", "InstanceNormalization",
    "Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "LeakyRelu", "Sqrt",
    "Reciprocal", "Add", "Sub", "Mul", "Div", "Pow", "MaxPool", "AveragePool",
    "GlobalAveragePool", "GlobalMaxPool", "Pad", "Resize", "Upsample", "Concat", "Reshape",
    "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Slice", "Softmax", "ReduceMean",
    "ReduceSum", "Identity", "Constant", "QuantizeLinear", "DequantizeLinear", "Cast",
    "Exp", "Log", "Neg", "Abs", "Erf", "Gelu", "Elu", "Selu", "Celu", "Softplus", "Softsign",
    "Mish", "PRelu", "Sum", "Mean", "Max", "Min", "Dropout", "Split", "Gather", "Expand",
    "ReduceMax", "ReduceMin", "LayerNormalization", "LRN", "LogSoftmax", "DepthToSpace",
    "SpaceToDepth", "Einsum", "Sin", "Cos", "ReduceL1", "ReduceL2", "ReduceSumSquare", "Tile",
})

# Shape arithmetic and the comparisons and selections exporters write around it (torch's
# expand(n, -1, -1) is Where(Equal(shape, -1), 1, shape); its integer division is Div and Mod),
# and what builds constant tables from sizes: sinusoidal position embeddings (a CumSum of ones
# over the map), relative-position indices (OneHot, Trilu masks).
FOLD_ONLY = frozenset({"Shape", "ConstantOfShape", "Range", "Size", "Mod", "Equal", "Where", "Not", "And", "Or",
                       "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Floor", "Ceil", "ScatterND",
                       "CumSum", "OneHot", "Trilu", "ReduceProd", "Sign"})

SUPPORTED = LOWERED | FOLD_ONLY
