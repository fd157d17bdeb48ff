"""Any ONNX model in, images too: a small CNN trained with torch on the digits images,
exported to ONNX, imported by the CLI and by Python, served by a real ``modelbay serve``
and asked with Triton's unmodified clients (REST, JSON and binary, and gRPC).

The answers must equal ONNX Runtime's in this process, the labels must be accurate on
held-out digits, bad shapes and types are refused with what to send, drift says it does
not apply, and feedback gives live accuracy.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.http as th
from tritonclient.utils import InferenceServerException
from typer.testing import CliRunner

from modelbay import Bay
from modelbay.cli import build_cli
from tests.digits_cnn import Digits, train_digits
from tests.e2e.servers import free_port, running_server
from tests.polling import wait_for

pytest.importorskip("torch")
HAS_GRPC = importlib.util.find_spec("grpc") is not None
SHAPE = [-1, 1, 8, 8]


@dataclass(frozen=True)
class Served:
    url: str
    grpc: str  # host:port, "" without the grpc extra
    home: Path
    digits: Digits


def cli(home: Path, *args: str) -> str:
    result = CliRunner().invoke(
        build_cli(), ["--home", str(home), *args], env={"COLUMNS": "300"}, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("digits")
    digits = train_digits(folder)
    home = folder / "home"
    out = cli(
        home, "models", "import", str(digits.onnx), "--name", "digits", "--task", "classification"
    )
    assert "registered digits:1" in out and "classification" in out, out
    with Bay(home=home) as bay:  # the Python face: the graph's outputs as they are
        raw = bay.import_model(digits.onnx, "digits-raw")
        assert (raw.task, raw.flavor) == ("tensor", "onnx")
    port = free_port() if HAS_GRPC else 0
    args = ("--workers", "1", *(("--grpc-port", str(port)) if port else ()))
    with running_server(home, *args) as url:
        yield Served(url, f"127.0.0.1:{port}" if port else "", home, digits)


def in_process(digits: Digits, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(digits.onnx), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["logits"], {"image": x})[0])


def http_infer(url: str, x: np.ndarray, *, binary: bool, model: str = "digits") -> th.InferResult:
    client = th.InferenceServerClient(url.removeprefix("http://"))
    image = th.InferInput("image", list(x.shape), "FP32")
    image.set_data_from_numpy(x, binary_data=binary)
    wanted = [th.InferRequestedOutput(n, binary_data=binary) for n in ("logits", "predict")]
    return client.infer(model, [image], outputs=wanted)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_tritonclient_http_equals_onnxruntime_and_is_accurate(served: Served, binary: bool) -> None:
    d = served.digits
    result = http_infer(served.url, d.x_test, binary=binary)
    logits, labels = result.as_numpy("logits"), result.as_numpy("predict")
    assert logits.dtype == np.float32 and logits.shape == (len(d.x_test), 10)
    np.testing.assert_allclose(logits, in_process(d, d.x_test), rtol=1e-5, atol=1e-5)
    assert (labels == logits.argmax(axis=1)).all()
    assert float((labels == d.y_test).mean()) > 0.9


def test_a_graph_imported_without_a_task_answers_its_outputs_only(served: Served) -> None:
    x = served.digits.x_test[:3]
    client = th.InferenceServerClient(served.url.removeprefix("http://"))
    image = th.InferInput("image", list(x.shape), "FP32")
    image.set_data_from_numpy(x)
    result = client.infer("digits-raw", [image])
    assert [o["name"] for o in result.get_response()["outputs"]] == ["logits"]
    np.testing.assert_allclose(
        result.as_numpy("logits"), in_process(served.digits, x), rtol=1e-5, atol=1e-5
    )


def test_metadata_reports_the_graph_tensors(served: Served) -> None:
    meta = httpx.get(f"{served.url}/v2/models/digits").json()
    assert meta["platform"] == "onnxruntime_onnx"
    assert meta["inputs"] == [{"name": "image", "datatype": "FP32", "shape": SHAPE}]
    assert meta["outputs"] == [
        {"name": "logits", "datatype": "FP32", "shape": [-1, 10]},
        {"name": "predict", "datatype": "INT64", "shape": [-1]},
    ]
    client = th.InferenceServerClient(served.url.removeprefix("http://"))
    assert client.get_model_metadata("digits")["inputs"] == meta["inputs"]


@pytest.mark.parametrize(
    ("shape", "datatype", "says"),
    [
        ([1, 64], "FP32", "expects shape [-1, 1, 8, 8]"),
        ([2, 1, 8, 9], "FP32", "expects shape [-1, 1, 8, 8]"),
        ([1, 1, 8, 8], "FP64", "expects FP32, got FP64"),
        ([1, 1, 8, 8], "INT64", "expects FP32, got INT64"),
    ],
)
def test_a_wrong_shape_or_type_is_a_400_that_says_what_to_send(
    served: Served, shape: list[int], datatype: str, says: str
) -> None:
    data = [0] * int(np.prod(shape))
    body = {"inputs": [{"name": "image", "shape": shape, "datatype": datatype, "data": data}]}
    r = httpx.post(f"{served.url}/v2/models/digits/infer", json=body)
    assert r.status_code == 400, r.text
    assert says in r.json()["error"] and "image FP32 [-1, 1, 8, 8]" in r.json()["error"]
    missing = httpx.post(
        f"{served.url}/v2/models/digits/infer",
        json={"inputs": [{"name": "pixels", "shape": [1], "datatype": "FP32", "data": [0]}]},
    )
    assert missing.status_code == 400 and "unknown input 'pixels'" in missing.json()["error"]


@pytest.mark.skipif(not HAS_GRPC, reason="the grpc extra is not installed")
def test_tritonclient_grpc_equals_onnxruntime_and_checks_shapes(served: Served) -> None:
    import tritonclient.grpc as tg

    d = served.digits
    client = tg.InferenceServerClient(served.grpc)
    image = tg.InferInput("image", list(d.x_test.shape), "FP32")
    image.set_data_from_numpy(d.x_test)  # raw_input_contents
    result = client.infer("digits", [image], outputs=[tg.InferRequestedOutput("logits")])
    np.testing.assert_allclose(
        result.as_numpy("logits"), in_process(d, d.x_test), rtol=1e-5, atol=1e-5
    )
    meta = client.get_model_metadata("digits", as_json=True)
    assert meta["inputs"] == [
        {"name": "image", "datatype": "FP32", "shape": [str(s) for s in SHAPE]}
    ]
    flat = tg.InferInput("image", [1, 64], "FP32")
    flat.set_data_from_numpy(d.x_test[:1].reshape(1, 64))
    with pytest.raises(InferenceServerException, match=r"expects shape \[-1, 1, 8, 8\]") as bad:
        client.infer("digits", [flat])
    assert bad.value.status() == "StatusCode.INVALID_ARGUMENT"


@pytest.mark.skipif(not HAS_GRPC, reason="the grpc extra is not installed")
def test_grpc_fp16_without_raw_contents_is_invalid_not_internal(served: Served) -> None:
    """FP16 has no typed contents field in the protocol: such a request said INTERNAL (a
    KeyError in the server) before; now INVALID_ARGUMENT and where the data goes."""
    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    tensor = service_pb2.ModelInferRequest.InferInputTensor(
        name="image", datatype="FP16", shape=[1, 1, 8, 8]
    )
    request = service_pb2.ModelInferRequest(model_name="digits", inputs=[tensor])
    with grpc.insecure_channel(served.grpc) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as typed:
            stub.ModelInfer(request)
        assert typed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "FP16 data goes in raw_input_contents" in str(typed.value.details())
        request.raw_input_contents.append(np.zeros(64, dtype=np.float16).tobytes())
        with pytest.raises(grpc.RpcError) as raw:
            stub.ModelInfer(request)
        assert "input 'image' expects FP32, got FP16" in str(raw.value.details())


def test_feedback_gives_live_accuracy_and_drift_does_not_apply(served: Served) -> None:
    d = served.digits
    n = 60
    answers = []
    for i in range(0, n, 20):  # three requests, each with its id
        x = d.x_test[i : i + 20]
        body = {
            "id": f"digits-{i}",
            "inputs": [
                {
                    "name": "image",
                    "shape": list(x.shape),
                    "datatype": "FP32",
                    "data": x.ravel().tolist(),
                }
            ],
            "outputs": [{"name": "predict"}],
        }
        r = httpx.post(f"{served.url}/v2/models/digits/infer", json=body)
        assert r.status_code == 200, r.text
        answers.append(r.json())
    predicted = np.concatenate([a["outputs"][0]["data"] for a in answers])
    feedback = [
        {"request_id": a["id"], "truth": d.y_test[i : i + 20].tolist()}
        for i, a in zip(range(0, n, 20), answers, strict=True)
    ]
    stored = httpx.post(f"{served.url}/v1/feedback", json={"feedback": feedback}).json()
    assert stored == {"stored": 3, "matched": 3, "unmatched": []}

    def live() -> dict[str, float] | None:
        found = httpx.get(f"{served.url}/api/monitor/digits/quality?window=1h").json()
        version = found["versions"].get("1")
        return version["live"] if version and version["rows"] == n else None

    accuracy = wait_for(live, 30, 0.25, "the feedback of 60 rows in the live quality")["accuracy"]
    assert accuracy == pytest.approx(float((predicted == d.y_test[:n]).mean()))
    assert accuracy > 0.9
    drift = httpx.get(f"{served.url}/api/monitor/digits/drift?window=1h")
    assert drift.status_code == 200 and drift.json()["applicable"] is False
    assert "does not apply" in drift.json()["reason"] and "image FP32" in drift.json()["reason"]
    said = cli(served.home, "drift", "digits")
    assert "drift per feature does not apply to digits:1" in " ".join(said.split())
    metrics = httpx.get(f"{served.url}/metrics").text
    assert 'deployment="digits"' in metrics
