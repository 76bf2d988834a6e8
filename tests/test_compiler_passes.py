"""Each compiler pass on a tiny hand-built graph, the compile errors users see, and
determinism. A test here fails when its pass stops doing its one job."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tessera.compiler import compile_to_folder
from tessera.compiler.errors import CompileError
from tessera.compiler.numpy_executor import run_package
from tessera.compiler.ir import Graph, Node, Value
from tessera.compiler.memory_plan import plan_memory
from tessera.compiler.package import PackageMeta
from tessera.compiler.passes.dead_nodes import remove_dead_nodes
from tessera.compiler.passes.fold_batchnorm import fold_batchnorm
from tessera.compiler.passes.fold_constants import fold_constants
from tessera.compiler.passes.fold_qdq import fold_qdq
from tessera.compiler.passes.fuse import fuse_activations, fuse_residual_add
from tessera.compiler.passes.fuse_instance_norm import fuse_instance_norm
from tessera.compiler.passes.fuse_se import fuse_squeeze_excite
from tessera.compiler.passes.fuse_weighted_sum import fuse_weighted_sum
from tessera.compiler.passes.lower import lower

F = np.float32


def test_constant_folding_evaluates_shape_arithmetic():
    g = Graph("g", [Node("Shape", ["x"], ["s"], {}, "shape"),
                    Node("Mul", ["s", "two"], ["s2"], {}, "mul"),
                    Node("Reshape", ["x", "s2"], ["y"], {}, "reshape")],
              ["x"], ["y"], {"x": Value("x", (1, 2))}, {"two": np.array([1, 1], np.int64)})
    out = fold_constants(g)
    assert [n.op for n in out.nodes] == ["Reshape"]
    assert out.constants["s2"].tolist() == [1, 2]


def test_batchnorm_folds_into_the_conv_and_disappears():
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((2, 1, 1, 1)).astype(F), np.array([0.5, -1], F)
    gamma, beta, mean, var = (np.array(v, F) for v in ([2, 3], [1, 0], [0.5, 1], [4, 1]))
    g = Graph("g", [Node("Conv", ["x", "w", "b"], ["c"], {}, "conv"),
                    Node("BatchNormalization", ["c", "g", "be", "m", "v"], ["y"], {"epsilon": 0.0}, "bn")],
              ["x"], ["y"], {}, {"w": w, "b": b, "g": gamma, "be": beta, "m": mean, "v": var})
    out = fold_batchnorm(g)
    assert [n.op for n in out.nodes] == ["Conv"] and out.nodes[0].outputs == ["y"]
    scale = gamma / np.sqrt(var)
    conv = out.nodes[0]
    np.testing.assert_allclose(out.constants[conv.inputs[1]].reshape(-1), w.reshape(-1) * scale, rtol=1e-6)
    np.testing.assert_allclose(out.constants[conv.inputs[2]], (b - mean) * scale + beta, rtol=1e-6)


def test_dead_nodes_and_noop_views_are_removed():
    values = {n: Value(n, (1, 4)) for n in ("x", "v", "y", "unused")}
    g = Graph("g", [Node("reshape", ["x"], ["v"], {"shape": [1, 4]}, "view"),
                    Node("unary", ["v"], ["y"], {"fn": "relu", "params": {}}, "relu"),
                    Node("unary", ["x"], ["unused"], {"fn": "tanh", "params": {}}, "dead")],
              ["x"], ["y"], values)
    out = remove_dead_nodes(g)
    assert [n.name for n in out.nodes] == ["relu"] and out.nodes[0].inputs == ["x"]


def test_memory_plan_reuses_buffers_by_liveness():
    names = ["x", "a", "b", "c", "y"]
    values = {n: Value(n, (1, 1024)) for n in names}
    chain = [Node("unary", [i], [o], {"fn": "relu", "params": {}}, o) for i, o in zip(names, names[1:])]
    plan = plan_memory(Graph("g", chain, ["x"], ["y"], values), {})
    assert plan.buffer_of["a"] != plan.buffer_of["b"] and plan.buffer_of["a"] == plan.buffer_of["c"]
    assert plan.peak_bytes == 4 * 4096 and plan.naive_bytes == 5 * 4096


def _save(tmp_path, nodes, inputs, outputs, inits=(), opset=17, name="m.onnx"):
    graph = helper.make_graph(nodes, "m", inputs, outputs, list(inits))
    path = tmp_path / name
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)
    return path


def _x(shape=(1, 3, 8, 8), name="x"):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def test_every_unsupported_node_is_listed_and_no_package_is_left(tmp_path):
    path = _save(tmp_path, [helper.make_node("Round", ["x"], ["e"], name="round1"),
                            helper.make_node("Hardmax", ["e"], ["y"], name="hardmax")],
                 [_x((2, 2))], [_x((2, 2), "y")])
    out = tmp_path / "pkg"
    with pytest.raises(CompileError) as err:
        compile_to_folder(path, out, PackageMeta("m"))
    text = str(err.value)
    assert "node 'round1' (Round, opset 17): unsupported op" in text
    assert "node 'hardmax' (Hardmax, opset 17): unsupported op" in text
    assert not out.exists() or not any(out.iterdir())


def test_missing_external_data_malformed_file_and_unbindable_dim(tmp_path):
    w = numpy_helper.from_array(np.ones((3, 3, 1, 1), F), "w")
    path = _save(tmp_path, [helper.make_node("Conv", ["x", "w"], ["y"])], [_x()], [_x(name="y")], [w])
    model = onnx.load(path)
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
              location="weights.data", size_threshold=0)
    (tmp_path / "weights.data").unlink()
    with pytest.raises(CompileError, match="external data file 'weights.data' is missing"):
        compile_to_folder(path, tmp_path / "a", PackageMeta("m"))

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(CompileError, match="not a valid ONNX file"):
        compile_to_folder(bad, tmp_path / "b", PackageMeta("m"))

    dynamic = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, None, 8])
    path = _save(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], [dynamic], [_x(name="y")], name="d.onnx")
    with pytest.raises(CompileError, match="dimension 2 is dynamic without a name"):
        compile_to_folder(path, tmp_path / "c", PackageMeta("m"))


def test_compiling_twice_gives_byte_identical_files(tmp_path):
    rng = np.random.default_rng(1)
    w = numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(F), "w")
    path = _save(tmp_path, [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                            helper.make_node("Relu", ["c"], ["y"])], [_x()], [_x((1, 8, 8, 8), "y")], [w])
    for out in ("one", "two"):
        (tmp_path / out).mkdir()
        compile_to_folder(path, tmp_path / out, PackageMeta("m"))
    files = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "two").iterdir())
    for name in files:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_qdq_pair_becomes_one_fake_quant_with_movement_ops_on_floats():
    consts = {"s": np.array(0.5, F), "z": np.array(-3, np.int8), "shape": np.array([1, 4], np.int64)}
    g = Graph("g", [Node("QuantizeLinear", ["x", "s", "z"], ["q"], {}, "quant"),
                    Node("Reshape", ["q", "shape"], ["qr"], {}, "move"),
                    Node("DequantizeLinear", ["qr", "s", "z"], ["y"], {}, "dequant")],
              ["x"], ["y"], {"x": Value("x", (1, 2, 2))}, consts)
    out, problems = fold_qdq(g)
    assert not problems
    assert [n.op for n in out.nodes] == ["FakeQuant", "Reshape", "Identity"]
    assert out.nodes[0].attrs == {"scale": 0.5, "zero_point": -3, "qmin": -128, "qmax": 127}
    assert out.nodes[2].inputs == ["qr"] and out.nodes[2].outputs == ["y"]

    g.constants["s2"] = np.array(0.25, F)
    g.nodes[2] = Node("DequantizeLinear", ["qr", "s2", "z"], ["y"], {}, "dequant")
    _, problems = fold_qdq(g)
    assert [p.node for p in problems] == ["quant", "dequant"]  # a mismatch is an error, not a guess


def _conv(name, inputs, out, kernel=(1, 1), activations=()):
    return Node("conv2d", inputs, [out], {"kernel": list(kernel), "stride": [1, 1], "pads": [0] * 4,
                                          "dilation": [1, 1], "groups": 1, "residual": False,
                                          "activations": list(activations)}, name,
                {"weight": f"{name}/weight", "bias": f"{name}/bias"})


def _unary(fn, x, out):
    return Node("unary", [x], [out], {"fn": fn, "params": {}}, fn)


def _binary(fn, a, b, out):
    return Node("binary", [a, b], [out], {"fn": fn, "activations": [], "constant_operand": None}, fn)


def _images(names, c=8, hw=4):
    return {n: Value(n, (1, c, hw, hw), (0, 2, 3, 1)) for n in names}


def test_conv_bias_residual_add_and_activation_fuse_into_one_conv():
    g = Graph("g", [_conv("conv", ["x"], "c", (3, 3)), _binary("add", "c", "r", "s"),
                    _unary("relu", "s", "y")],
              ["x", "r"], ["y"], _images(["x", "r", "c", "s", "y"]))
    out = fuse_activations(fuse_residual_add(g))
    [conv] = out.nodes
    assert conv.op == "conv2d" and conv.inputs == ["x", "r"] and conv.outputs == ["y"]
    assert conv.attrs["residual"] and conv.attrs["activations"] == [{"fn": "relu", "params": {}}]

    g.outputs = ["y", "c"]  # the conv's own output is needed: nothing may fuse into it
    assert [n.op for n in fuse_activations(fuse_residual_add(g)).nodes] == ["conv2d", "binary"]


def test_squeeze_excite_block_becomes_one_op_reading_gemm_layout_weights():
    values = _images(["x", "y"]) | {n: Value(n, (1, c, 1, 1), (0, 2, 3, 1))
                                    for n, c in (("p", 8), ("r", 2), ("g", 8))}
    g = Graph("g", [Node("global_pool", ["x"], ["p"], {"kind": "avg"}, "pool"),
                    _conv("reduce", ["p"], "r", activations=[{"fn": "relu", "params": {}}]),
                    _conv("expand", ["r"], "g", activations=[{"fn": "hard_sigmoid", "params": {}}]),
                    _binary("mul", "x", "g", "y")],
              ["x"], ["y"], values, layouts={f"{n}/weight": "khkwci_co4" for n in ("reduce", "expand")})
    out = fuse_squeeze_excite(g)
    [se] = out.nodes
    assert se.op == "squeeze_excite" and se.inputs == ["x"] and se.outputs == ["y"]
    assert se.attrs["squeeze_channels"] == 2
    assert se.attrs["expand_activations"] == [{"fn": "hard_sigmoid", "params": {}}]
    assert out.layouts == {"reduce/weight": "k_n4", "expand/weight": "k_n4"}


def test_lowering_lays_images_out_nhwc_with_channels_padded_to_four():
    rng = np.random.default_rng(2)
    w, b = rng.standard_normal((6, 3, 3, 3)).astype(F), np.arange(6, dtype=F)
    g = Graph("g", [Node("Conv", ["x", "w", "b"], ["c"], {"pads": [1, 1, 1, 1]}, "conv"),
                    Node("Flatten", ["c"], ["y"], {"axis": 1}, "flat")],
              ["x"], ["y"], {"x": Value("x", (1, 3, 5, 5))}, {"w": w, "b": b})
    out, problems = lower(g)
    assert not problems
    conv = next(n for n in out.nodes if n.op == "conv2d")
    assert out.values["c"].perm == (0, 2, 3, 1) and out.values["c"].physical_shape == (1, 5, 5, 6)
    weight, bias = out.constants[conv.weights["weight"]], out.constants[conv.weights["bias"]]
    assert weight.shape == (27, 8) and not weight[:, 6:].any()
    np.testing.assert_array_equal(weight[(1 * 3 + 2) * 3 + 1, :6], w[:, 1, 1, 2])  # ky=1 kx=2 ci=1
    assert bias.tolist() == [0, 1, 2, 3, 4, 5, 0, 0]
    # Flatten reads NCHW order: the NHWC conv output is transposed back first
    assert [n.op for n in out.nodes] == ["conv2d", "transpose", "reshape"]


def _with_constant(fn, x, out, value, side=1):
    node = _binary(fn, x, x, out)
    node.inputs, node.attrs["constant_operand"] = [x], side
    node.weights = {"operand": f"{out}/operand"}
    return node, {f"{out}/operand": np.array(value, F).reshape(1, 1, 1, -1)}


def _written_out_conditional_norm():
    """Lowered (x - mean) * (1 / sqrt(var + eps)) * gamma + beta, then relu, over x [1,4,3,3]
    NHWC; gamma and beta are run-time [4] tensors reaching the norm as [1,4,1,1] views."""
    nodes, consts = [], {}
    for node, c in (_with_constant("pow", "d", "sq", 2.0), _with_constant("add", "var", "ve", 1e-5),
                    _with_constant("div", "std", "inv", 1.0, side=0)):
        consts |= c
        nodes.append(node)
    pow_, add, div = nodes
    mean = lambda x, out: Node("reduce", [x], [out], {"fn": "mean", "axes": [1, 2], "keepdims": True}, out)  # noqa: E731
    view = lambda x, out, shape: Node("reshape", [x], [out], {"shape": shape}, out)  # noqa: E731
    nodes = [mean("x", "m"), _binary("sub", "x", "m", "d"), pow_, mean("sq", "var"), add,
             _unary("sqrt", "ve", "std"), div, _binary("mul", "d", "inv", "n"),
             view("gamma", "g4", [1, 4, 1, 1]), view("g4", "gv", [1, 1, 1, 4]), _binary("mul", "n", "gv", "scaled"),
             view("beta", "b4", [1, 4, 1, 1]), view("b4", "bv", [1, 1, 1, 4]), _binary("add", "scaled", "bv", "z"),
             _unary("relu", "z", "y")]
    values = _images(["x", "d", "sq", "n", "scaled", "z", "y"], c=4, hw=3)
    values |= {n: Value(n, (1, 4, 1, 1), (0, 2, 3, 1)) for n in ("m", "var", "ve", "std", "inv", "gv", "bv")}
    values |= {n: Value(n, (4,)) for n in ("gamma", "beta")} | {n: Value(n, (1, 4, 1, 1)) for n in ("g4", "b4")}
    return Graph("g", nodes, ["x", "gamma", "beta"], ["y"], values, consts)


def test_written_out_instance_norm_becomes_one_op_reading_gamma_beta_inputs():
    out = remove_dead_nodes(fuse_activations(fuse_instance_norm(_written_out_conditional_norm())))
    [norm] = out.nodes
    assert norm.op == "instance_norm" and norm.inputs == ["x", "gamma", "beta"] and norm.outputs == ["y"]
    assert norm.attrs == {"epsilon": float(F(1e-5)), "activations": [{"fn": "relu", "params": {}}],
                          "affine_inputs": ["scale", "bias"]}
    assert norm.weights == {} and out.constants == {}


def _also_used(name: str) -> Graph:
    g = _written_out_conditional_norm()
    g.nodes.append(_unary("tanh", name, "elsewhere"))
    g.values["elsewhere"] = g.values[name]
    g.outputs = ["y", "elsewhere"]
    return g


@pytest.mark.parametrize("also_used", ["m", "d", "sq", "var", "std", "inv"])
def test_instance_norm_is_not_fused_when_an_intermediate_has_another_user(also_used):
    assert "instance_norm" not in [n.op for n in fuse_instance_norm(_also_used(also_used)).nodes]


def test_a_normalised_tensor_used_elsewhere_keeps_its_scale_and_shift_ops():
    out = fuse_instance_norm(_also_used("n"))
    norm = next(n for n in out.nodes if n.op == "instance_norm")
    assert norm.outputs == ["n"] and "affine_inputs" not in norm.attrs  # the weights-based form
    assert out.constants[norm.weights["scale"]].tolist() == [1, 1, 1, 1]
    assert out.constants[norm.weights["bias"]].tolist() == [0, 0, 0, 0]
    assert [n.name for n in out.nodes if n.op == "binary"] == ["mul", "add"]


def test_style_weighted_sum_becomes_a_gemm_over_the_style_vector():
    table = np.arange(3 * 8, dtype=F).reshape(3, 8)
    g = Graph("g", [Node("reshape", ["s"], ["col"], {"shape": [3, 1]}, "unsqueeze"),
                    Node("binary", ["col"], ["prod"], {"fn": "mul", "activations": [], "constant_operand": 1},
                         "mul", {"operand": "table"}),
                    Node("reduce", ["prod"], ["y"], {"fn": "sum", "axes": [0], "keepdims": False}, "sum")],
              ["s"], ["y"], {"s": Value("s", (3,)), "col": Value("col", (3, 1)), "prod": Value("prod", (3, 8)),
                             "y": Value("y", (8,))}, {"table": table})
    out = remove_dead_nodes(fuse_weighted_sum(g))
    [gemm] = out.nodes
    assert gemm.op == "gemm" and gemm.inputs == ["s"] and gemm.outputs == ["y"]
    assert out.layouts[gemm.weights["weight"]] == "k_n4"
    np.testing.assert_array_equal(out.constants[gemm.weights["weight"]], table)


def test_conditional_instance_norm_package_matches_onnxruntime(tmp_path):
    """Written out in ONNX as exporters write it: scale per channel from a weighted sum of
    style weights ([C] input), bias per image from a MatMul ([N, C] input), d / sqrt form."""
    import onnxruntime as ort

    rng = np.random.default_rng(3)
    init = lambda name, a: numpy_helper.from_array(np.asarray(a), name)  # noqa: E731
    inits = [init("table", rng.standard_normal((3, 4)).astype(F)), init("btable", rng.standard_normal((3, 4)).astype(F)),
             init("ax0", np.array([0], np.int64)), init("ax1", np.array([1], np.int64)),
             init("two", F(2)), init("eps", F(1e-5)), init("s4", np.array([1, 4, 1, 1], np.int64)),
             init("n4", np.array([2, 4, 1, 1], np.int64))]
    make = helper.make_node
    nodes = [make("ReduceMean", ["x"], ["m"], axes=[2, 3]), make("Sub", ["x", "m"], ["d"]),
             make("Pow", ["d", "two"], ["sq"]), make("ReduceMean", ["sq"], ["var"], axes=[2, 3]),
             make("Add", ["var", "eps"], ["ve"]), make("Sqrt", ["ve"], ["std"]), make("Div", ["d", "std"], ["n"]),
             make("Unsqueeze", ["style", "ax1"], ["col"]), make("Mul", ["col", "table"], ["p"]),
             make("ReduceSum", ["p", "ax0"], ["gamma"], keepdims=0), make("Reshape", ["gamma", "s4"], ["g4"]),
             make("MatMul", ["mix", "btable"], ["beta"]), make("Reshape", ["beta", "n4"], ["b4"]),
             make("Mul", ["n", "g4"], ["scaled"]), make("Add", ["scaled", "b4"], ["z"]), make("Relu", ["z"], ["y"])]
    path = _save(tmp_path, nodes, [_x((2, 4, 3, 5)), _x((3,), "style"), _x((2, 3), "mix")],
                 [_x((2, 4, 3, 5), "y")], inits)
    compiled = compile_to_folder(path, tmp_path, PackageMeta("m"))
    assert [op["op"] for op in compiled.manifest["ops"]] == ["gemm", "gemm", "instance_norm"]
    assert compiled.manifest["ops"][-1]["attrs"]["affine_inputs"] == ["scale", "bias"]
    feeds = {"x": rng.standard_normal((2, 4, 3, 5)).astype(F), "style": rng.random(3).astype(F),
             "mix": rng.random((2, 3)).astype(F)}
    [expected] = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)
    got = run_package(tmp_path, feeds)["y"]
    assert np.linalg.norm(got - expected) / np.linalg.norm(expected) <= 1e-5


def _se_then_conv_model(tmp_path, c, cr, co, also_used: bool, hw=(5, 6), residual=True):
    """Squeeze-excite of x (ReLU / HardSigmoid), then a 1×1 projection conv (plus x if
    `residual`); with `also_used` the excited map is also added to the output, so it must be
    written."""
    rng = np.random.default_rng(4)
    init = lambda name, a: numpy_helper.from_array(np.asarray(a, F), name)  # noqa: E731
    inits = [init("w1", rng.standard_normal((cr, c, 1, 1))), init("b1", rng.standard_normal(cr)),
             init("w2", rng.standard_normal((c, cr, 1, 1))), init("b2", rng.standard_normal(c)),
             init("wp", rng.standard_normal((co, c, 1, 1))), init("bp", rng.standard_normal(co))]
    make = helper.make_node
    nodes = [make("GlobalAveragePool", ["x"], ["s"]), make("Conv", ["s", "w1", "b1"], ["r"]), make("Relu", ["r"], ["rr"]),
             make("Conv", ["rr", "w2", "b2"], ["e"]), make("HardSigmoid", ["e"], ["g"], alpha=1 / 6, beta=0.5),
             make("Mul", ["x", "g"], ["excited"]), make("Conv", ["excited", "wp", "bp"], ["p" if residual else "y"])]
    if residual:
        nodes.append(make("Add", ["p", "x"], ["y0" if also_used else "y"]))
    if also_used:
        nodes.append(make("Add", ["y0", "excited"], ["y"]))
    return _save(tmp_path, nodes, [_x((2, c, *hw))], [_x((2, co, *hw), "y")], inits)


def _matches_onnxruntime(tmp_path, path, x):
    """The package's output y (its first) against onnxruntime's."""
    import onnxruntime as ort

    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = run_package(tmp_path, {"x": x})["y"]
    assert np.linalg.norm(got - expected) / np.linalg.norm(expected) <= 1e-5


@pytest.mark.parametrize("also_used", [False, True])
def test_squeeze_excite_gate_fuses_into_the_next_conv_unless_the_scaled_map_is_needed(tmp_path, also_used):
    path = _se_then_conv_model(tmp_path, c=7, cr=3, co=7, also_used=also_used)
    ops = compile_to_folder(path, tmp_path, PackageMeta("m")).manifest["ops"]
    if also_used:   # the fallback: one squeeze_excite op writes the scaled map
        assert [op["op"] for op in ops] == ["squeeze_excite", "conv2d", "binary"]
        assert "input_scale" not in ops[1]["attrs"]
    else:           # the gate [N, C], read by the conv as the scale of its input channels
        gate, conv = ops
        assert gate["op"] == "squeeze_excite_gate" and gate["inputs"] == ["x"]
        assert conv["attrs"]["input_scale"] and conv["attrs"]["residual"]
        assert conv["inputs"] == ["x", "x", gate["outputs"][0]]
    _matches_onnxruntime(tmp_path, path, np.random.default_rng(5).standard_normal((2, 7, 5, 6)).astype(F))


@pytest.mark.parametrize("c, cr, hw", [(256, 132, (3, 4)), (184, 180, (4, 4)), (200, 164, (3, 4)),
                                       (1152, 48, (7, 7)), (3840, 8, (1, 3))])
def test_squeeze_excite_of_any_width_and_map_size_fuses(tmp_path, c, cr, hw):
    """Widths past one workgroup's memory too (3840 + 8: the engine spreads those), and inputs whose W is
    1, 3 or 4, which once passed for channels-last images: kept NCHW, the pool read a transpose
    of x and the block no longer matched."""
    path = _se_then_conv_model(tmp_path, c, cr, 5, also_used=False, hw=hw, residual=False)
    compiled = compile_to_folder(path, tmp_path, PackageMeta("m"))
    assert [op["op"] for op in compiled.manifest["ops"]] == ["squeeze_excite_gate", "conv2d"]
    assert compiled.graph.values["x"].perm == (0, 2, 3, 1)
    _matches_onnxruntime(tmp_path, path, np.random.default_rng(6).standard_normal((2, c, *hw)).astype(F))


def test_an_unfused_gate_broadcast_over_a_map_needs_no_transpose(tmp_path):
    """Squeeze-excite outside the pattern (gate through Flatten/Reshape, so a plain [N,C,1,1],
    multiplied first): the product keeps the map's NHWC layout; the gate's view is free."""
    c, cr, hw = 12, 4, (3, 4)
    rng = np.random.default_rng(7)
    init = lambda name, a: numpy_helper.from_array(np.asarray(a, F), name)  # noqa: E731
    inits = [init("w1", rng.standard_normal((cr, c, 1, 1))), init("b1", rng.standard_normal(cr)),
             init("w2", rng.standard_normal((c, cr, 1, 1))), init("b2", rng.standard_normal(c)),
             init("wp", rng.standard_normal((5, c, 1, 1))), init("bp", rng.standard_normal(5)),
             numpy_helper.from_array(np.array([2, c, 1, 1], np.int64), "gate_shape")]
    make = helper.make_node
    nodes = [make("GlobalAveragePool", ["x"], ["s"]), make("Conv", ["s", "w1", "b1"], ["r"]), make("Relu", ["r"], ["rr"]),
             make("Conv", ["rr", "w2", "b2"], ["e"]), make("Flatten", ["e"], ["f"]), make("Sigmoid", ["f"], ["sg"]),
             make("Reshape", ["sg", "gate_shape"], ["g"]), make("Mul", ["g", "x"], ["excited"]),
             make("Conv", ["excited", "wp", "bp"], ["y"])]
    path = _save(tmp_path, nodes, [_x((2, c, *hw))], [_x((2, 5, *hw), "y")], inits)
    ops = [op["op"] for op in compile_to_folder(path, tmp_path, PackageMeta("m")).manifest["ops"]]
    assert "transpose" not in ops and ops.count("binary") == 1, ops
    _matches_onnxruntime(tmp_path, path, rng.standard_normal((2, c, *hw)).astype(F))


def test_an_input_is_channels_last_only_when_read_through_the_transpose_to_nchw():
    image = Graph("g", [Node("Sub", ["x", "mean"], ["xs"], {}, "sub"),
                        Node("Transpose", ["xs"], ["nchw"], {"perm": [0, 3, 1, 2]}, "to_nchw"),
                        Node("Relu", ["nchw"], ["y"], {}, "relu")],
                  ["x"], ["y"], {"x": Value("x", (1, 8, 8, 3))}, {"mean": np.ones(3, F)})
    feature_map = Graph("g", [Node("Relu", ["x"], ["y"], {}, "relu")], ["x"], ["y"], {"x": Value("x", (1, 8, 3, 4))})
    # An int8 model's image: padded (per-axis pads follow the axes) and fake-quantised first.
    quantized = Graph("g", [Node("Pad", ["x", "pads"], ["xp"], {"mode": "reflect"}, "pad"),
                            Node("FakeQuant", ["xp"], ["xq"], {"scale": 0.5, "zero_point": 0, "qmin": -128, "qmax": 127}, "fq"),
                            Node("Transpose", ["xq"], ["nchw"], {"perm": [0, 3, 1, 2]}, "to_nchw"),
                            Node("Relu", ["nchw"], ["y"], {}, "relu")],
                      ["x"], ["y"], {"x": Value("x", (1, 8, 8, 3))},
                      {"pads": np.array([0, 1, 1, 0, 0, 1, 1, 0], np.int64)})
    assert lower(image)[0].values["x"].perm == (0, 1, 2, 3)
    assert lower(quantized)[0].values["x"].perm == (0, 1, 2, 3)
    # A style vector [N, C, 1, 1] is the same memory in both orders: kept plain, so that the
    # engine (which transposes only a model's first input) takes it as a second input.
    vector = Graph("g", [Node("Relu", ["x"], ["y"], {}, "relu")], ["x"], ["y"], {"x": Value("x", (1, 100, 1, 1))})
    assert lower(vector)[0].values["x"].perm == (0, 1, 2, 3)
    assert "transpose" not in {n.op for n in lower(quantized)[0].nodes}
    assert lower(feature_map)[0].values["x"].perm == (0, 2, 3, 1)


def test_a_broadcast_add_does_not_become_a_residual():
    """A 1×1 conv of a [N, C, 1, 1] vector added to a map: the conv's epilogue would add only
    where its own output is, so the add stays (an elementwise residual needs equal shapes)."""
    values = _images(["map", "y"]) | {n: Value(n, (1, 8, 1, 1), (0, 2, 3, 1)) for n in ("vec", "c")}
    g = Graph("g", [_conv("conv", ["vec"], "c"), _binary("add", "map", "c", "y")], ["map", "vec"], ["y"], values)
    assert [n.op for n in fuse_residual_add(g).nodes] == ["conv2d", "binary"]


def _opset7_classifier(tmp_path):
    """A model zoo-era graph at opset 7: Upsample with a scales attribute, BatchNormalization
    and Dropout of that opset, Softmax over the flattened logits."""
    rng = np.random.default_rng(7)
    init = lambda name, a: numpy_helper.from_array(np.asarray(a, F), name)  # noqa: E731
    inits = [init("w", rng.standard_normal((4, 3, 3, 3))), init("b", rng.standard_normal(4)),
             init("s", rng.random(4) + 0.5), init("bb", rng.standard_normal(4)), init("m", rng.standard_normal(4)),
             init("v", rng.random(4) + 0.5), init("gw", rng.standard_normal((5, 4 * 7 * 9)) / 12),
             init("gb", rng.standard_normal(5))]
    make = helper.make_node
    nodes = [make("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             make("BatchNormalization", ["c", "s", "bb", "m", "v"], ["bn"]), make("Relu", ["bn"], ["r"]),
             make("Upsample", ["r"], ["u"], mode="nearest", scales=[1.0, 1.0, 2.0, 2.0]),
             make("MaxPool", ["u"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             make("Dropout", ["p"], ["d"], ratio=0.3), make("Flatten", ["d"], ["f"]),
             make("Gemm", ["f", "gw", "gb"], ["g"], transB=1), make("Softmax", ["g"], ["y"])]
    return _save(tmp_path, nodes, [_x((2, 3, 7, 9))], [_x((2, 5), "y")], inits, opset=7)


def test_an_opset_7_model_is_converted_up_and_matches_onnxruntime(tmp_path):
    path = _opset7_classifier(tmp_path)
    ops = [op["op"] for op in compile_to_folder(path, tmp_path, PackageMeta("m")).manifest["ops"]]
    assert "resize" in ops and "softmax" in ops
    x = np.random.default_rng(8).standard_normal((2, 3, 7, 9)).astype(F)
    _matches_onnxruntime(tmp_path, path, x)


def test_an_opset_that_cannot_be_converted_is_refused_saying_why(tmp_path):
    scale = numpy_helper.from_array(np.ones(8, F), "s")
    path = _save(tmp_path, [helper.make_node("RMSNormalization", ["x", "s"], ["y"], name="rms")],
                 [_x()], [_x(name="y")], [scale], opset=23)
    with pytest.raises(CompileError) as err:
        compile_to_folder(path, tmp_path / "out", PackageMeta("m"))
    text = str(err.value)
    assert "opset 23; supported are opsets 11 to 21, and converting it to 21 failed" in text
    assert "No Previous Version of RMSNormalization exists" in text


@pytest.mark.parametrize("shape, axis, stats, fused", [
    ((2, 7, 12), -1, False, True),        # a transformer's tokens
    ((2, 5, 4, 6), 1, False, True),       # C, H, W of an image: all of NHWC's inner axes
    ((2, 5, 4, 6), 3, False, False),      # W alone: not innermost in NHWC memory
    ((2, 7, 12), -1, True, False),        # Mean and InvStdDev asked for
])
def test_layer_normalization_is_one_op_where_its_rows_are_contiguous(tmp_path, shape, axis, stats, fused):
    rng = np.random.default_rng(5)
    norm = shape[axis % len(shape):]
    inits = [numpy_helper.from_array(rng.standard_normal(norm).astype(F), n) for n in ("g", "b")]
    outputs = ["y", "mean", "inv"] if stats else ["y"]
    path = _save(tmp_path, [helper.make_node("LayerNormalization", ["x", "g", "b"], outputs, axis=axis)],
                 [_x(shape)], [_x(shape, "y")] + ([_x(shape[:-1] + (1,), n) for n in ("mean", "inv")] if stats else []),
                 inits)
    ops = [op["op"] for op in compile_to_folder(path, tmp_path, PackageMeta("m")).manifest["ops"]]
    assert (ops == ["layer_norm"]) == fused, ops
    x = rng.standard_normal(shape).astype(F)
    _matches_onnxruntime(tmp_path, path, x)


def _gelu_nodes(x, out, half_first: bool, multiply: bool):
    """Exact GELU written out as PyTorch exports it below opset 20 (two placements of the ½,
    x/√2 as a Div or a Mul)."""
    make = helper.make_node
    nodes = [make("Mul" if multiply else "Div", [x, "inv_root2" if multiply else "root2"], ["g_s"]),
             make("Erf", ["g_s"], ["g_e"]), make("Add", ["g_e", "one"], ["g_a"])]
    if half_first:
        return nodes + [make("Mul", [x, "half"], ["g_h"]), make("Mul", ["g_h", "g_a"], [out])]
    return nodes + [make("Mul", [x, "g_a"], ["g_p"]), make("Mul", ["g_p", "half"], [out])]


@pytest.mark.parametrize("pattern", ["silu", "gelu", "gelu half first", "gelu times 1/root2"])
def test_written_out_silu_and_gelu_become_the_layers_activation(tmp_path, pattern):
    rng = np.random.default_rng(6)
    init = lambda name, a: numpy_helper.from_array(np.asarray(a, F), name)  # noqa: E731
    inits = [init("w", rng.standard_normal((6, 5))), init("b", rng.standard_normal(6)), init("root2", np.sqrt(2)),
             init("inv_root2", 1 / np.sqrt(2)), init("one", 1.0), init("half", 0.5)]
    gemm = helper.make_node("Gemm", ["x", "w", "b"], ["z"], transB=1)
    if pattern == "silu":
        act = [helper.make_node("Sigmoid", ["z"], ["s"]), helper.make_node("Mul", ["s", "z"], ["y"])]
    else:
        act = _gelu_nodes("z", "y", half_first="half first" in pattern, multiply="1/root2" in pattern)
    path = _save(tmp_path, [gemm, *act], [_x((4, 5))], [_x((4, 6), "y")], inits)
    [op] = compile_to_folder(path, tmp_path, PackageMeta("m")).manifest["ops"]
    assert op["op"] == "gemm" and [a["fn"] for a in op["attrs"]["activations"]] == [pattern.split()[0]]
    _matches_onnxruntime(tmp_path, path, rng.standard_normal((4, 5)).astype(F))


def test_a_sigmoid_read_elsewhere_is_not_fused_away(tmp_path):
    """Swish's sigmoid also used as an output of its own: the Mul stays a Mul."""
    w = numpy_helper.from_array(np.ones((3, 3, 1, 1), F), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Sigmoid", ["c"], ["s"]),
             helper.make_node("Mul", ["c", "s"], ["y"]), helper.make_node("Relu", ["s"], ["r"])]
    path = _save(tmp_path, nodes, [_x()], [_x(name="y"), _x(name="r")], [w])
    ops = compile_to_folder(path, tmp_path, PackageMeta("m")).manifest["ops"]
    assert not any(a["fn"] == "silu" for op in ops for a in op["attrs"].get("activations", []))
    assert any(op["op"] == "binary" and op["attrs"]["fn"] == "mul" for op in ops)


