"""``zenopt serve`` as a real process on loopback, for an image model: the protocol's
endpoints, predictions equal to ``zenopt predict``'s (JSON, and binary through Triton's own
HTTP client), 200 concurrent requests each answered with its own rows, back-pressure, a
graceful SIGTERM, and /metrics counts that match what was sent."""

from __future__ import annotations

import asyncio
import csv
import io
import signal
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import fast_overrides
from tests.datafiles import digit_images, write_idx
from tests.serving import served, triton_model_config
from typer.testing import CliRunner

from zenopt.cli.app import app

pytestmark = pytest.mark.slow

IMAGES, LABELS = digit_images(150)


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    """A small MLP on 8×8 digit images, and ``zenopt predict --probabilities`` on all 150."""
    from rich.console import Console

    from zenopt.core.config import load_config
    from zenopt.flow import run_pipeline

    folder = tmp_path_factory.mktemp("serve-digits")
    source = write_idx(folder / "train-images-idx3-ubyte", IMAGES)
    write_idx(folder / "train-labels-idx1-ubyte", LABELS)
    overrides = [f"data.source={source}", "model.name=mlp", "data.resize=null"]
    config = load_config(None, fast_overrides(*overrides, epochs=3))
    run_pipeline(config, folder / "run", console=Console(quiet=True), quiet=True)
    new = write_idx(folder / "new-images-idx3-ubyte", IMAGES)
    result = CliRunner().invoke(app, ["predict", str(folder / "run"), str(new), "--probabilities"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    reference = {
        "label": np.asarray([r["prediction"] for r in rows]),
        "probabilities": np.asarray([[float(r[f"p({c})"]) for c in range(10)] for r in rows]),
    }
    return folder / "run", reference


def _body(rows: np.ndarray, **extra: object) -> dict[str, object]:
    pixels = IMAGES[rows].astype(np.float32)[:, None]
    tensor = {"name": "input", "shape": list(pixels.shape), "datatype": "FP32"}
    return {"inputs": [{**tensor, "data": pixels.reshape(-1).tolist()}], **extra}


def _check(answer: dict[str, object], rows: np.ndarray, ref: dict[str, np.ndarray]) -> None:
    outputs = {o["name"]: o for o in answer["outputs"]}  # type: ignore[attr-defined]
    probabilities = np.asarray(outputs["probabilities"]["data"]).reshape(len(rows), 10)
    assert outputs["probabilities"]["shape"] == [len(rows), 10]
    np.testing.assert_allclose(probabilities, ref["probabilities"][rows], atol=1e-5)
    assert outputs["label"]["data"] == list(ref["label"][rows])


def _metrics(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{url}/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_endpoints_metadata_and_predictions_equal_predict(digits) -> None:  # type: ignore[no-untyped-def]
    run, ref = digits
    with served(run, "--max-delay-us", "2000") as server:
        url = server.url
        assert "serving mlp (the FP32 export, onnxruntime, 1 thread)" in server.startup
        assert httpx.get(f"{url}/v2/health/live").json() == {"live": True}
        assert httpx.get(f"{url}/v2/health/ready").json() == {"ready": True}
        assert httpx.get(f"{url}/v2/models/mlp/ready").status_code == 200
        assert "binary_tensor_data" in httpx.get(f"{url}/v2").json()["extensions"]
        meta = httpx.get(f"{url}/v2/models/mlp").json()
        assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 1, 8, 8]}]
        assert meta["outputs"] == [
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
        ]
        assert meta["parameters"]["dynamic_batching"] is True
        assert httpx.get(f"{url}/v2/models/mlp/versions/1").json() == meta
        rows = np.arange(0, 150, 7)
        answer = httpx.post(f"{url}/v2/models/mlp/infer", json=_body(rows, id="r-1")).json()
        assert answer["id"] == "r-1" and answer["model_name"] == "mlp"
        _check(answer, rows, ref)
        # UINT8 pixels are the same image
        uint8 = {"name": "input", "shape": [2, 1, 8, 8], "datatype": "UINT8"}
        uint8["data"] = IMAGES[:2].reshape(-1).tolist()  # type: ignore[assignment]
        _check(httpx.post(f"{url}/v2/models/mlp/infer", json={"inputs": [uint8]}).json(),
               np.arange(2), ref)  # fmt: skip


