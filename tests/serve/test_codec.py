"""Open Inference Protocol v2 tensors, JSON and binary."""

from __future__ import annotations

import struct

import numpy as np
import orjson
import pytest

from modelbay import SchemaError
from modelbay.data.signature import ColumnSpec, OutputSpec, Signature
from modelbay.errors import LimitExceeded
from modelbay.serve.codec import (
    binary_request,
    decode_request,
    encode_response,
    output_tensors,
    rows_from_tensors,
)
from modelbay.serve.runtimes import Outputs

SIG = Signature(
    [
        ColumnSpec("a", "numeric", "float64", False),
        ColumnSpec("b", "numeric", "float64", True),
        ColumnSpec("c", "categorical", "object", True),
    ],
    OutputSpec("classification", "y", "object", ["no", "yes"]),
)


def body(**doc: object) -> bytes:
    return orjson.dumps(doc)


def test_json_columns_and_nested_data() -> None:
    req = decode_request(
        body(
            id="r1",
            inputs=[
                {"name": "a", "shape": [2, 1], "datatype": "FP32", "data": [[1.5], [2.5]]},
                {"name": "b", "shape": [2], "datatype": "INT64", "data": [3, None]},
                {"name": "c", "shape": [2], "datatype": "BYTES", "data": ["x", None]},
            ],
            outputs=[{"name": "predict_proba"}],
        )
    )
    assert req.id == "r1" and req.outputs == ["predict_proba"]
    df = rows_from_tensors(req.inputs, SIG)
    assert df["a"].tolist() == [1.5, 2.5] and np.isnan(df["b"][1])
    assert df["c"][0] == "x" and df["c"].isna().tolist() == [False, True]


def test_one_matrix_tensor_holds_every_column() -> None:
    sig = Signature(
        [ColumnSpec(n, "numeric", "float64", False) for n in "pq"],
        OutputSpec("regression", "y", "float64"),
    )
    req = decode_request(
        body(
            inputs=[{"name": "input-0", "shape": [2, 2], "datatype": "FP64", "data": [1, 2, 3, 4]}]
        )
    )
    assert np.asarray(rows_from_tensors(req.inputs, sig)).tolist() == [[1, 2], [3, 4]]