@pytest.mark.parametrize("shift_shape, fused", [((6,), True), ((1, 1, 6), True), ((1,), True), ((3, 1), False)])
def test_matmul_then_add_of_a_row_vector_is_one_gemm_with_that_bias(tmp_path, shift_shape, fused):
    """A linear layer as exporters write it (MatMul, Add), then exact GELU: one gemm op with the
    add in its bias and the GELU in its epilogue, unless the constant varies along other axes."""
    rng = np.random.default_rng(9)
    init = lambda name, a: numpy_helper.from_array(np.asarray(a, F), name)  # noqa: E731
    inits = [init("w", rng.standard_normal((5, 6))), init("shift", rng.standard_normal(shift_shape)),
             init("root2", np.sqrt(2)), init("inv_root2", 1 / np.sqrt(2)), init("one", 1.0), init("half", 0.5)]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "shift"], ["z"]),
             *_gelu_nodes("z", "y", half_first=False, multiply=False)]
    path = _save(tmp_path, nodes, [_x((2, 3, 5))], [_x((2, 3, 6), "y")], inits)
    ops = compile_to_folder(path, tmp_path, PackageMeta("m")).manifest["ops"]
    assert ([op["op"] for op in ops] == ["gemm"]) == fused, ops
    _matches_onnxruntime(tmp_path, path, rng.standard_normal((2, 3, 5)).astype(F))