def test_tritons_own_http_client_binary_and_json(digits) -> None:  # type: ignore[no-untyped-def]
    """Triton's client library speaks to the server with binary tensors (its default) and
    JSON; the answers are predict's."""
    import tritonclient.http as triton

    run, ref = digits
    with served(run) as server:
        client = triton.InferenceServerClient(server.url.removeprefix("http://"))
        assert client.is_server_ready() and client.is_model_ready("mlp")
        rows = np.arange(10, 40)
        for binary in (True, False):
            tensor = triton.InferInput("input", [len(rows), 1, 8, 8], "FP32")
            tensor.set_data_from_numpy(IMAGES[rows].astype(np.float32)[:, None], binary)
            outputs = [triton.InferRequestedOutput(n, binary_data=binary)
                       for n in ("probabilities", "label")]  # fmt: skip
            result = client.infer("mlp", [tensor], outputs=outputs)
            np.testing.assert_allclose(
                result.as_numpy("probabilities"), ref["probabilities"][rows], atol=1e-5
            )
            labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label")]
            assert labels == list(ref["label"][rows])
        client.close()


async def _concurrent(url: str, requests: list[np.ndarray]) -> list[dict[str, object]]:
    limits = httpx.Limits(max_connections=len(requests))
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        answers = await asyncio.gather(
            *(client.post(f"{url}/v2/models/mlp/infer", json=_body(r)) for r in requests)
        )
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers[:3]]
    return [a.json() for a in answers]


def test_200_concurrent_requests_each_get_their_own_rows(digits) -> None:  # type: ignore[no-untyped-def]
    run, ref = digits
    rng = np.random.default_rng(3)
    requests = [rng.choice(150, int(rng.integers(1, 9)), replace=False) for _ in range(200)]
    with served(run, "--max-delay-us", "5000", "--max-batch", "32") as server:
        before = _metrics(server.url)
        answers = asyncio.run(_concurrent(server.url, requests))
        after = _metrics(server.url)
    for rows, answer in zip(requests, answers, strict=True):
        _check(answer, rows, ref)
    calls = after[("zenopt_batch_rows_count", ())] - before[("zenopt_batch_rows_count", ())]
    rows_run = after[("zenopt_batch_rows_sum", ())] - before[("zenopt_batch_rows_sum", ())]
    assert rows_run == sum(len(r) for r in requests)
    assert calls < len(requests)  # requests were coalesced
    assert (
        after[("zenopt_batch_rows_bucket", (("le", "32.0"),))]
        == after[("zenopt_batch_rows_bucket", (("le", "+Inf"),))]
    )  # no runtime call above --max-batch


