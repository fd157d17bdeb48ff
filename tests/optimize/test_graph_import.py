"""Importing an ONNX graph as it is: its own tensors as the signature, one run before anything
is written, and the graph served with those tensors checked (through the HTTP test client)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from modelbay import Bay, Settings
from modelbay.api.app import create_app
from modelbay.data.signature import TensorSpec
from modelbay.errors import SchemaError, ValidationError
from modelbay.monitor.drift import measure_drift
from tests import graphs


def test_the_signature_is_the_graphs_tensors_and_survives_the_registry(sqlite_bay: Bay) -> None:
    v = sqlite_bay.import_model(graphs.scaled_sum(), "sums")
    assert (v.task, v.flavor, v.artifact_format) == ("tensor", "onnx", "onnx")
    again = sqlite_bay.models.get("sums")
    assert again.signature.tensor_inputs == [
        TensorSpec("x", "FP32", [-1, 3], ["batch", ""]),
        TensorSpec("flip", "BOOL", [-1, 1], ["batch", ""]),
    ]
    assert [t.describe() for t in again.signature.tensor_outputs] == [
        "total FP32 [-1, 1]",
        "square FP32 [-1, 3]",
    ]
    assert again.signature.inputs == [] and again.serving["batched"] is True


@pytest.mark.parametrize(
    ("graph", "says"),
    [
        (graphs.broken, "does not run on made-up inputs of its own signature"),
        (graphs.sequence_output, "seq(tensor(float)): only tensors can be served"),
        (lambda: b"\x08\x07garbage that is no protobuf", "neither a skops file"),
    ],
    ids=["fails-on-a-batch", "sequence-output", "garbage"],
)
def test_a_graph_that_cannot_be_served_is_refused_and_nothing_is_registered(
    sqlite_bay: Bay, graph: object, says: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(says)):
        sqlite_bay.import_model(graph(), "bad")  # type: ignore[operator]
    assert sqlite_bay.models.list() == []
    assert sqlite_bay.models.referenced_digests() == set()


def test_a_classifier_needs_scores_and_one_class_per_column(sqlite_bay: Bay) -> None:
    with pytest.raises(
        ValidationError, match=r"needs a floating-point output of shape \[n, classes\]"
    ):
        sqlite_bay.import_model(graphs.masked_ids(), "ids", task="classification")
    with pytest.raises(ValidationError, match="3 classes given, but output 'scores' scores 2"):
        sqlite_bay.import_model(graphs.two_classes(), "two", task="classification", classes="abc")
    with pytest.raises(ValidationError, match="not one of: tensor, classification, regression"):
        sqlite_bay.import_model(graphs.two_classes(), "two", task="clustering")
    v = sqlite_bay.import_model(
        graphs.two_classes(), "two", task="classification", classes=["no", "yes"]
    )
    assert (v.signature.output.name, v.signature.output.classes) == ("scores", ["no", "yes"])


def test_drift_says_it_does_not_apply_before_any_request(sqlite_bay: Bay) -> None:
    sqlite_bay.import_model(graphs.scaled_sum(), "sums")
    found = measure_drift(sqlite_bay.db, sqlite_bay.models, "sums", 3600)
    assert found["applicable"] is False and found["features"] == []
    assert "x FP32 [-1, 3], flip BOOL [-1, 1]" in found["reason"]


def test_rows_of_columns_are_refused_with_where_to_send_tensors(sqlite_bay: Bay) -> None:
    sqlite_bay.import_model(graphs.two_classes(), "two")
    with pytest.raises(SchemaError, match=r"takes tensors, not rows of columns.*x FP32 \[-1, 2\]"):
        sqlite_bay.load("two").predict([{"x": 1.0}])


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    home = tmp_path / "served"
    with Bay(home=home) as bay:
        bay.import_model(graphs.scaled_sum(), "sums")
        bay.import_model(graphs.masked_ids(), "ids")
        bay.import_model(graphs.scaled_sum(), "sums-value", task="regression")
        bay.import_model(graphs.two_classes(), "two", task="classification", classes=["no", "yes"])
    with TestClient(create_app(Settings(home=home, auth=False))) as c:
        yield c


def infer(client: TestClient, name: str, *inputs: dict[str, object], **extra: object) -> dict:
    r = client.post(f"/v2/models/{name}/infer", json={"inputs": list(inputs), **extra})
    return {"status": r.status_code, **r.json()}


def test_several_inputs_of_several_types_are_served_with_every_output(client: TestClient) -> None:
    x = {"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}
    flip = {"name": "flip", "shape": [2, 1], "datatype": "BOOL", "data": [False, True]}
    doc = infer(client, "sums", flip, x)  # in any order
    assert doc["status"] == 200, doc
    out = {o["name"]: o for o in doc["outputs"]}
    assert out["total"] == {
        "name": "total",
        "shape": [2, 1],
        "datatype": "FP32",
        "data": [6.0, -15.0],
    }
    assert out["square"]["data"] == [1.0, 4.0, 9.0, 16.0, 25.0, 36.0]
    only = infer(client, "sums", x, flip, outputs=[{"name": "square"}])
    assert [o["name"] for o in only["outputs"]] == ["square"]
    unknown = infer(client, "sums", x, flip, outputs=[{"name": "predict_proba"}])
    assert unknown["status"] == 400 and "outputs are: total, square" in unknown["error"]


@pytest.mark.parametrize(
    ("inputs", "says"),
    [
        ([("x", [2, 3], "FP32")], "missing input(s): flip BOOL [-1, 1]"),
        (
            [("x", [2, 3], "FP32"), ("flip", [3, 1], "BOOL")],
            "input 'flip' has a batch of 3, the first input has 2",
        ),
        (
            [("x", [2, 3], "FP32"), ("flip", [2, 1], "INT64")],
            "input 'flip' expects BOOL, got INT64",
        ),
        (
            [("x", [2, 3, 1], "FP32"), ("flip", [2, 1], "BOOL")],
            "input 'x' expects shape [-1, 3] (-1: any size), got [2, 3, 1]",
        ),
        (
            [("x", [0, 3], "FP32"), ("flip", [0, 1], "BOOL")],
            "a batch of 0: there is nothing to predict",
        ),
    ],
    ids=["missing", "batches-differ", "type", "rank", "empty"],
)
def test_inputs_that_do_not_fit_are_a_400_that_says_what_to_fix(
    client: TestClient, inputs: list[tuple[str, list[int], str]], says: str
) -> None:
    def tensor(name: str, shape: list[int], datatype: str) -> dict[str, object]:
        n = int(np.prod(shape))
        data = [False] * n if datatype == "BOOL" else [0] * n
        return {"name": name, "shape": shape, "datatype": datatype, "data": data}

    doc = infer(client, "sums", *(tensor(*t) for t in inputs))
    assert doc["status"] == 400 and says in doc["error"], doc


def test_dimensions_the_graph_names_alike_must_agree(client: TestClient) -> None:
    ids = {"name": "ids", "shape": [1, 3], "datatype": "INT64", "data": [5, 6, 7]}
    mask = {"name": "mask", "shape": [1, 3], "datatype": "INT64", "data": [1, 0, 1]}
    assert infer(client, "ids", ids, mask)["outputs"][0]["data"] == [5, 0, 7]
    short = {**mask, "shape": [1, 2], "data": [1, 0]}
    doc = infer(client, "ids", ids, short)
    assert doc["status"] == 400
    assert "input 'mask' has 2 in dimension 1 ('seq'), input 'ids' has 3 there" in doc["error"]


def test_a_classifier_answers_its_scores_and_the_label_of_their_argmax(client: TestClient) -> None:
    x = {"name": "x", "shape": [3, 2], "datatype": "FP32", "data": [0.1, 0.9, 2.0, -1.0, 0.0, 3.0]}
    doc = infer(client, "two", x)
    out = {o["name"]: o for o in doc["outputs"]}
    assert out["predict"] == {
        "name": "predict",
        "shape": [3],
        "datatype": "BYTES",
        "data": ["yes", "no", "yes"],
    }
    assert out["scores"]["datatype"] == "FP32" and out["scores"]["shape"] == [3, 2]
    meta = client.get("/v2/models/two").json()
    assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 2]}]
    assert [o["name"] for o in meta["outputs"]] == ["scores", "predict"]
    assert meta["parameters"]["classes"] == "no,yes"


def test_an_onnx_upload_over_http_takes_the_task_and_classes(client: TestClient) -> None:
    r = client.post(
        "/api/models/uploaded/versions?task=classification&classes=off,on",
        content=graphs.two_classes(),
        headers={"content-type": "application/octet-stream"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["task"] == "classification" and r.json()["flavor"] == "onnx"
    x = {"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [0.0, 1.0]}
    doc = infer(client, "uploaded", x, outputs=[{"name": "predict"}])
    assert doc["outputs"][0]["data"] == ["on"]
    broken = client.post("/api/models/broken/versions", content=graphs.broken())
    assert broken.status_code == 422 and "does not run on made-up inputs" in broken.json()["error"]


def test_an_imported_graph_is_not_optimized_but_told_why(sqlite_bay: Bay) -> None:
    sqlite_bay.import_model(graphs.two_classes(), "two")
    with pytest.raises(ValidationError, match="ONNX graph imported as it is"):
        sqlite_bay.optimize("two", "quantize")


def test_the_cli_imports_a_graph_and_shows_its_tensors(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from modelbay.cli import build_cli

    path = tmp_path / "two.onnx"
    path.write_bytes(graphs.two_classes())

    def run(*args: str) -> str:
        home = ["--home", str(tmp_path / "home")]
        result = CliRunner().invoke(build_cli(), [*home, *args], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        return result.output

    said = run(
        "models",
        "import",
        str(path),
        "--name",
        "two",
        "--task",
        "classification",
        "--classes",
        "no, yes",
    )
    assert (
        "registered two:1 (ONNX graph (unknown producer), classification); served by onnx" in said
    )
    shown = run("models", "show", "two")
    assert "signature -> scores (classification)" in shown
    assert "│ x      │ input  │ FP32     │ [-1, 2] │" in shown
    assert "│ scores │ output │ FP32     │ [-1, 2] │" in shown


def test_an_imported_graph_exports_and_imports_back_equal(sqlite_bay: Bay, tmp_path: Path) -> None:
    v = sqlite_bay.import_model(graphs.scaled_sum(), "sums", task="tensor")
    folder = sqlite_bay.models.export(v.ref, tmp_path / "export")
    back = sqlite_bay.import_model(folder, "sums-back")
    assert (back.flavor, back.task, back.signature) == (v.flavor, v.task, v.signature)
    assert back.artifact_digest == v.artifact_digest


def test_a_regressor_answers_the_value_of_its_first_one_column_output(client: TestClient) -> None:
    x = {"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}
    flip = {"name": "flip", "shape": [2, 1], "datatype": "BOOL", "data": [True, False]}
    doc = infer(client, "sums-value", x, flip, outputs=[{"name": "predict"}])
    assert doc["outputs"] == [
        {"name": "predict", "shape": [2], "datatype": "FP64", "data": [-6.0, 15.0]}
    ]