def test_a_free_size_where_a_number_is_needed_is_refused_naming_it(tmp_path):
    """Shape arithmetic over a free dim folds to symbolic shapes for Reshape and Expand; a Slice
    whose end is the free height can't be written with a fixed end: one sentence says so."""
    ints = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)  # noqa: E731
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Slice", ["s", "two", "three"], ["h"]),
             helper.make_node("Slice", ["x", "zero", "h", "two"], ["y"], name="crop")]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "H", 8])
    path = _save(tmp_path, nodes, [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                 [ints("two", [2]), ints("three", [3]), ints("zero", [0])])
    with pytest.raises(CompileError) as err:
        compile_to_folder(path, tmp_path / "out", PackageMeta("m"))
    assert "node 'crop' (Slice, opset 17): ends depends on the input's size (H)" in str(err.value)


@pytest.mark.parametrize("op, keepdims", [("ReduceMean", 0), ("ReduceMean", 1), ("ReduceMax", 0)])
def test_a_mean_or_max_over_height_and_width_of_a_map_is_a_global_pool(tmp_path, op, keepdims):
    """x.mean((-2, -1)) after a conv, as PyTorch writes a global pool: the pool op, not a reduce."""
    rng = np.random.default_rng(4)
    inits = [numpy_helper.from_array(rng.standard_normal((6, 3, 3, 3)).astype(F), "w")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1] * 4),
             helper.make_node(op, ["c"], ["y"], axes=[2, 3], keepdims=keepdims)]
    path = _save(tmp_path, nodes, [_x((2, 3, 7, 5))], [_x((2, 6, 1, 1) if keepdims else (2, 6), "y")], inits)
    ops = compile_to_folder(path, tmp_path, PackageMeta("m")).manifest["ops"]
    assert [o["op"] for o in ops if o["op"] != "reshape"] == ["conv2d", "global_pool"]
    _matches_onnxruntime(tmp_path, path, rng.standard_normal((2, 3, 7, 5)).astype(F))