def test_full_queue_answers_503_then_recovers_and_sigterm_loses_nothing(digits) -> None:  # type: ignore[no-untyped-def]
    run, ref = digits
    with served(run, "--queue", "3", "--max-delay-us", "1000000") as server:
        one = [np.asarray([i]) for i in range(8)]

        async def flood() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=60) as client:
                return await asyncio.gather(
                    *(client.post(f"{server.url}/v2/models/mlp/infer", json=_body(r)) for r in one)
                )

        answers = asyncio.run(flood())
        codes = sorted(a.status_code for a in answers)
        assert codes == [200] * 3 + [503] * 5
        refused = next(a for a in answers if a.status_code == 503)
        assert refused.headers["retry-after"] == "1"
        assert "queue is full (3 requests waiting; --queue)" in refused.json()["error"]
        # the queue drained: served again; a request whose own timeout (200 ms) is shorter
        # than the batching delay (1 s) is run before it expires, not answered 503
        _check(httpx.post(f"{server.url}/v2/models/mlp/infer", json=_body(one[0])).json(),
               one[0], ref)  # fmt: skip
        timed = httpx.post(f"{server.url}/v2/models/mlp/infer",
                           json=_body(one[1], parameters={"timeout": 200_000}))  # fmt: skip
        _check(timed.json(), one[1], ref)
        # a client that gives up takes its request out of the queue: it is never run
        before = _metrics(server.url)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{server.url}/v2/models/mlp/infer", json=_body(one[2]), timeout=0.3)
        time.sleep(1.2)  # past the batching delay it would have run after
        after = _metrics(server.url)
        calls = ("zenopt_batch_rows_count", ())
        assert after[calls] == before[calls]
        gone = ("zenopt_requests_total", (("endpoint", "infer"), ("status", "499")))
        assert after[gone] == 1 and after[("zenopt_queue_depth", ())] == 0

        # SIGTERM while three requests wait in the queue: all three answered, exit 0
        async def in_flight() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=60) as client:
                sent = [
                    asyncio.ensure_future(
                        client.post(f"{server.url}/v2/models/mlp/infer", json=_body(r))
                    )
                    for r in one[:3]
                ]
                while (
                    "zenopt_queue_depth 3.0" not in (await client.get(f"{server.url}/metrics")).text
                ):
                    await asyncio.sleep(0.02)  # until all three wait for the batching delay
                server.process.send_signal(signal.SIGTERM)
                return await asyncio.gather(*sent)

        answers = asyncio.run(in_flight())
        for rows, answer in zip(one[:3], answers, strict=True):
            assert answer.status_code == 200
            _check(answer.json(), rows, ref)
        assert server.process.wait(30) == 0, server.stderr
        assert "stopped serving mlp" in server.stderr
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/v2/health/live")


def test_metrics_count_what_was_sent(digits) -> None:  # type: ignore[no-untyped-def]
    run, _ = digits
    with served(run) as server:
        for _ in range(5):
            httpx.post(f"{server.url}/v2/models/mlp/infer", json=_body(np.arange(3)))
        for _ in range(2):
            httpx.post(f"{server.url}/v2/models/mlp/infer", content=b"{")
        httpx.get(f"{server.url}/v2/models/nope")
        time.sleep(0.1)
        values = _metrics(server.url)
    count = {labels: v for (name, labels), v in values.items() if name == "zenopt_requests_total"}
    assert count[(("endpoint", "infer"), ("status", "200"))] == 5
    assert count[(("endpoint", "infer"), ("status", "400"))] == 2
    assert count[(("endpoint", "metadata"), ("status", "404"))] == 1
    assert values[("zenopt_request_duration_seconds_count", ())] == 7
    assert values[("zenopt_queue_wait_seconds_count", ())] == 5
    assert values[("zenopt_batch_rows_sum", ())] == 15
    assert values[("zenopt_queue_depth", ())] == 0
    assert values[("zenopt_requests_in_flight", ())] == 0


def test_server_timing_and_inline_calls(digits) -> None:  # type: ignore[no-untyped-def]
    """Each answer says where its time went (Server-Timing, ms): disjoint parts of the app's
    time, inside what the client waited. With --inline-us large enough, calls run on the
    server's own thread; the answers are the same."""
    from zenopt.serve.load import server_timing

    run, ref = digits
    rows = np.arange(20, 36)
    for inline in ("0", "100000"):
        with served(run, "--inline-us", inline) as server:
            meta = httpx.get(f"{server.url}/v2/models/mlp").json()
            assert meta["parameters"]["inline_us"] == int(inline)
            # an MLP on 8×8 answers 64 rows well within 0.1 s: every call inline, or none
            assert ("calls of ≤ 64 rows inline" in server.startup) == (inline != "0")
            for _ in range(5):
                started = time.perf_counter()
                answer = httpx.post(f"{server.url}/v2/models/mlp/infer", json=_body(rows))
                waited_ms = (time.perf_counter() - started) * 1000
                _check(answer.json(), rows, ref)
                parts = server_timing(answer.headers["server-timing"])
                assert list(parts) == ["parse", "queue", "run", "reply", "app"]
                inside = parts["parse"] + parts["queue"] + parts["run"] + parts["reply"]
                assert min(parts.values()) >= 0 and inside <= parts["app"] + 0.002
                assert parts["run"] > 0 and parts["app"] < waited_ms


