"""`tessera bench`: one small model through every runtime in real headless Chromium (SwiftShader
WebGPU, wasm), the correctness gate both ways, the JSON schema and the Markdown table.

No timing is asserted: SwiftShader is a CPU implementation of WebGPU, good for correctness only.
The model is the MobileNetV3-Small stand-in taking 64×64 images instead of 224×224: the same
network and weights (global pooling before its classifier, so only the input's size changes),
at a twelfth of the arithmetic per run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tessera import paths
from tessera.bench import report, schema
from tessera.bench.artifacts import ArtifactBuilder
from tessera.bench.cases import RUNTIMES, BenchCase, BenchModel, select_cases
from tessera.bench.runner import (ARTIFACTS_MOUNT, BenchItem, BenchSettings, build_report, prepare,
                                  reference_note, run_items, unprepared_result)
from tessera.bench.tfjs_export import export_graph
from tessera.paths import build_dir
from tessera.zoo import bench_models

MODEL, SIDE = "mobilenet-v3-small", 64
# As few runs as still exercise every stage: SwiftShader takes seconds per inference.
QUICK = BenchSettings(runs=2, warmup=0, warmup_s=0.0, fps_seconds=0.1, fps_max_frames=1, gpu_time_runs=1,
                      profile=True, timeout_s=300, load_again=False)


@pytest.fixture(scope="module")
def bench_webapp(webapp_dist):
    if not (webapp_dist / "bench.js").is_file():   # a dist from before the bench page existed
        subprocess.run(["npm", "run", "--silent", "build"], cwd=paths.REPO_ROOT / "webapp", check=True)
    return webapp_dist


def at_side(model: BenchModel, side: int, folder: Path, url: str) -> BenchCase:
    """`model` (an NCHW classifier pooled globally before its head) as a copy in `folder`,
    served at `url`, whose input is side×side; its case at batch 1."""
    graph = onnx.load(model.folder / "model.onnx")
    dims = graph.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value = dims[3].dim_value = side
    folder.mkdir(parents=True)
    onnx.save(graph, folder / "model.onnx")
    shutil.copy(model.folder / "model.json", folder / "model.json")
    shape = (1, 3, side, side)
    return BenchCase(replace(model, folder=folder, url=url, shapes=(shape,)), shape)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    bench_models.build_all(build_dir() / "bench-models", build_dir() / "wheels", [MODEL])
    root = tmp_path_factory.mktemp("bench-artifacts")
    [model] = {case.model for case in select_cases([MODEL], None)}
    # Inside the artifacts folder, which the bench's server serves.
    case = at_side(model, SIDE, root / "source" / MODEL, f"{ARTIFACTS_MOUNT}/source/{MODEL}/")
    return root, ArtifactBuilder(root, f"{ARTIFACTS_MOUNT}/").prepare(case)


def corrupted(p):
    """The same case with a wrong expected output: what a runtime with a bug would be held to."""
    expected = np.fromfile(p.folder / "expected.bin", np.float32)
    expected[::7] += 1.0
    expected.tofile(p.folder / "expected-corrupted.bin")
    meta = {**p.meta, "expected": {**p.meta["expected"], "file": "expected-corrupted.bin"}}
    return replace(p, meta=meta)


@pytest.fixture(scope="module")
def bench_report(bench_webapp, prepared):
    root, case = prepared
    items = [BenchItem(runtime, case) for runtime in RUNTIMES] + [BenchItem("ort-wasm", corrupted(case))]
    # The second load is the same page code for every runtime; timed on the engine's only
    # (SwiftShader recompiles every pipeline of each runtime again).
    again, page_env = run_items(items[:1], replace(QUICK, load_again=True), root, progress=lambda line: None)
    results, _ = run_items(items[1:], QUICK, root, progress=lambda line: None)
    return build_report(again + results, page_env, QUICK, "2026-01-01T00:00:00+00:00")


def test_every_runtime_matches_onnxruntime(bench_report):
    honest = bench_report["results"][:len(RUNTIMES)]
    assert [r["runtime"] for r in honest] == list(RUNTIMES)
    # the reference follows its input, so the gate means something and the report says nothing more
    assert bench_report["results"][0]["reference_note"] is None
    for r in honest:
        assert r["status"] == "ok" and r["reference_note"] is None, r
        assert r["rel_l2"] <= QUICK.tolerance and r["max_abs"] is not None
        assert r["runs"] == QUICK.runs and r["median_ms"] > 0 and r["fps_frames"] >= 1
        assert r["load_ms"] > 0 and r["ttfr_ms"] >= r["load_ms"]
        # A second load in the same page: timed where asked (the engine's item), else not.
        assert (r["ttfr_again_ms"] > 0) if r["runtime"] == "tessera" else (r["ttfr_again_ms"] is None)


def test_wrong_output_is_failed_and_its_speed_not_reported(bench_report):
    r = bench_report["results"][-1]
    assert r["expected_file"] == "expected-corrupted.bin"
    assert r["status"] == "failed" and r["rel_l2"] > QUICK.tolerance
    assert r["median_ms"] is None and r["fps"] is None
    assert "differs from onnxruntime" in r["error"]


def test_webgpu_runtimes_report_gpu_memory(bench_report):
    for r in bench_report["results"]:
        if r["runtime"] in ("ort-webgpu", "tfjs-webgpu", "tfjs-webgl"):
            assert r["peak_gpu_bytes"] and r["peak_gpu_bytes"] > 0, r


def test_profile_times_each_engine_dispatch_by_its_layer(bench_report):
    r = next(r for r in bench_report["results"] if r["runtime"] == "tessera")
    labels = [d["label"] for d in r["profile"]]
    # One entry per dispatch of the compiled plan, named by the layer it runs, in order.
    assert len(labels) == r["runtime_info"]["dispatches"], labels
    # the subgroup sizes the kernels were made for, there exactly when the adapter has them
    sizes = r["runtime_info"]["subgroups"]
    assert (sizes is not None) == ("subgroups" in bench_report["adapter"]["features"]), r["runtime_info"]
    assert not sizes or 1 <= sizes["minSize"] <= sizes["maxSize"] <= 128
    assert labels[0] == "input layout" and all(d["ms"] >= 0 for d in r["profile"])
    assert r["in_flight"] == 3      # the engine's calls overlap; its pipelined outputs were checked too
    assert sum(d["ms"] for d in r["profile"]) > 0
    assert "slowest:" in report.format_text(bench_report)


def test_engine_reports_what_its_load_waited_for(bench_report):
    r = next(r for r in bench_report["results"] if r["runtime"] == "tessera")
    load = r["runtime_info"]["load"]
    assert 0 < load["manifest_ms"] <= load["ready_ms"] and 0 < load["weights_ms"] <= load["ready_ms"]
    assert 0 < load["device_ms"] <= load["ready_ms"] <= r["load_ms"]
    compile_ = load["compile"]
    # Every distinct kernel of the plan compiled once, each within the load.
    assert compile_["pipelines"] == r["runtime_info"]["pipelines"] > 0
    assert 0 < compile_["slowest_ms"] <= compile_["summed_ms"]
    assert 0 < compile_["last_done_ms"] <= load["ready_ms"]
    # a float model (and SwiftShader, which has no int8 matrix units): no conv in integers
    assert r["runtime_info"]["int8_convs"] == 0 and r["runtime_info"]["dispatches"] > 0


def test_report_follows_the_schema_and_survives_json(bench_report):
    assert schema.validate(bench_report) == []
    again = json.loads(json.dumps(bench_report))
    assert schema.validate(again) == []
    assert again["browser"]["user_agent"] and again["page"]["cross_origin_isolated"] is True


def test_schema_check_catches_mistakes(bench_report):
    broken = json.loads(json.dumps(bench_report))
    broken["results"][0]["status"] = "fast"
    del broken["results"][1]["median_ms"]
    broken["results"][2]["surprise"] = 1
    problems = schema.validate(broken)
    assert any("results[0].status" in p for p in problems)
    assert any("missing median_ms" in p for p in problems)
    assert any("unexpected surprise" in p for p in problems)


def test_markdown_and_text_tables(bench_report):
    md = report.format_markdown(bench_report)
    text = report.format_text(bench_report)
    for out in (md, text):
        assert "speed vs ort-webgpu" in out and "FAILED" in out
        assert "adapter:" in out and "flags:" in out and "date:" in out
        assert all(rt in out for rt in RUNTIMES)
    table_rows = [line for line in md.splitlines() if line.startswith(f"| {MODEL} |")]
    assert len(table_rows) == len(RUNTIMES) + 1
    assert "1.00×" in next(line for line in table_rows if "| ort-webgpu |" in line)


def test_int8_qdq_models_get_the_looser_gate_and_the_report_says_so(bench_report):
    settings = BenchSettings()
    assert settings.gate(quantized=False) == settings.tolerance == 1e-3
    assert settings.gate(quantized=True) == settings.page_settings(quantized=True)["tolerance"] == 5e-2
    assert settings.page_settings(quantized=False)["tolerance"] == 1e-3
    assert all(r["tolerance"] == QUICK.tolerance for r in bench_report["results"])
    assert "int8 QDQ" not in report.format_text(bench_report)
    quantized = json.loads(json.dumps(bench_report))
    quantized["results"][0].update(model="arbitrary-predict", tolerance=5e-2)
    assert schema.validate(quantized) == []
    assert "arbitrary-predict ≤ 0.05" in report.format_text(quantized)


def test_an_imported_model_is_benchmarked_by_name_at_its_own_shapes(run_cli, tmp_path):
    """`tessera bench --models <imported>`: the user's model, its free batch bound to 1 and 8,
    checked against onnxruntime on the engine and on onnxruntime-web's wasm."""
    from tests.test_models_cli import tiny_classifier

    source = onnx.load(tiny_classifier(tmp_path / "tiny.onnx", classes=5))
    for value in (*source.graph.input, *source.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.save(source, tmp_path / "tiny-batch.onnx")
    env = {"TESSERA_DATA_DIR": str(tmp_path / "data")}
    imported = run_cli("models", "import", str(tmp_path / "tiny-batch.onnx"), "--name", "tiny", env=env)
    assert imported.returncode == 0, imported.stderr
    r = run_cli("bench", "--models", "tiny", "--runtimes", "tessera", "ort-wasm", "--runs", "2", "--warmup", "0",
                "--warmup-seconds", "0", "--fps-seconds", "0.1", "--gpu-time-runs", "1",
                "--artifacts", str(tmp_path / "artifacts"), "--json", str(tmp_path / "bench.json"), env=env)
    assert r.returncode == 0, r.stderr
    results = json.loads((tmp_path / "bench.json").read_text())["results"]
    assert {(x["runtime"], x["shape_id"]) for x in results} == {
        (rt, shape) for rt in ("tessera", "ort-wasm") for shape in ("1x3x8x8", "8x3x8x8")}
    for x in results:
        assert x["model"] == "tiny" and x["status"] == "ok" and x["rel_l2"] <= QUICK.tolerance, x
    unknown = run_cli("bench", "--models", "nothing-by-this-name", env=env)
    assert unknown.returncode != 0 and "or a model you imported" in unknown.stderr


# -- the tfjs export, without a browser ---------------------------------------------------

def _tiny_model() -> onnx.ModelProto:
    """Conv -> BatchNorm -> Relu, then a Flatten whose target shape is computed from Shape."""
    rng = np.random.default_rng(0)
    init = [numpy_helper.from_array(a.astype(np.float32), n) for n, a in [
        ("w", rng.standard_normal((4, 3, 3, 3))), ("gamma", rng.uniform(0.5, 1.5, 4)),
        ("beta", rng.standard_normal(4)), ("mean", rng.standard_normal(4)), ("var", rng.uniform(0.5, 2, 4))]]
    init.append(numpy_helper.from_array(np.array([-1], np.int64), "minus_one"))
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["b"]),
        helper.make_node("Relu", ["b"], ["r"]),
        helper.make_node("Shape", ["r"], ["s"], end=1),
        helper.make_node("Concat", ["s", "minus_one"], ["target"], axis=0),
        helper.make_node("Reshape", ["r", "target"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], init)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_export_folds_shapes_and_batch_norm_and_fuses_relu():
    model = _tiny_model()
    exported = export_graph(model, {"x": (2, 3, 8, 8)})
    g = exported.graph
    assert [n["op"] for n in g["nodes"]] == ["Conv", "Reshape"]
    conv, reshape = g["nodes"]
    assert conv["attrs"]["activation"] == "relu" and len(conv["inputs"]) == 3
    assert reshape["attrs"]["shape"] == [2, -1] and g["unsupported"] == []
    # The folded conv is the original conv followed by inference BatchNorm.
    t = {name: np.frombuffer(exported.weights, np.float32, int(np.prod(e["shape"])), e["offset"]).reshape(e["shape"])
         for name, e in g["tensors"].items()}
    w, b = t[conv["inputs"][1]], t[conv["inputs"][2]]
    init = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    scale = init["gamma"] / np.sqrt(init["var"] + 1e-5)
    np.testing.assert_allclose(w, init["w"] * scale[:, None, None, None], rtol=1e-6)
    np.testing.assert_allclose(b, init["beta"] - init["mean"] * scale, rtol=1e-5, atol=1e-6)