@pytest.mark.parametrize("other_reader", [False, True])
def test_batchnorm_relu_before_a_conv_goes_into_the_convs_loads(tmp_path, other_reader):
    """DenseNet's pre-activation order: a BatchNormalization reading a one-input Concat (its
    first layer's torch.cat of one feature map: no layer's weights to fold it into), a ReLU,
    then a conv. BatchNorm → ReLU is a depthwise 1×1 conv, which the conv then takes into its
    loads (`input_affine`): one op. Where something else reads the ReLU's output too (a pool
    here), it stays a depthwise conv of its own. Both match onnxruntime."""
    rng = np.random.default_rng(6)
    inits = [numpy_helper.from_array(v.astype(F), name) for name, v in {
        "g": rng.random(3) + 0.5, "b": rng.standard_normal(3), "m": rng.standard_normal(3), "v": rng.random(3) + 0.1,
        "w": rng.standard_normal((4, 3, 1, 1))}.items()]
    nodes = [helper.make_node("Concat", ["x"], ["cat"], axis=1),
             helper.make_node("BatchNormalization", ["cat", "g", "b", "m", "v"], ["n"]),
             helper.make_node("Relu", ["n"], ["r"]), helper.make_node("Conv", ["r", "w"], ["y"])]
    outputs = [_x((2, 4, 5, 5), "y")]
    if other_reader:
        nodes.append(helper.make_node("GlobalAveragePool", ["r"], ["p"]))
        outputs.append(_x((2, 3, 1, 1), "p"))
    path = _save(tmp_path, nodes, [_x((2, 3, 5, 5))], outputs, inits)
    ops = [o for o in compile_to_folder(path, tmp_path, PackageMeta("m")).manifest["ops"] if o["op"] != "reshape"]
    convs = [(o["attrs"]["groups"], [a["fn"] for a in o["attrs"]["activations"]],
              [a["fn"] for a in o["attrs"].get("input_activations", [])]) for o in ops if o["op"] == "conv2d"]
    if other_reader:   # the BN a depthwise 1×1 conv with the ReLU in it, then the conv
        assert convs == [(3, ["relu"], []), (1, [], [])]
    else:              # one conv, BN and ReLU applied to what it loads
        assert convs == [(1, [], ["relu"])] and {"in_scale", "in_shift"} <= set(ops[0]["weights"])
    _matches_onnxruntime(tmp_path, path, rng.standard_normal((2, 3, 5, 5)).astype(F))