def _tensor(**changes: object) -> dict[str, object]:
    tensor: dict[str, object] = {
        "name": "input", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": [0.0] * 64,
    }  # fmt: skip
    tensor.update(changes)
    return {"inputs": [tensor]}


def _binary(header: dict[str, object], blob: bytes, length: int | str | None = None) -> dict:  # type: ignore[type-arg]
    import json

    text = json.dumps(header).encode()
    size = str(len(text) if length is None else length)
    return {"content": text + blob, "headers": {"Inference-Header-Content-Length": size}}


def _first_pixel(token: str) -> bytes:
    """A body as Python's json.dumps writes it, with NaN or Infinity (not JSON) first."""
    values = ", ".join([token] + ["0.0"] * 63)
    head = '{"inputs": [{"name": "input", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": ['
    return f"{head}{values}]}}]}}".encode()


ZEROS = np.zeros(64, np.float32).tobytes()
BIN = {"name": "input", "shape": [1, 1, 8, 8], "datatype": "FP32"}
INFER = "/v2/models/mlp/infer"
# (what is wrong, method, path, request arguments, status, a fragment of the one-line error)
BAD: list[tuple[str, str, str, dict, int, str]] = [  # type: ignore[type-arg]
    ("not JSON", "POST", INFER, {"content": b"{inputs"}, 400, "not JSON"),
    ("JSON's NaN token", "POST", INFER, {"content": b'{"inputs": NaN}'}, 400,
     "'inputs' must be a non-empty list"),
    ("NaN token for a pixel", "POST", INFER, {"content": _first_pixel("NaN")}, 400,
     "images cannot have missing values"),
    ("data not a list", "POST", INFER, {"json": _tensor(data="0.5")}, 400,
     "'data' must be a list, got str"),
    ("booleans for numbers", "POST", INFER, {"json": _tensor(data=[True] * 64)}, 400,
     "'data' is not a list of FP32 values (got booleans)"),
    ("nesting against the shape", "POST", INFER, {"json": _tensor(data=[[0.0] * 64])}, 400,
     "'data' is nested as [1, 64], not as 'shape' [1, 1, 8, 8]"),
    ("both data and binary", "POST", INFER,
     _binary({"inputs": [{**BIN, "data": [0.0] * 64, "parameters": {"binary_data_size": 256}}]},
             ZEROS), 400, "both 'data' and parameters.binary_data_size"),
    ("an output asked for twice", "POST", INFER, {"json": {**_tensor(), "outputs": [
     {"name": "label"}, {"name": "label"}]}}, 400, "output 'label' is asked for twice"),
    ("binary_data_output as text", "POST", INFER, {"json": {**_tensor(), "parameters": {
     "binary_data_output": "false"}}}, 400, "parameters.binary_data_output must be true or false"),
    ("a value beyond FP32", "POST", INFER, {"json": _tensor(datatype="FP64",
     data=[1e300] + [0.0] * 63)}, 400, "a value outside FP32's range"),
    ("trailing slash", "POST", INFER + "/", {"json": _tensor()}, 404, "no endpoint"),
    ("a JSON list", "POST", INFER, {"json": [1, 2]}, 400, "must be a JSON object"),
    ("no inputs", "POST", INFER, {"json": {}}, 400, "'inputs' must be a non-empty list"),
    ("inputs not a list", "POST", INFER, {"json": {"inputs": "x"}}, 400, "'inputs' must be"),
    ("input without name", "POST", INFER, {"json": _tensor(name=None)}, 400, "'name' must be"),
    ("no data", "POST", INFER, {"json": {"inputs": [BIN]}}, 400, "no 'data' and no"),
    ("wrong input name", "POST", INFER, {"json": _tensor(name="pixels")}, 400,
     "unknown input 'pixels'; the model takes 'input'"),
    ("input twice", "POST", INFER, {"json": {"inputs": _tensor()["inputs"] * 2}}, 400,
     "sent twice"),
    ("wrong image size", "POST", INFER,
     {"json": _tensor(shape=[1, 1, 8, 7], data=[0.0] * 56)}, 400,
     "shape [1, 1, 8, 7] is not [rows, 1, 8, 8]"),
    ("no batch axis", "POST", INFER, {"json": _tensor(shape=[1, 8, 8])}, 400,
     "shape [1, 8, 8] is not [rows, 1, 8, 8]"),
    ("shape and data disagree", "POST", INFER, {"json": _tensor(shape=[2, 1, 8, 8])}, 400,
     "'data' holds 64 values but 'shape' [2, 1, 8, 8] needs 128"),
    ("unknown datatype", "POST", INFER, {"json": _tensor(datatype="FP99")}, 400,
     "datatype 'FP99' is not one of"),
    ("datatype the model cannot take", "POST", INFER, {"json": _tensor(datatype="INT64",
     data=[0] * 64)}, 400, "datatype INT64 is not FP32 (or UINT8, FP16, FP64)"),
    ("text for numbers", "POST", INFER, {"json": _tensor(data=["a"] * 64)}, 400,
     "'data' is not a list of FP32 values"),
    ("ragged nested data", "POST", INFER, {"json": _tensor(data=[[0.0] * 8] * 7 + [[0.0]])},
     400, "'data' is not a list of FP32 values"),
    ("null pixel (NaN)", "POST", INFER, {"json": _tensor(data=[None] + [0.0] * 63)}, 400,
     "row 0 holds NaN (a missing value), and images cannot have missing values"),
    ("infinite pixel", "POST", INFER, {"content": _first_pixel("Infinity")}, 400,
     "row 0 holds an infinite value"),
    ("UINT8 out of range", "POST", INFER, {"json": _tensor(datatype="UINT8",
     data=[300] + [0] * 63)}, 400, "'data' is not a list of UINT8 values"),
    ("too many rows", "POST", INFER, {"json": _tensor(shape=[17, 1, 8, 8], data=[0.0] * 1088)},
     400, "17 rows: more than the 16 a request may have (--max-batch)"),
    ("no rows", "POST", INFER, {"json": _tensor(shape=[0, 1, 8, 8], data=[])}, 400,
     "the request has no rows"),
    ("negative dimension", "POST", INFER, {"json": _tensor(shape=[-1, 1, 8, 8])}, 400,
     "'shape' must be a list of non-negative integers"),
    ("shape as text", "POST", INFER, {"json": _tensor(shape="1,1,8,8")}, 400,
     "'shape' must be a list"),
    ("unknown output", "POST", INFER, {"json": {**_tensor(), "outputs": [{"name": "logits"}]}},
     400, "unknown output 'logits'; the model gives 'probabilities', 'label'"),
    ("outputs not a list", "POST", INFER, {"json": {**_tensor(), "outputs": "label"}}, 400,
     "'outputs' must be a list"),
    ("classification extension", "POST", INFER, {"json": {**_tensor(), "outputs": [
     {"name": "label", "parameters": {"classification": 3}}]}}, 400,
     "classification extension is not supported"),
    ("negative timeout", "POST", INFER, {"json": {**_tensor(), "parameters": {"timeout": -5}}},
     400, "parameters.timeout must be a number of µs (0: the server's), got -5"),
    ("too many dimensions", "POST", INFER, {"json": _tensor(shape=[1] * 40, data=[0.0])}, 400,
     "'shape' must have at most 32 dimensions"),
    ("a dimension NumPy cannot hold", "POST", INFER,
     {"json": _tensor(shape=[4611686018427387904, 0], data=[])}, 400,
     "'shape' must have at most 32 dimensions of at most 2147483647 each"),
    ("boolean binary size", "POST", INFER,
     _binary({"inputs": [{**BIN, "parameters": {"binary_data_size": True}}]}, ZEROS), 400,
     "binary_data_size must be a number of bytes (0 or more), got True"),
    ("header length not a number", "POST", INFER,
     _binary({"inputs": [{**BIN, "parameters": {"binary_data_size": 256}}]}, ZEROS, "abc"), 400,
     "Inference-Header-Content-Length 'abc' is not a length"),
    ("header length past the body", "POST", INFER,
     _binary({"inputs": [{**BIN, "parameters": {"binary_data_size": 256}}]}, ZEROS, 99999), 400,
     "is not a length within the"),
    ("binary size wrong for the shape", "POST", INFER,
     _binary({"inputs": [{**BIN, "parameters": {"binary_data_size": 128}}]}, ZEROS[:128]), 400,
     "binary_data_size is 128 bytes, but 64 FP32 values (shape [1, 1, 8, 8]) take 256"),
    ("binary size past the body", "POST", INFER,
     _binary({"inputs": [{**BIN, "parameters": {"binary_data_size": 512}}]}, ZEROS), 400,
     "binary_data_size 512 runs past the 256 bytes"),
    ("bytes belonging to no input", "POST", INFER,
     _binary({"inputs": [{**BIN, "parameters": {"binary_data_size": 256}}]}, ZEROS + b"xx"),
     400, "2 bytes after the JSON header belong to no input"),
    ("unknown content encoding", "POST", INFER,
     {"json": _tensor(), "headers": {"Content-Encoding": "br"}}, 400,
     "Content-Encoding 'br': send gzip, deflate or none"),
    ("not gzip", "POST", INFER, {"content": b"plain", "headers": {"Content-Encoding": "gzip"}},
     400, "not valid gzip data"),
    ("body over the limit", "POST", INFER, {"content": b" " * (2**20 + 10)}, 413,
     "over the limit of 1048576 bytes (--max-body-mb)"),
    ("chunked body over the limit", "POST", INFER,
     {"content": iter([b" " * 2**19] * 3)}, 413, "over the limit of 1048576 bytes"),
    ("gzip bomb", "POST", INFER, {"content": __import__("gzip").compress(b" " * 2**21),
     "headers": {"Content-Encoding": "gzip"}}, 413, "the inflated body is over the limit"),
    ("unknown model", "POST", "/v2/models/resnet/infer", {"json": _tensor()}, 404,
     "model 'resnet' is not served here; this server serves 'mlp'"),
    ("unknown version", "POST", "/v2/models/mlp/versions/2/infer", {"json": _tensor()}, 404,
     "has no version '2'"),
    ("unknown model's metadata", "GET", "/v2/models/resnet", {}, 404, "not served here"),
    ("GET on infer", "GET", INFER, {}, 405, "GET is not allowed on /v2/models/mlp/infer"),
    ("unknown path", "GET", "/v1/models/mlp", {}, 404, "no endpoint /v1/models/mlp"),
]  # fmt: skip


