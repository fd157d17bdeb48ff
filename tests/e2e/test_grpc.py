"""Open Inference Protocol over gRPC, on a real server, with Triton's unmodified client.

Every model kind of the shared serving registry is asked over gRPC and over REST;
both must give the in-process predictions. Every InferParameter kind sent comes back
with its kind and value (the server answers with the request's parameters).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import numpy as np
import pandas as pd
import pytest
import tritonclient.grpc as tg
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import (
    InferenceServerException,
    deserialize_bytes_tensor,
    triton_to_np_dtype,
)

from modelbay import Bay
from tests.conftest import MODELS
from tests.e2e.servers import free_port, running_server


@pytest.fixture(scope="module")
def endpoints(serve_home: Path) -> Iterator[tuple[str, str]]:
    grpc_port = free_port()
    with running_server(serve_home, "--grpc-port", str(grpc_port)) as url:
        yield url, f"127.0.0.1:{grpc_port}"


def grpc_inputs(rows: pd.DataFrame) -> list[tg.InferInput]:
    out = []
    for name in rows.columns:
        col = rows[name]
        if pd.api.types.is_bool_dtype(col.dtype):
            arr, dt = col.to_numpy(dtype=bool), "BOOL"
        elif pd.api.types.is_numeric_dtype(col.dtype):
            arr, dt = col.to_numpy(dtype=np.float64), "FP64"
        else:
            arr, dt = np.array([str(v).encode() for v in col], dtype=np.object_), "BYTES"
        inp = tg.InferInput(name, [len(col)], dt)
        inp.set_data_from_numpy(arr)
        out.append(inp)
    return out


@pytest.mark.parametrize("name", list(MODELS))
def test_grpc_and_rest_equal_in_process(
    endpoints: tuple[str, str], serve_bay: Bay, serve_data: dict[str, pd.DataFrame], name: str
) -> None:
    url, target = endpoints
    rows = serve_data[name]
    labels = [c for c in rows.columns if not pd.api.types.is_numeric_dtype(rows[c].dtype)]
    rows = rows.dropna(subset=labels).head(30).reset_index(drop=True)  # BYTES has no null
    predictor = serve_bay.load(name)
    task = predictor.version.task
    want = predictor.predict(rows)
    client = tg.InferenceServerClient(target)
    outputs = [tg.InferRequestedOutput("predict")]
    if task == "classification":
        outputs.append(tg.InferRequestedOutput("predict_proba"))
    result = client.infer(name, grpc_inputs(rows), outputs=outputs)
    got = result.as_numpy("predict")
    rest = httpx.post(
        f"{url}/v1/models/{name}:predict",
        timeout=30,
        json={"instances": rows.astype(object).where(rows.notna(), None).to_dict("records")},
    )
    assert rest.status_code == 200, rest.text
    if task == "regression":
        np.testing.assert_allclose(got, want, rtol=1e-4)
        np.testing.assert_allclose(rest.json()["predictions"], want, rtol=1e-4)
    else:
        decoded = [v.decode() if isinstance(v, bytes) else v for v in got.tolist()]
        assert [str(v) for v in decoded] == [str(v) for v in want]
        assert [str(v) for v in rest.json()["predictions"]] == [str(v) for v in want]
    if task == "classification":
        np.testing.assert_allclose(
            result.as_numpy("predict_proba"), predictor.predict_proba(rows).to_numpy(), atol=1e-4
        )
    client.close()


def test_grpc_metadata_health_and_errors(
    endpoints: tuple[str, str], serve_data: dict[str, pd.DataFrame]
) -> None:
    _, target = endpoints
    client = tg.InferenceServerClient(target)
    assert (
        client.is_server_live() and client.is_server_ready() and client.is_model_ready("bc-forest")
    )
    assert client.get_server_metadata().name == "modelbay"
    meta = client.get_model_metadata("bc-forest")
    assert meta.platform == "onnxruntime_onnx" and len(meta.inputs) == 30
    rows = serve_data["bc-forest"].head(2)
    with pytest.raises(InferenceServerException, match="NOT_FOUND"):
        client.infer("ghost", grpc_inputs(rows))
    with pytest.raises(InferenceServerException, match="missing column"):
        client.infer("bc-forest", grpc_inputs(rows.drop(columns="mean radius")))
    bad = tg.InferInput("x", [1, 30], "FP64")
    bad.set_data_from_numpy(np.full((1, 30), np.inf))
    with pytest.raises(InferenceServerException, match="infinite value"):
        client.infer("bc-forest", [bad])
    ok = client.infer("bc-forest", grpc_inputs(rows))
    assert ok.as_numpy("predict").shape == (2,)
    client.close()


# one of each kind tritonclient sends: bool, int64, string and double from `parameters`
SENT = {"flag": True, "count": -(2**40), "label": "naïve ✓", "ratio": 0.1 + 0.2}


def kind_and_value(param: service_pb2.InferParameter) -> tuple[str, object]:
    kind = param.WhichOneof("parameter_choice")
    assert kind is not None, "a parameter came back with no value"
    return kind, getattr(param, kind)


@pytest.mark.parametrize(
    ("priority", "back"),
    [
        (2**64 - 1, ("uint64_param", 2**64 - 1)),  # past int64: stays uint64
        (2**63, ("uint64_param", 2**63)),
        (7, ("int64_param", 7)),  # a uint64 that int64 holds goes out as int64, same value
    ],
)
def test_every_parameter_kind_round_trips(
    endpoints: tuple[str, str],
    serve_data: dict[str, pd.DataFrame],
    priority: int,
    back: tuple[str, int],
) -> None:
    _, target = endpoints
    client = tg.InferenceServerClient(target)
    rows = serve_data["bc-forest"].head(2)
    # tritonclient sends `priority` as uint64_param, the fifth kind
    result = client.infer("bc-forest", grpc_inputs(rows), parameters=SENT, priority=priority)
    client.close()
    got = result.get_response().parameters
    assert {k: kind_and_value(got[k]) for k in [*SENT, "priority"]} == {
        "flag": ("bool_param", True),
        "count": ("int64_param", -(2**40)),
        "label": ("string_param", "naïve ✓"),
        "ratio": ("double_param", 0.1 + 0.2),  # None, then "None", before the .proto
        "priority": back,
    }
    assert kind_and_value(got["runtime"])[0] == "string_param"
    kind, size = kind_and_value(got["batch_size"])
    assert kind == "int64_param" and isinstance(size, int) and size >= 2
    assert result.as_numpy("predict").shape == (2,)


def typed_request(model: str, rows: pd.DataFrame) -> service_pb2.ModelInferRequest:
    """A request with its data in InferTensorContents (tritonclient always sends raw bytes)."""
    req = service_pb2.ModelInferRequest(model_name=model)
    values = rows.to_numpy(dtype=np.float64)
    tensor = req.inputs.add(name="x", datatype="FP64", shape=list(values.shape))
    tensor.contents.fp64_contents.extend(values.ravel().tolist())
    return req


def test_typed_contents_and_a_parameter_without_value(
    endpoints: tuple[str, str], serve_bay: Bay, serve_data: dict[str, pd.DataFrame]
) -> None:
    _, target = endpoints
    rows = serve_data["bc-forest"].head(3)
    want = serve_bay.load("bc-forest").predict(rows)
    with grpc.insecure_channel(target) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        answer = stub.ModelInfer(typed_request("bc-forest", rows), timeout=30)
        empty = typed_request("bc-forest", rows)
        empty.parameters["threshold"].SetInParent()  # present, but none of its five kinds set
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelInfer(empty, timeout=30)
    [out] = answer.outputs
    assert out.name == "predict" and list(out.shape) == [3]
    raw = answer.raw_output_contents[0]
    if out.datatype == "BYTES":
        got = [v.decode() for v in deserialize_bytes_tensor(raw).tolist()]
    else:
        got = np.frombuffer(raw, dtype=triton_to_np_dtype(out.datatype)).tolist()
    assert [str(v) for v in got] == [str(v) for v in want]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "parameter 'threshold' has no value" in str(caught.value.details())