def _i64(name, value):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(value, np.int64)))


def _cumulative_positions(tmp_path, unsupported: bool = False):
    """x + the positions counted along H, as EdgeNeXt builds its position embedding with a free
    batch: CumSum of ConstantOfShape(Shape(x)) ones, which folds only once the batch is known.
    `unsupported`: then a comparison of run-time values, which compiles at no batch."""
    ones = numpy_helper.from_array(np.ones(1, F), "one")
    nodes = [_i64("axis", 2), helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("ConstantOfShape", ["shape"], ["ones"], value=ones),
             helper.make_node("CumSum", ["ones", "axis"], ["positions"]), helper.make_node("Add", ["x", "positions"], ["y"])]
    outputs = [_x(("batch", 3, 6, 6), "y")]
    if unsupported:
        nodes += [_i64("zero", 0), helper.make_node("Cast", ["zero"], ["zero_f"], to=TensorProto.FLOAT),
                  helper.make_node("Greater", ["x", "zero_f"], ["positive"]),
                  helper.make_node("Where", ["positive", "x", "zero_f"], ["z"])]
        outputs.append(_x(("batch", 3, 6, 6), "z"))
    return _save(tmp_path, nodes, [_x(("batch", 3, 6, 6))], outputs, name="positions.onnx")


