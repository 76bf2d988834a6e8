"""Int8 QDQ networks from float ones, with onnxruntime's static quantiser: weights int8 per
output channel, activations calibrated on sample inputs. Tessera's compiler marks the convs of
such a network for the engine's integer kernels (compiler/passes/int8_convs.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx


def quantize_qdq(model: onnx.ModelProto, calibration: list[np.ndarray], activations: str = "uint8") -> onnx.ModelProto:
    """``model`` quantised: QDQ format, int8 weights per output channel, activations uint8 with a
    zero point (onnxruntime's default) or symmetric int8 (``activations="int8"``), their ranges
    the min and max seen over ``calibration`` (batches for the model's first input). BatchNorm is
    folded into the convs first."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    name = model.graph.input[0].name

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{name: x} for x in calibration])

        def get_next(self):
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as tmp:
        source, folded, target = (Path(tmp) / f"{n}.onnx" for n in ("float", "folded", "int8"))
        onnx.save(model, source)
        # onnxruntime's pre-processing folds BatchNorm into the convs, as exporters of real
        # int8 networks do, so that each conv's output is quantised once, not before and after.
        quant_pre_process(str(source), str(folded), skip_symbolic_shape=True)
        quantize_static(folded, target, Batches(), quant_format=QuantFormat.QDQ, per_channel=True,
                        weight_type=QuantType.QInt8,
                        activation_type=QuantType.QUInt8 if activations == "uint8" else QuantType.QInt8,
                        extra_options={"ActivationSymmetric": activations == "int8"})
        return onnx.load(target)
