"""A small builder for ONNX graphs (opset 17) from numpy weights.

The bundled models and the benchmark stand-ins are written as plain Python that calls these
methods layer by layer; every method returns the name of the tensor it produced.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class GraphBuilder:
    def __init__(self, name: str):
        self.name = name
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._counter = 0

    # -- naming -------------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        self._counter += 1
        return f"{hint}_{self._counter}"

    def const(self, array: np.ndarray, hint: str = "const") -> str:
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attrs) -> str:
        out = self.fresh(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    # -- graph boundary -------------------------------------------------------------------
    def input(self, name: str, shape: list[int | str]) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
        return name

    def output(self, tensor: str, name: str, shape: list[int | str]) -> str:
        self.nodes.append(helper.make_node("Identity", [tensor], [name], name=name))
        self.outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
        return name

    # -- layers -------------------------------------------------------------------------
    def conv(self, x: str, weight: np.ndarray, bias: np.ndarray | None = None, *, stride: int = 1,
             pads: list[int] | None = None, group: int = 1, dilation: int = 1) -> str:
        k = weight.shape[2:]
        if pads is None:  # symmetric "same" padding for odd kernels at stride 1
            pads = [(k[0] - 1) // 2 * dilation, (k[1] - 1) // 2 * dilation] * 2
        inputs = [x, self.const(weight.astype(np.float32), "w")]
        if bias is not None:
            inputs.append(self.const(bias.astype(np.float32), "b"))
        return self.op("Conv", inputs, "conv", kernel_shape=list(k), strides=[stride, stride],
                       pads=pads, group=group, dilations=[dilation, dilation])

    def batch_norm(self, x: str, gamma, beta, mean, var, eps: float = 1e-5) -> str:
        ins = [x] + [self.const(np.asarray(a, np.float32), n)
                     for a, n in ((gamma, "bn_g"), (beta, "bn_b"), (mean, "bn_m"), (var, "bn_v"))]
        return self.op("BatchNormalization", ins, "bn", epsilon=eps)

    def instance_norm(self, x: str, gamma, beta, eps: float = 1e-5) -> str:
        return self.op("InstanceNormalization",
                       [x, self.const(np.asarray(gamma, np.float32), "in_g"),
                        self.const(np.asarray(beta, np.float32), "in_b")], "inorm", epsilon=eps)

    def relu(self, x: str) -> str:
        return self.op("Relu", [x])

    def clip(self, x: str, lo: float, hi: float) -> str:
        return self.op("Clip", [x, self.const(np.float32(lo), "lo"), self.const(np.float32(hi), "hi")])

    def relu6(self, x: str) -> str:
        return self.clip(x, 0.0, 6.0)

    def sigmoid(self, x: str) -> str:
        return self.op("Sigmoid", [x])

    def hard_sigmoid(self, x: str) -> str:
        # PyTorch's hardsigmoid: relu6(x + 3) / 6
        return self.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)

    def hard_swish(self, x: str) -> str:
        return self.op("HardSwish", [x])

    def add(self, a: str, b: str) -> str:
        return self.op("Add", [a, b])

    def mul(self, a: str, b: str) -> str:
        return self.op("Mul", [a, b])

    def global_avg_pool(self, x: str) -> str:
        return self.op("GlobalAveragePool", [x], "gap")

    def flatten(self, x: str) -> str:
        return self.op("Flatten", [x], axis=1)

    def gemm(self, x: str, weight: np.ndarray, bias: np.ndarray | None) -> str:
        """y = x @ weight.T + bias, with weight in PyTorch's (out, in) layout."""
        ins = [x, self.const(weight.astype(np.float32), "fc_w")]
        if bias is not None:
            ins.append(self.const(bias.astype(np.float32), "fc_b"))
        return self.op("Gemm", ins, "fc", transB=1)

    def pad(self, x: str, pads: list[int], mode: str = "constant") -> str:
        return self.op("Pad", [x, self.const(np.asarray(pads, np.int64), "pads")], "pad", mode=mode)

    def max_pool(self, x: str, kernel: int, stride: int, pad: int = 0) -> str:
        return self.op("MaxPool", [x], "maxpool", kernel_shape=[kernel, kernel],
                       strides=[stride, stride], pads=[pad] * 4)

    def softmax(self, x: str, axis: int = -1) -> str:
        return self.op("Softmax", [x], axis=axis)

    def resize_nearest(self, x: str, scale: int) -> str:
        """PyTorch's F.interpolate(x, scale_factor=scale, mode="nearest") on an NCHW tensor."""
        scales = self.const(np.asarray([1, 1, scale, scale], np.float32), "scales")
        return self.op("Resize", [x, "", scales], "upsample", mode="nearest",
                       coordinate_transformation_mode="asymmetric", nearest_mode="floor")

    def conv_bn(self, x: str, weight: np.ndarray, bn: tuple, *, stride: int = 1, group: int = 1,
                act: str | None = None, eps: float = 1e-5) -> str:
        """Bias-free conv, BatchNorm (bn = gamma, beta, mean, var), then "relu" / "hard_swish"."""
        y = self.batch_norm(self.conv(x, weight, stride=stride, group=group), *bn, eps=eps)
        activations = {None: lambda t: t, "relu": self.relu, "hard_swish": self.hard_swish}
        return activations[act](y)

    # -- result -------------------------------------------------------------------------
    def model(self, doc: str = "") -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="tessera", doc_string=doc)
        model.ir_version = 8  # readable by onnxruntime 1.14+ and onnxruntime-web
        onnx.checker.check_model(model)
        return model

    def param_count(self) -> int:
        return int(sum(np.prod(t.dims) for t in self.initializers
                       if t.data_type == TensorProto.FLOAT and len(t.dims) > 0))

    # Inputs that a framework would train (PyTorch's nn.Parameter); everything else an initializer
    # can hold (BatchNorm running statistics, Resize scales, Pad amounts, Clip bounds) is not.
    _LEARNABLE_INPUTS = {"Conv": (1, 2), "Gemm": (1, 2), "BatchNormalization": (1, 2),
                         "InstanceNormalization": (1, 2)}

    def learnable_param_count(self) -> int:
        """Parameter count as torch's sum(p.numel() for p in model.parameters()) reports it."""
        sizes = {t.name: int(np.prod(t.dims)) for t in self.initializers}
        learnable = {node.input[i] for node in self.nodes
                     for i in self._LEARNABLE_INPUTS.get(node.op_type, ()) if i < len(node.input)}
        return sum(sizes[name] for name in learnable if name in sizes)