def test_a_table_tiled_once_per_image_compiles_with_the_batch_free(tmp_path):
    """x + a position table Tile-d once per image (XCiT): the repeats are
    Concat(Shape(x)[0:1], [1, 1, 1]), and the table's batch axis is 1: an expand."""
    table = numpy_helper.from_array(np.random.default_rng(5).standard_normal((1, 3, 6, 6)).astype(F), "table")
    nodes = [_i64("start", [0]), _i64("end", [1]), _i64("ones", [1, 1, 1]), helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Slice", ["shape", "start", "end"], ["n"]),
             helper.make_node("Concat", ["n", "ones"], ["repeats"], axis=0),
             helper.make_node("Tile", ["table", "repeats"], ["tiled"]), helper.make_node("Add", ["x", "tiled"], ["y"])]
    path = _save(tmp_path, nodes, [_x(("batch", 3, 6, 6))], [_x(("batch", 3, 6, 6), "y")], [table])
    manifest = compile_to_folder(path, tmp_path, PackageMeta("m")).manifest
    assert manifest["inputs"][0]["shape"] == ["batch", 3, 6, 6] and "notes" not in manifest
    _matches_onnxruntime(tmp_path, path, np.random.default_rng(3).standard_normal((2, 3, 6, 6)).astype(F))