def test_export_names_what_the_page_cannot_run():
    """A Reshape whose target is computed from the data can't be folded: the graph says so, and
    the page then reports the model as unsupported on tfjs instead of failing half-way."""
    model = _tiny_model()
    del model.graph.node[3:]
    model.graph.node.extend([helper.make_node("Cast", ["r"], ["data_shape"], to=TensorProto.INT64),
                             helper.make_node("Reshape", ["r", "data_shape"], ["y"])])
    g = export_graph(model, {"x": (1, 3, 8, 8)}).graph
    assert g["unsupported"] and g["unsupported"][0].startswith("Reshape with a computed shape")


def test_a_case_that_cannot_be_prepared_becomes_error_rows(tmp_path):
    """A model onnxruntime can't load is that case's error, not the end of the whole run."""
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"not an onnx file")
    case = BenchCase(BenchModel("broken", "classify", folder, "bench-models/broken/", ((1, 3, 8, 8),)), (1, 3, 8, 8))
    prepared, failed = prepare([case], tmp_path / "artifacts", progress=lambda line: None)
    assert prepared == [] and [c for c, _ in failed] == [case]
    row = unprepared_result(case, "tessera", failed[0][1])
    assert row["status"] == "error" and row["error"].startswith("could not prepare")
    assert schema.validate(row, schema.SCHEMA["properties"]["results"]["items"]) == []