def test_binary_extension_in_and_out() -> None:
    a = np.array([1.0, 2.0], dtype="<f8").tobytes()
    c = b"".join(struct.pack("<I", len(s)) + s for s in (b"x", b"yy"))
    head = body(
        inputs=[
            {
                "name": "a",
                "shape": [2],
                "datatype": "FP64",
                "parameters": {"binary_data_size": len(a)},
            },
            {"name": "b", "shape": [2], "datatype": "FP64", "data": [0, 0]},
            {
                "name": "c",
                "shape": [2],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": len(c)},
            },
        ],
        parameters={"binary_data_output": True},
    )
    req = decode_request(head + a + c, len(head))
    df = rows_from_tensors(req.inputs, SIG)
    assert df["a"].tolist() == [1.0, 2.0] and df["c"].tolist() == ["x", "yy"]
    tensors = output_tensors(
        Outputs(np.array(["no", "yes"], dtype=object), np.array([[0.9, 0.1], [0.2, 0.8]])),
        ["predict", "predict_proba"],
        True,
    )
    out, length = encode_response({"model_name": "m"}, tensors, req.binary_outputs, req.all_binary)
    assert length is not None
    meta = orjson.loads(out[:length])
    sizes = [o["parameters"]["binary_data_size"] for o in meta["outputs"]]
    raw = out[length:]
    assert len(raw) == sum(sizes)
    labels, proba = raw[: sizes[0]], raw[sizes[0] :]
    assert labels == struct.pack("<I", 2) + b"no" + struct.pack("<I", 3) + b"yes"
    assert np.frombuffer(proba, dtype="<f8").tolist() == [0.9, 0.1, 0.2, 0.8]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"inputs": []}, "non-empty list"),
        ({"nope": 1}, "non-empty list"),
        (
            {"inputs": [{"name": "a", "shape": [2], "datatype": "FP64", "data": [1]}]},
            "shape says 2 elements, data has 1",
        ),
        (
            {"inputs": [{"name": "a", "shape": [-1], "datatype": "FP64", "data": [1]}]},
            "non-negative integers",
        ),
        (
            {"inputs": [{"name": "a", "shape": [1], "datatype": "FLOAT", "data": [1]}]},
            "datatype 'FLOAT'",
        ),
        (
            {"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": ["x"]}]},
            "'x' is not a valid FP64",
        ),
        (
            {"inputs": [{"name": "a", "shape": [1], "datatype": "BOOL", "data": [1]}]},
            "not a valid BOOL",
        ),
        ({"inputs": [{"name": "a", "shape": [1], "datatype": "FP64"}]}, "'data' is missing"),
        ({"inputs": [{"shape": [1], "datatype": "FP64", "data": [1]}]}, "needs a 'name'"),
        (
            {
                "inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]}],
                "outputs": [{}],
            },
            "outputs\\[0\\]",
        ),
    ],
)
def test_malformed_requests(doc: dict[str, object], message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        decode_request(body(**doc))


def test_a_huge_claimed_shape_is_refused_as_over_the_limit() -> None:
    doc = {"inputs": [{"name": "a", "shape": [100000, 100000], "datatype": "FP64", "data": [1]}]}
    with pytest.raises(LimitExceeded, match="more than the limit"):
        decode_request(body(**doc))


def test_malformed_binary() -> None:
    head = body(
        inputs=[
            {"name": "a", "shape": [2], "datatype": "FP64", "parameters": {"binary_data_size": 16}}
        ]
    )
    with pytest.raises(SchemaError, match="binary_data_size 16 does not fit"):
        decode_request(head + b"\0" * 8, len(head))
    with pytest.raises(SchemaError, match="not claimed"):
        decode_request(head + b"\0" * 24, len(head))
    with pytest.raises(SchemaError, match="does not fit a body"):
        decode_request(head, len(head) + 5)
    with pytest.raises(SchemaError, match="not valid JSON"):
        decode_request(b"{oops")


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]}],
            "missing column\\(s\\): b, c",
        ),
        (
            [{"name": n, "shape": [1], "datatype": "FP64", "data": [1]} for n in "abcd"],
            "unexpected column\\(s\\): d",
        ),
        (
            [
                {"name": "a", "shape": [1], "datatype": "FP64", "data": [None]},
                {"name": "b", "shape": [1], "datatype": "FP64", "data": [1]},
                {"name": "c", "shape": [1], "datatype": "BYTES", "data": ["x"]},
            ],
            "column 'a' has a missing value in row 0",
        ),
        (
            [
                {"name": "a", "shape": [2], "datatype": "FP64", "data": [1, 2]},
                {"name": "b", "shape": [1], "datatype": "FP64", "data": [1]},
            ],
            "input 'b' has 1 rows, others have 2",
        ),
        (
            [{"name": "a", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}],
            "a column takes \\[n\\] or \\[n, 1\\]",
        ),
    ],
)
def test_tensors_that_do_not_fit_the_signature(
    inputs: list[dict[str, object]], message: str
) -> None:
    with pytest.raises(SchemaError, match=message):
        rows_from_tensors(decode_request(body(inputs=inputs)).inputs, SIG)


def test_unknown_output_name() -> None:
    with pytest.raises(SchemaError, match="unknown output 'score'"):
        output_tensors(Outputs(np.array([1])), ["score"], False)


def test_a_binary_request_decodes_to_its_rows() -> None:
    rows = np.arange(12, dtype=np.float64).reshape(4, 3) / 7
    body, head = binary_request(rows)
    req = decode_request(body, head)
    (tensor,) = req.inputs
    assert tensor.datatype == "FP32" and tensor.shape == [4, 3]
    np.testing.assert_array_equal(tensor.data.reshape(4, 3), rows.astype(np.float32))
    assert req.binary_outputs == {"predict"}
    both = decode_request(*binary_request(rows, proba=True))
    assert both.binary_outputs == {"predict", "predict_proba"}