def test_resize_to_sizes_taken_from_the_free_batch_compiles_with_the_batch_free(tmp_path):
    """F.interpolate(x, size=(9, 9)) exported with a free batch: Resize's sizes are
    Concat(Shape(x)[0:2], [9, 9]), N and C as they are."""
    nodes = [_i64("start", [0]), _i64("end", [2]), _i64("hw", [9, 9]), helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Slice", ["shape", "start", "end"], ["nc"]),
             helper.make_node("Concat", ["nc", "hw"], ["sizes"], axis=0),
             helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="linear")]
    path = _save(tmp_path, nodes, [_x(("batch", 3, 6, 6))], [_x(("batch", 3, 9, 9), "y")])
    manifest = compile_to_folder(path, tmp_path, PackageMeta("m")).manifest
    assert manifest["inputs"][0]["shape"] == ["batch", 3, 6, 6] and "notes" not in manifest
    _matches_onnxruntime(tmp_path, path, np.random.default_rng(3).standard_normal((2, 3, 6, 6)).astype(F))


def test_a_graph_that_folds_only_at_a_known_batch_is_compiled_for_one_image(tmp_path):
    """A shape the exporter computes from the free batch can't fold: the model is compiled for
    batch 1 instead (it then runs one image per call), says so in its manifest, and matches
    onnxruntime there."""
    path = _cumulative_positions(tmp_path)
    manifest = compile_to_folder(path, tmp_path, PackageMeta("m")).manifest
    assert manifest["inputs"][0]["shape"] == [1, 3, 6, 6]
    [note] = manifest["notes"]
    assert note.startswith("compiled for one image per call") and "ConstantOfShape" in note
    _matches_onnxruntime(tmp_path, path, np.random.default_rng(3).standard_normal((1, 3, 6, 6)).astype(F))


def test_a_graph_that_fails_at_batch_one_too_gets_the_free_batchs_problems(tmp_path):
    with pytest.raises(CompileError) as caught:
        compile_to_folder(_cumulative_positions(tmp_path, unsupported=True), tmp_path, PackageMeta("m"))
    # Greater of run-time values fails at any batch: the problems listed are the free batch's
    assert [p.op_type for p in caught.value.problems] == ["ConstantOfShape", "Greater"]


def test_sizes_onnx_leaves_unknown_after_a_computed_reshape_are_worked_out_through_split(tmp_path):
    """EfficientViT-M's window attention: a Reshape to a size computed by Div → Cast (ONNX's
    inference names it unk__…), a view back by Shape, then a Split into q and k and each
    flattened by Shape(q)[0:2] + [-1]. Folding works every size out again, the Split's second
    output included, and the package matches onnxruntime."""
    nodes = [_i64("fourteen", 14), _i64("seven", 7), _i64("axis0", [0]), _i64("rest", [4, 7, 14]), _i64("first", 0),
             _i64("hw", [7, 14]), _i64("minus_one", [-1]), _i64("start", [0]), _i64("end", [2]), _i64("halves", [2, 2]),
             helper.make_node("Div", ["fourteen", "seven"], ["two"]),
             helper.make_node("Unsqueeze", ["two", "axis0"], ["two_"]),
             helper.make_node("Concat", ["two_", "rest"], ["target1"], axis=0),
             helper.make_node("Reshape", ["x", "target1"], ["y1"]),
             helper.make_node("Shape", ["y1"], ["shape1"]), helper.make_node("Gather", ["shape1", "first"], ["n"]),
             helper.make_node("Unsqueeze", ["n", "axis0"], ["n_"]),
             helper.make_node("Concat", ["n_", "minus_one", "hw"], ["target2"], axis=0),
             helper.make_node("Reshape", ["y1", "target2"], ["y2"]),
             helper.make_node("Split", ["y2", "halves"], ["q", "k"], axis=1)]
    for part in ("q", "k"):
        nodes += [helper.make_node("Shape", [part], [f"{part}_shape"]),
                  helper.make_node("Slice", [f"{part}_shape", "start", "end"], [f"{part}_lead"]),
                  helper.make_node("Concat", [f"{part}_lead", "minus_one"], [f"{part}_target"], axis=0),
                  helper.make_node("Reshape", [part, f"{part}_target"], [f"{part}_flat"])]
    nodes.append(helper.make_node("Sub", ["q_flat", "k_flat"], ["y"]))
    path = _save(tmp_path, nodes, [_x((1, 4, 14, 14))], [_x((2, 2, 98), "y")])
    compile_to_folder(path, tmp_path, PackageMeta("m"))
    _matches_onnxruntime(tmp_path, path, np.random.default_rng(9).standard_normal((1, 4, 14, 14)).astype(F))


