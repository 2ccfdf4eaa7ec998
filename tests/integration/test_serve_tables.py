"""``zenopt serve`` for a table model with numeric, missing and categorical values: one input
per column, encoded as ``zenopt predict`` encodes a file; a dynamic INT8 candidate served
unbatched; two worker processes whose /metrics add up; and the Triton and KServe files of
``--export`` checked with Triton's own model-config protobuf against the ONNX graph."""

from __future__ import annotations

import asyncio
import csv
import io
import math
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import fast_overrides
from tests.datafiles import mixed_table, write_csv
from tests.serving import served, triton_model_config
from typer.testing import CliRunner

from zenopt.cli.app import app

pytestmark = pytest.mark.slow
runner = CliRunner()
INFER = "/v2/models/mlp/infer"


def _new_rows() -> dict[str, list[object]]:
    """Rows to predict: the training table's, with unseen and missing categories added."""
    table = mixed_table(60, seed=5)
    for i in range(0, 60, 9):
        table["colour"][i] = "purple"  # never seen in training: all zeros, as in predict
    for i in range(4, 60, 11):
        table["colour"][i] = ""  # missing: its own category
    return table


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLP on a table with numeric, categorical and missing values (median imputation),
    a dynamic INT8 candidate of it in RUN/compressed/dyn, and one deployed in PyTorch eager
    in RUN/compressed/eager."""
    from rich.console import Console

    from zenopt.core.config import load_config
    from zenopt.flow import run_pipeline

    folder = tmp_path_factory.mktemp("serve-mixed")
    source = write_csv(folder / "mixed.csv", mixed_table(200))
    overrides = [f"data.source={source}", "data.target=label", "data.impute=median"]
    config = load_config(None, fast_overrides(*overrides, "model.name=mlp", epochs=5))
    run_pipeline(config, folder / "run", console=Console(quiet=True), quiet=True)
    dynamic = "quantize(mode=dynamic) -> runtime(name=onnxruntime, graph_optimization=extended)"
    for plan, name in ((dynamic, "dyn"), ("runtime(name=torch)", "eager")):
        args = ["compress", str(folder / "run"), "--plan", plan, "--name", name, "-q"]
        assert runner.invoke(app, args).exit_code in (0, 1)
    write_csv(folder / "new.csv", _new_rows())
    return folder / "run"


def _predicted(model: Path, table: Path) -> list[dict[str, str]]:
    result = runner.invoke(app, ["predict", str(model), str(table), "--probabilities"])
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def _columns(rows: list[int]) -> dict[str, Any]:
    table = _new_rows()
    x2 = [None if table["x2"][i] == "" else float(table["x2"][i]) for i in rows]  # type: ignore[arg-type]
    return {
        "x1": [float(table["x1"][i]) for i in rows],  # type: ignore[arg-type]
        "x2": x2,
        "colour": [table["colour"][i] for i in rows],
    }


def _body(rows: list[int]) -> dict[str, Any]:
    columns = _columns(rows)
    kinds = {"x1": "FP64", "x2": "FP64", "colour": "BYTES"}
    return {
        "inputs": [
            {"name": n, "shape": [len(rows)], "datatype": kinds[n], "data": columns[n]}
            for n in ("colour", "x1", "x2")  # any order
        ]
    }


def _check(answer: dict[str, Any], rows: list[int], ref: list[dict[str, str]]) -> None:
    outputs = {o["name"]: o for o in answer["outputs"]}
    probabilities = np.asarray(outputs["probabilities"]["data"]).reshape(len(rows), 2)
    expected = np.asarray([[float(ref[i]["p(no)"]), float(ref[i]["p(yes)"])] for i in rows])
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert outputs["label"]["data"] == [ref[i]["prediction"] for i in rows]


def test_columns_in_encoded_as_predict_encodes_a_file(mixed: Path) -> None:
    import tritonclient.http as triton

    ref = _predicted(mixed, mixed.parent / "new.csv")
    with served(mixed) as server, httpx.Client(base_url=server.url) as client:
        meta = client.get("/v2/models/mlp").json()
        assert meta["inputs"] == [
            {"name": "x1", "datatype": "FP64", "shape": [-1]},
            {"name": "x2", "datatype": "FP64", "shape": [-1]},
            {"name": "colour", "datatype": "BYTES", "shape": [-1]},
        ]
        rows = list(range(60))
        _check(client.post(INFER, json=_body(rows)).json(), rows, ref)
        # binary, through Triton's client: NaN for a missing number, BYTES for the colours
        columns = _columns(rows)
        triton_client = triton.InferenceServerClient(server.url.removeprefix("http://"))
        tensors = []
        for name, datatype in (("x1", "FP64"), ("x2", "FP64"), ("colour", "BYTES")):
            values = columns[name]
            array = (
                np.asarray(values, dtype=object)
                if datatype == "BYTES"
                else np.asarray([math.nan if v is None else v for v in values])
            )
            tensor = triton.InferInput(name, [len(rows)], datatype)
            tensor.set_data_from_numpy(array, binary_data=True)
            tensors.append(tensor)
        result = triton_client.infer("mlp", tensors)
        expected = [[float(ref[i]["p(no)"]), float(ref[i]["p(yes)"])] for i in rows]
        np.testing.assert_allclose(result.as_numpy("probabilities"), expected, atol=1e-5)
        assert [v.decode() for v in result.as_numpy("label")] == [r["prediction"] for r in ref]
        triton_client.close()
        # a table's own mistakes
        body = _body([0, 1])
        body["inputs"][1]["shape"], body["inputs"][1]["data"] = [3], [0.1, 0.2, 0.3]
        bad = client.post(INFER, json=body)
        assert bad.status_code == 400 and "different row counts" in bad.json()["error"]
        body = _body([0, 1])
        body["inputs"][1]["datatype"] = "BYTES"
        bad = client.post(INFER, json=body)
        assert bad.json()["error"] == "input 'x1': datatype BYTES is not FP64 (or FP32, FP16, " \
            "INT8, INT16, INT32, INT64, UINT8, UINT16, UINT32, UINT64)"  # fmt: skip
        body = _body([0, 1])
        del body["inputs"][0]
        bad = client.post(INFER, json=body)
        assert bad.json()["error"].startswith("input 'colour' is missing; the model takes 'x1'")


def test_dynamic_int8_is_served_unbatched_and_each_request_is_predicts_answer(
    mixed: Path, tmp_path: Path
) -> None:
    candidate = mixed / "compressed" / "dyn"
    requests = [list(range(i, i + 1 + i % 5)) for i in range(0, 50, 2)]
    with served(candidate, "--max-delay-us", "20000") as server:
        assert "unbatched (dynamic INT8: DynamicQuantizeLinear quantizes" in server.startup
        meta = httpx.get(f"{server.url}/v2/models/mlp").json()
        assert meta["parameters"]["dynamic_batching"] is False
        assert "depend on the rows batched with it" in meta["parameters"]["unbatched_reason"]
        assert meta["parameters"]["deployed"] == "compressed/dyn"

        async def together() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=60) as client:
                return await asyncio.gather(
                    *(client.post(f"{server.url}{INFER}", json=_body(r)) for r in requests)
                )

        answers = [a.json() for a in asyncio.run(together())]
        text = httpx.get(f"{server.url}/metrics").text
    samples = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples["zenopt_batch_rows_count"] == len(requests)  # one runtime call per request
    table = _new_rows()
    for rows, answer in zip(requests, answers, strict=True):
        file = write_csv(
            tmp_path / f"r{rows[0]}.csv", {k: [v[i] for i in rows] for k, v in table.items()}
        )
        ref = _predicted(candidate, file)
        _check(answer, list(range(len(rows))), ref)


def test_a_candidate_deployed_in_pytorch_is_served_in_pytorch(mixed: Path) -> None:
    candidate = mixed / "compressed" / "eager"
    ref = _predicted(candidate, mixed.parent / "new.csv")
    with served(candidate, "--threads", "1") as server:
        assert "(compressed/eager, torch, 1 thread)" in server.startup
        assert httpx.get(f"{server.url}/v2/models/mlp").json()["platform"] == "pytorch_eager"
        rows = list(range(60))
        _check(httpx.post(f"{server.url}{INFER}", json=_body(rows)).json(), rows, ref)


def test_two_workers_serve_and_metrics_add_up(mixed: Path) -> None:
    with served(mixed, "--workers", "2") as server:
        assert server.startup.endswith("2 workers")

        async def many() -> list[int]:
            async with httpx.AsyncClient(timeout=60) as client:
                answers = await asyncio.gather(
                    *(client.post(f"{server.url}{INFER}", json=_body([i])) for i in range(30))
                )
            return [a.status_code for a in answers]

        assert asyncio.run(many()) == [200] * 30
        for _ in range(3):  # whichever worker answers the scrape sees all of them
            text = httpx.get(f"{server.url}/metrics").text
            count = {
                tuple(sorted(s.labels.items())): s.value
                for f in text_string_to_metric_families(text)
                for s in f.samples
                if s.name == "zenopt_requests_total"
            }
            assert count[(("endpoint", "infer"), ("status", "200"))] == 30
        assert server.stop() == 0, server.stderr


def _graph_tensors(values: Any) -> list[tuple[str, int, list[int]]]:
    return [
        (
            v.name,
            v.type.tensor_type.elem_type,
            [d.dim_value for d in v.type.tensor_type.shape.dim][1:],
        )
        for v in values
    ]


@pytest.mark.parametrize("target", ["run", "dyn"])
def test_export_writes_a_triton_repository_and_a_kserve_service(
    mixed: Path, tmp_path: Path, target: str
) -> None:
    import onnx
    from google.protobuf import text_format

    path = mixed if target == "run" else mixed / "compressed" / "dyn"
    out = tmp_path / "deploy"
    args = ["serve", str(path), "--export", str(out), "--max-batch", "32", "--max-delay-us", "500"]
    result = runner.invoke(app, [*args, "--workers", "2", "--threads", "3"])
    assert result.exit_code == 0, result.output
    pb = triton_model_config()
    config = text_format.Parse((out / "mlp" / "config.pbtxt").read_text(), pb.ModelConfig())
    graph = onnx.load(str(out / "mlp" / "1" / "model.onnx")).graph
    assert config.name == "mlp" and config.backend == "onnxruntime"
    assert config.max_batch_size == 32
    types = {onnx.TensorProto.FLOAT: pb.TYPE_FP32}
    for declared, actual in ((config.input, graph.input), (config.output, graph.output)):
        assert [(t.name, t.data_type, list(t.dims)) for t in declared] == [
            (name, types[elem], dims) for name, elem, dims in _graph_tensors(actual)
        ]
    assert config.instance_group[0].count == 2
    assert config.instance_group[0].kind == pb.ModelInstanceGroup.KIND_CPU
    assert config.parameters["intra_op_thread_count"].string_value == "3"
    if target == "run":
        assert config.dynamic_batching.max_queue_delay_microseconds == 500
        assert config.dynamic_batching.default_queue_policy.max_queue_size == 256
        assert not config.HasField("optimization")  # ORT's default graph level: all
    else:  # a dynamic INT8 model's outputs depend on the batch: Triton must not batch it
        assert not config.HasField("dynamic_batching")
        assert config.optimization.graph.level == 1  # the plan's extended, in Triton's code
    assert "encoded feature matrix" in (out / "mlp" / "config.pbtxt").read_text()
    encoding = yaml.safe_load((out / "mlp" / "inputs.json").read_text())  # JSON is YAML
    assert encoding["numeric"] == ["x1", "x2"]
    assert set(encoding["encoder"]["categories"]["colour"]) == {"blue", "red", "green"}
    assert not (out / "mlp" / "labels.txt").exists()  # a sigmoid head: one logit, no list
    service = yaml.safe_load((out / "inference_service.yaml").read_text())
    assert service["kind"] == "InferenceService"
    model = service["spec"]["predictor"]["model"]
    assert model["protocolVersion"] == "v2" and model["runtime"] == "kserve-tritonserver"
    assert model["modelFormat"]["name"] == "onnx"
    again = runner.invoke(app, ["serve", str(path), "--export", str(out)])
    assert again.exit_code == 2 and "not empty" in again.output