def _constant_classifier(folder: Path, bias: float, chaotic: bool = False) -> BenchCase:
    """A classifier whose conv weights are zero: its output is `bias` whatever the input.
    `chaotic`: sin(x · 10⁸) before the conv, whose weights are then ones: a 2-ulp change of x
    moves every sine by radians."""
    folder.mkdir()
    init = [numpy_helper.from_array(np.full((5, 3, 3, 3), float(chaotic), np.float32), "w"),
            numpy_helper.from_array(np.full(5, bias, np.float32), "b"),
            numpy_helper.from_array(np.array(1e8, np.float32), "gain")]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("GlobalAveragePool", ["c"], ["g"]), helper.make_node("Flatten", ["g"], ["y"])]
    if chaotic:
        nodes[0].input[0] = "s"
        nodes[:0] = [helper.make_node("Mul", ["x", "gain"], ["m"]), helper.make_node("Sin", ["m"], ["s"])]
    graph = helper.make_graph(nodes, "constant", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], init)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), folder / "model.onnx")
    (folder / "model.json").write_text("{}")
    return BenchCase(BenchModel(folder.name, "classify", folder, f"bench-models/{folder.name}/", ((1, 3, 8, 8),)),
                     (1, 3, 8, 8))


def test_a_reference_that_does_not_depend_on_its_input_is_flagged_in_the_report(tmp_path, bench_report, prepared):
    """Random weights can zero or saturate a network: any runtime then matches onnxruntime, and
    the report must say that its ok proves nothing rather than show a plain ok. They can also
    make one chaotic, where a correct runtime fails: the report says that too."""
    gate = QUICK.tolerance
    real = prepared[1].meta     # the real case: no note
    assert real["input_sensitivity"] > 10 * gate and real["rounding_sensitivity"] < 0.1 * gate
    cases = [_constant_classifier(tmp_path / "zeros", 0.0), _constant_classifier(tmp_path / "constant", 0.5),
             _constant_classifier(tmp_path / "chaotic", 0.5, chaotic=True)]
    ready, failed = prepare(cases, tmp_path / "artifacts", progress=lambda line: None)
    assert failed == []
    zeros, constant, chaotic = (reference_note(p.meta, gate) for p in ready)
    assert ready[0].meta["input_sensitivity"] is None and "all zeros" in zeros
    assert ready[1].meta["input_sensitivity"] == 0.0 and "ignored its" in constant
    assert ready[2].meta["rounding_sensitivity"] > 0.1 * gate and "amplifies float32 rounding" in chaotic
    failed_row = json.loads(json.dumps(bench_report))
    failed_row["results"][-1]["reference_note"] = chaotic      # the FAILED row says why it may have
    assert chaotic in report.format_text(failed_row)
    flagged = json.loads(json.dumps(bench_report))
    flagged["results"][0]["reference_note"] = constant
    assert schema.validate(flagged) == []
    text = report.format_text(flagged)
    assert "ok [1]" in text and f"ok, but {constant}" in text


