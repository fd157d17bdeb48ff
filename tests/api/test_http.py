"""The HTTP face through FastAPI's test client: every route, every model kind, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from modelbay import Bay, Settings
from modelbay.api.app import create_app
from tests.conftest import MODELS


@pytest.fixture(scope="module")
def client(serve_home: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(home=serve_home, auth=False))) as c:
        yield c


def tensors(rows: pd.DataFrame) -> dict[str, object]:
    out = []
    for name in rows.columns:
        col = rows[name]
        if pd.api.types.is_bool_dtype(col.dtype):
            out.append(
                {"name": name, "shape": [len(col)], "datatype": "BOOL", "data": col.tolist()}
            )
        elif pd.api.types.is_numeric_dtype(col.dtype):
            data = [None if pd.isna(v) else float(v) for v in col]
            out.append({"name": name, "shape": [len(col)], "datatype": "FP64", "data": data})
        else:
            data = [None if pd.isna(v) else str(v) for v in col]
            out.append({"name": name, "shape": [len(col)], "datatype": "BYTES", "data": data})
    return {"inputs": out}


def test_health_and_server_metadata(client: TestClient) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    meta = client.get("/v2").json()
    assert meta["name"] == "modelbay" and "binary_tensor_data" in meta["extensions"]


@pytest.mark.parametrize("name", list(MODELS))
def test_v2_infer_equals_in_process(
    client: TestClient, serve_bay: Bay, serve_data: dict[str, pd.DataFrame], name: str
) -> None:
    rows = serve_data[name].head(40)
    predictor = serve_bay.load(name)
    version = predictor.version
    body = tensors(rows)
    if version.task == "classification":
        body["outputs"] = [{"name": "predict"}, {"name": "predict_proba"}]
    r = client.post(f"/v2/models/{name}/infer", json={**body, "id": "abc"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["id"] == "abc" and doc["model_name"] == name and doc["model_version"] == "1"
    out = {o["name"]: o for o in doc["outputs"]}
    want = predictor.predict(rows)
    if version.task == "regression":
        np.testing.assert_allclose(out["predict"]["data"], want, rtol=1e-4)
    else:
        assert [str(v) for v in out["predict"]["data"]] == [str(v) for v in want]
    if version.task == "classification":
        proba = np.asarray(out["predict_proba"]["data"]).reshape(out["predict_proba"]["shape"])
        np.testing.assert_allclose(proba, predictor.predict_proba(rows).to_numpy(), atol=1e-4)
    expected_runtime = version.serving.get("runtime", "sklearn")
    assert doc["parameters"]["runtime"] == expected_runtime


def test_model_metadata(client: TestClient) -> None:
    meta = client.get("/v2/models/bc-forest").json()
    assert meta["platform"] == "onnxruntime_onnx" and meta["versions"] == ["1"]
    assert len(meta["inputs"]) == 30 and meta["inputs"][0] == {
        "name": "mean radius",
        "datatype": "FP64",
        "shape": [-1],
    }
    assert [o["name"] for o in meta["outputs"]] == ["predict", "predict_proba"]
    churn = client.get("/v2/models/churn").json()
    kinds = {i["name"]: i["datatype"] for i in churn["inputs"]}
    assert kinds["plan"] == "BYTES" and kinds["active"] == "BOOL" and churn["platform"] == "sklearn"
    assert client.get("/v2/models/churn/ready").json() == {"name": "churn", "ready": True}
    assert client.get("/v2/models/churn/versions/1").json()["parameters"]["model"] == "churn:1"


def test_matrix_tensor_and_versioned_route(
    client: TestClient, serve_data: dict[str, pd.DataFrame]
) -> None:
    x = serve_data["diabetes-ridge"].head(5).to_numpy()
    body = {
        "inputs": [
            {
                "name": "input-0",
                "shape": list(x.shape),
                "datatype": "FP32",
                "data": x.ravel().tolist(),
            }
        ]
    }
    a = client.post("/v2/models/diabetes-ridge/infer", json=body).json()
    b = client.post("/v2/models/diabetes-ridge/versions/1/infer", json=body).json()
    assert a["outputs"][0]["data"] == b["outputs"][0]["data"] and len(a["outputs"][0]["data"]) == 5


def test_convenience_route_shapes(
    client: TestClient, serve_bay: Bay, serve_data: dict[str, pd.DataFrame]
) -> None:
    rows = serve_data["iris-svm"].head(4)
    want = serve_bay.load("iris-svm").predict(rows).tolist()
    records = rows.to_dict("records")
    for body in (
        {"instances": records},
        {"instances": rows.to_numpy().tolist()},
        {"columns": list(rows.columns), "data": rows.to_numpy().tolist()},
        {"dataframe_split": {"columns": list(rows.columns), "data": rows.to_numpy().tolist()}},
        {"dataframe_records": records},
    ):
        r = client.post("/v1/models/iris-svm:predict", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == want
    r = client.post(
        "/v1/models/iris-svm:predict?probabilities=true", json={"instances": records}
    ).json()
    assert r["classes"] == ["setosa", "versicolor", "virginica"]
    assert np.allclose(np.sum(r["probabilities"], axis=1), 1.0)


BAD = [
    ("/v2/models/bc-forest/infer", b"{not json", 400, "not valid JSON"),
    ("/v2/models/bc-forest/infer", b"[]", 400, "JSON object"),
    (
        "/v2/models/bc-forest/infer",
        b'{"inputs": [{"name": "mean radius", "shape": [1], "datatype": "FP64", "data": [1]}]}',
        400,
        "missing column",
    ),
    (
        "/v2/models/bc-forest/infer",
        b'{"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64", "data": [1]}]}',
        400,
        "shape says 30 elements",
    ),
    (
        "/v2/models/ghost/infer",
        b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}]}',
        404,
        "no model of that name",
    ),
    (
        "/v2/models/diabetes-ridge/infer",
        b'{"inputs": [{"name": "x", "shape": [1,10], "datatype": "FP64", "data": [1,2,3,4,5,6,7,8,9,"a"]}]}',
        400,
        "not a valid FP64",
    ),
    (
        "/v2/models/diabetes-ridge/infer",
        b'{"inputs": [{"name": "x", "shape": [1,10], "datatype": "FP64", "data": [1,2,3,4,5,6,7,8,9,1e999]}]}',
        400,
        "infinity",
    ),
    (
        "/v2/models/diabetes-ridge/infer",
        b'{"inputs": [{"name": "x", "shape": [1,10], "datatype": "FP64", "data": [1,2,3,4,5,6,7,8,9,10]}], "outputs": [{"name": "predict_proba"}]}',
        400,
        "only from classifiers",
    ),
    (
        "/v2/models/bc-forest/versions/7/infer",
        b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}]}',
        404,
        "no version 7",
    ),
    (
        "/v2/models/bc-forest/versions/0/infer",
        b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}]}',
        400,
        "start at 1",
    ),
    (
        "/v2/models/Bad Name!/infer",
        b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}]}',
        422,
        "not valid",
    ),
    ("/v1/models/iris-svm:predict", b'{"instances": []}', 400, "non-empty list"),
    (
        "/v1/models/iris-svm:predict",
        b'{"instances": [{"sepal length (cm)": 1}]}',
        400,
        "missing column",
    ),
    (
        "/v1/models/iris-svm:predict",
        b'{"columns": ["a"], "data": [[1, 2]]}',
        400,
        "row 0 has 2 values",
    ),
    ("/v1/models/iris-svm:predict", b'{"rows": 1}', 400, "give rows as"),
]


@pytest.mark.parametrize(("path", "body", "status", "message"), BAD)
def test_malformed_requests_get_4xx_and_the_server_keeps_serving(
    client: TestClient,
    serve_data: dict[str, pd.DataFrame],
    path: str,
    body: bytes,
    status: int,
    message: str,
) -> None:
    r = client.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert message in r.json()["error"]
    ok = client.post("/v2/models/bc-forest/infer", json=tensors(serve_data["bc-forest"].head(1)))
    assert ok.status_code == 200


def test_binary_tensors_with_nan_or_inf_are_refused(client: TestClient) -> None:
    import orjson

    for value, message in ((np.inf, "infinite value"), (np.nan, "missing value")):
        raw = np.array([[1.0] * 9 + [value]], dtype="<f8").tobytes()
        head = orjson.dumps(
            {
                "inputs": [
                    {
                        "name": "x",
                        "shape": [1, 10],
                        "datatype": "FP64",
                        "parameters": {"binary_data_size": len(raw)},
                    }
                ]
            }
        )
        r = client.post(
            "/v2/models/diabetes-linear/infer",
            content=head + raw,
            headers={
                "Inference-Header-Content-Length": str(len(head)),
                "content-type": "application/octet-stream",
            },
        )
        if np.isinf(value):
            assert r.status_code == 400 and message in r.json()["error"]
        else:  # these columns are nullable: a NaN is imputed
            assert r.status_code == 200, r.text


def test_a_body_over_the_limit_is_refused(serve_home: Path) -> None:
    app = create_app(Settings(home=serve_home, auth=False, max_body_mb=0.01))
    with TestClient(app) as c:
        r = c.post("/v2/models/bc-forest/infer", content=b"x" * 20_000)
        assert r.status_code == 413 and "over the limit" in r.json()["error"]


def test_management_api_moves_aliases_and_edits_deployments(
    tmp_path: Path, iris: pd.DataFrame
) -> None:
    with Bay(home=tmp_path) as bay:
        bay.train(iris, "species", name="flowers", algorithm="logistic_regression", trials=1, cv=2)
        bay.train(iris, "species", name="flowers", algorithm="random_forest", trials=1, cv=2)
    with TestClient(create_app(Settings(home=tmp_path, poll_interval_s=0, auth=False))) as c:
        assert [m["name"] for m in c.get("/api/models").json()] == ["flowers"]
        versions = c.get("/api/models/flowers/versions").json()
        assert [v["version"] for v in versions] == [1, 2] and versions[0]["serving"][
            "runtime"
        ] == "onnx"
        d = c.put(
            "/api/deployments/prod", json={"model": "flowers@champion", "max_batch": 8}
        ).json()
        assert d["model"] == "flowers@champion" and d["max_batch"] == 8
        x = iris.drop(columns="species").head(2)
        assert (
            c.post("/v1/models/prod:predict", json={"instances": x.to_dict("records")}).json()[
                "model_version"
            ]
            == "1"
        )
        c.put("/api/models/flowers/aliases/champion", json={"version": 2})
        c.put(
            "/api/deployments/prod", json={"model": "flowers@champion", "max_batch": 16}
        )  # refreshes
        assert (
            c.post("/v1/models/prod:predict", json={"instances": x.to_dict("records")}).json()[
                "model_version"
            ]
            == "2"
        )
        assert c.get("/api/deployments/prod").json()["serving"]["version"] == "flowers:2"
        assert c.put("/api/deployments/bad", json={"model": "nothing@champion"}).status_code == 404
        assert (
            c.put("/api/deployments/bad", json={"model": "flowers", "max_batch": 0}).status_code
            == 422
        )
        assert c.delete("/api/deployments/prod").status_code == 204
        assert (
            c.post("/v1/models/prod:predict", json={"instances": x.to_dict("records")}).status_code
            == 404
        )


def test_the_fastapi_app_alone_declares_inference_but_does_not_answer_it(
    serve_home: Path, serve_data: dict[str, pd.DataFrame]
) -> None:
    """One path: the front answers inference; FastAPI only declares the routes for OpenAPI,
    so a test through the bare FastAPI app cannot pass on a path production does not use."""
    body = tensors(serve_data["iris-svm"].head(5))
    app = create_app(Settings(home=serve_home, auth=False))
    with TestClient(app.api) as plain:  # the FastAPI app alone, without the front
        r = plain.post("/v2/models/iris-svm/infer", json=body)
        assert r.status_code == 500
        assert "answered by modelbay's front" in r.json()["error"]


def test_openapi_describes_every_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/v2/models/{name}/infer", "/v1/models/{name}:predict", "/api/deployments/{name}"):
        assert path in spec["paths"]
    assert "requestBody" in spec["paths"]["/v2/models/{name}/infer"]["post"]
    assert client.get("/docs").status_code == 200


def test_a_registry_can_be_shared_with_the_app(serve_home: Path) -> None:
    with (
        Bay(Settings(home=serve_home, auth=False)) as bay,
        TestClient(create_app(bay.serve())) as c,
    ):
        assert c.get("/v2/models/iris-kmeans").json()["outputs"][0]["datatype"] == "INT64"