def test_bad_requests_get_one_line_errors_and_the_server_keeps_serving(digits) -> None:  # type: ignore[no-untyped-def]
    run, ref = digits
    good = _body(np.arange(4))
    with served(run, "--max-batch", "16") as server, httpx.Client(base_url=server.url) as client:
        for what, method, path, kwargs, status, fragment in BAD:
            answer = client.request(method, path, **kwargs)
            assert answer.status_code == status, (what, answer.text)
            error = answer.json()["error"]
            assert fragment in error, (what, error)
            assert "\n" not in error and "Traceback" not in error, what
            _check(client.post(INFER, json=good).json(), np.arange(4), ref)  # still serving
        values = _metrics(server.url)
        assert server.process.poll() is None
    served_ok = values[("zenopt_requests_total", (("endpoint", "infer"), ("status", "200")))]
    assert served_ok == len(BAD)
    assert not any(name == "zenopt_requests_total" and ("status", "500") in labels
                   for name, labels in values)  # fmt: skip
    assert "Traceback" not in server.stderr


def test_export_names_the_classes_for_tritons_classification(digits, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from google.protobuf import text_format

    run, _ = digits
    result = CliRunner().invoke(app, ["serve", str(run), "--export", str(tmp_path / "repo")])
    assert result.exit_code == 0, result.output
    pb = triton_model_config()
    config = text_format.Parse((tmp_path / "repo/mlp/config.pbtxt").read_text(), pb.ModelConfig())
    assert config.input[0].name == "input" and list(config.input[0].dims) == [1, 8, 8]
    assert config.output[0].label_filename == "labels.txt" and list(config.output[0].dims) == [10]
    labels = (tmp_path / "repo/mlp/labels.txt").read_text().splitlines()
    assert labels == [str(d) for d in range(10)]  # the model's class order