def test_the_size_of_a_tile_by_computed_repeats_is_worked_out(tmp_path):
    """GCViT repeats its global query by a count computed in the graph (ONNX's inference then
    names the tiled size unk__…) and flattens the result by Shape: folding works the size out."""
    nodes = [_i64("six", 6), _i64("three", 3), _i64("axis0", [0]), _i64("one", [1]), _i64("start", [0]),
             _i64("end", [1]), _i64("minus_one", [-1]),
             helper.make_node("Div", ["six", "three"], ["two"]), helper.make_node("Unsqueeze", ["two", "axis0"], ["two_"]),
             helper.make_node("Concat", ["one", "two_", "one"], ["repeats"], axis=0),
             helper.make_node("Tile", ["x", "repeats"], ["t"]),
             helper.make_node("Shape", ["t"], ["shape"]), helper.make_node("Slice", ["shape", "start", "end"], ["n"]),
             helper.make_node("Concat", ["n", "minus_one"], ["flat"], axis=0),
             helper.make_node("Reshape", ["t", "flat"], ["y"])]
    path = _save(tmp_path, nodes, [_x(("batch", 4, 6))], [_x(("batch", 48), "y")])
    assert compile_to_folder(path, tmp_path, PackageMeta("m")).manifest["outputs"][0]["shape"] == ["batch", 48]
    _matches_onnxruntime(tmp_path, path, np.random.default_rng(4).standard_normal((2, 4, 6)).astype(F))


def test_a_folded_table_of_a_size_onnx_left_unknown_gives_its_own_size(tmp_path):
    """EdgeNeXt adds a position table (ones, reshaped to a computed size: ONNX's inference calls
    that size unk__…) to a map of size 1 there, and reshapes the sum by its Shape: the table
    folds, and its array's shape is the one the sum's size is worked out from."""
    one = numpy_helper.from_array(np.ones(1, F), "one")
    nodes = [_i64("eight", 8), _i64("two", 2), _i64("axis0", [0]), _i64("lead", [1]), _i64("last", [6]),
             _i64("ones_shape", [1, 24]), _i64("start", [1]), _i64("end", [2]), _i64("minus_one", [-1]),
             helper.make_node("Div", ["eight", "two"], ["four"]), helper.make_node("Cast", ["four"], ["four_i"], to=7),
             helper.make_node("Unsqueeze", ["four_i", "axis0"], ["four_"]),
             helper.make_node("Concat", ["lead", "four_", "last"], ["table_shape"], axis=0),
             helper.make_node("ConstantOfShape", ["ones_shape"], ["ones"], value=one),
             helper.make_node("Reshape", ["ones", "table_shape"], ["table"]),
             helper.make_node("Add", ["x", "table"], ["s"]),
             helper.make_node("Shape", ["s"], ["shape"]), helper.make_node("Slice", ["shape", "start", "end"], ["rows"]),
             helper.make_node("Concat", ["rows", "minus_one"], ["target"], axis=0),
             helper.make_node("Reshape", ["s", "target"], ["y"])]
    path = _save(tmp_path, nodes, [_x((1, 1, 6))], [_x((4, 6), "y")])
    assert compile_to_folder(path, tmp_path, PackageMeta("m")).manifest["outputs"][0]["shape"] == [4, 6]
    _matches_onnxruntime(tmp_path, path, np.random.default_rng(4).standard_normal((1, 1, 6)).astype(F))


def test_shapes_computed_at_run_time_fold_where_the_exporter_reads_them_back(tmp_path):
    """torchvision's ViT, exported with a free batch: the class token is Expand-ed to
    Where(Equal([N, -1, -1], -1), 1, [N, -1, -1]) (ONNX's inference then can't size it), and the
    attention reads its scale back as 1/√Shape(q)[-1], its head split as Div and Mod of
    constants. Folding works the sizes out and the package matches onnxruntime."""
    rng = np.random.default_rng(8)
    make = helper.make_node
    consts = {"cls": rng.standard_normal((1, 1, 4)), "zero": np.array([0]), "minus": np.array([-1, -1]),
              "neg1": np.array(-1), "eight": np.array(8), "three": np.array(3), "last": np.array([-1]),
              "big": np.array([2 ** 62]), "rank": np.array([3])}
    inits = [numpy_helper.from_array(np.asarray(v, F if k == "cls" else np.int64), k) for k, v in consts.items()]
    nodes = [make("Shape", ["x"], ["s"]), make("Gather", ["s", "zero"], ["n"], axis=0),
             make("Concat", ["n", "minus"], ["target"], axis=0),
             make("Equal", ["target", "neg1"], ["is_free"]),
             make("ConstantOfShape", ["rank"], ["ones"], value=helper.make_tensor("", TensorProto.INT64, [1], [1])),
             make("Where", ["is_free", "ones", "target"], ["expand_to"]), make("Expand", ["cls", "expand_to"], ["tok"]),
             make("Concat", ["tok", "x"], ["z"], axis=1),
             make("Mod", ["eight", "three"], ["two"]), make("Unsqueeze", ["two", "zero"], ["two1"]),
             make("Concat", ["n", "last", "two1"], ["split"], axis=0), make("Reshape", ["z", "split"], ["q"]),
             make("Shape", ["q"], ["qs"]), make("Slice", ["qs", "last", "big"], ["d"]),
             make("Cast", ["d"], ["df"], to=TensorProto.FLOAT), make("Sqrt", ["df"], ["root"]),
             make("Div", ["q", "root"], ["y"])]
    path = _save(tmp_path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8, 2])], inits)
    compile_to_folder(path, tmp_path, PackageMeta("m"))
    _matches_onnxruntime(tmp_path, path, rng.standard_normal((3, 3, 4)).astype(F))


def test_windows_padded_to_a_multiple_of_their_size_fold_as_swin_writes_them(tmp_path):
    """Swin pads each map to a multiple of its window with pads computed from Shape (W % 7),
    then reshapes into windows from Shape of the padded map: folding sizes the Pad's output,
    a product reached two ways has one spelling (7*N, not N*7), and the package matches."""
    rng = np.random.default_rng(12)
    make = helper.make_node
    inits = [numpy_helper.from_array(np.array(v, np.int64), k) for k, v in {
        "i0": [0], "i2": [2], "seven": [7], "zeros": [0, 0, 0, 0, 0, 0], "tail": [0], "three": [3], "minus": [-1]}.items()]
    nodes = [make("Shape", ["x"], ["s"]), make("Gather", ["s", "i2"], ["w"], axis=0),
             make("Mod", ["w", "seven"], ["rest"]), make("Sub", ["seven", "rest"], ["short"]),
             make("Mod", ["short", "seven"], ["pad_w"]),
             make("Concat", ["zeros", "pad_w", "tail"], ["pads"], axis=0), make("Pad", ["x", "pads"], ["p"]),
             make("Shape", ["p"], ["ps"]), make("Gather", ["ps", "i2"], ["pw"], axis=0),
             make("Div", ["pw", "seven"], ["windows"]), make("Gather", ["s", "i0"], ["n"], axis=0),
             make("Mul", ["n", "windows"], ["nw"]),
             make("Concat", ["nw", "three", "seven", "minus"], ["shape"], axis=0), make("Reshape", ["p", "shape"], ["y"])]
    path = _save(tmp_path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 12, 4])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3, 7, 4])], inits)
    compile_to_folder(path, tmp_path, PackageMeta("m"))
    _matches_onnxruntime(tmp_path, path, rng.standard_normal((2, 3, 12, 4)).astype(F))