def test_an_imported_qdq_model_is_compiled_from_its_qdq_file_and_the_peers_get_its_float_network(
        run_cli, tmp_path, monkeypatch):
    """As the bundled int8 pair: onnxruntime-web has no DequantizeLinear on WebGPU (and some
    onnxruntime builds none at opset 17), so the other runtimes and the reference load the float
    network the compiler folds the QDQ file into; the looser int8 gate applies."""
    from tessera.bench import cases, float_graph
    from tessera.zoo.quantize import quantize_qdq
    from tests.test_models_cli import tiny_classifier

    source = onnx.load(tiny_classifier(tmp_path / "tiny.onnx", classes=5))
    calibration = [np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)]
    onnx.save(quantize_qdq(source, calibration), tmp_path / "tiny-int8.onnx")
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TESSERA_BUILD_DIR", str(tmp_path / "build"))
    imported = run_cli("models", "import", str(tmp_path / "tiny-int8.onnx"), "--name", "tiny-int8")
    assert imported.returncode == 0, imported.stderr
    model = cases._load("tiny-int8")
    assert model.quantized and float_graph.is_quantized(onnx.load(model.compiler_input))
    assert not float_graph.is_quantized(onnx.load(model.onnx_path))
    assert model.onnx_path.is_relative_to(tmp_path / "build") and model.url == "bench-models/tiny-int8/"
    assert BenchSettings().gate(model.quantized) == 5e-2
