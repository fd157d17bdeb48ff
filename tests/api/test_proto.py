"""The gRPC stubs are protoc's output of the committed .proto, the .proto is the protocol's,
and the gRPC face maps every InferParameter kind both ways (end to end: tests/e2e/test_grpc.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from modelbay.api.grpc import parameter, parameters
from modelbay.api.grpc_v2 import generate
from modelbay.api.grpc_v2 import grpc_predict_v2_pb2 as pb
from modelbay.errors import SchemaError

STUBS = generate.PROTO.parent


def test_committed_stubs_are_what_the_proto_generates(tmp_path: Path) -> None:
    written = generate.generate(tmp_path)
    assert [p.name for p in written] == list(generate.FILES)
    for path in written:
        committed = STUBS / path.name
        assert committed.read_bytes() == path.read_bytes(), (
            f"{committed} is not what {generate.PROTO.name} generates: run `make proto` "
            "(the .proto changed without regenerating, or a generated file was edited)"
        )


def test_the_proto_declares_the_protocol() -> None:
    assert pb.DESCRIPTOR.package == "inference"
    service = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert [(m.name, m.input_type.name, m.output_type.name) for m in service.methods] == [
        (name, f"{name}Request", f"{name}Response")
        for name in (
            "ServerLive",
            "ServerReady",
            "ModelReady",
            "ServerMetadata",
            "ModelMetadata",
            "ModelInfer",
        )
    ]
    param = pb.InferParameter.DESCRIPTOR
    assert [(f.name, f.number) for f in param.oneofs_by_name["parameter_choice"].fields] == [
        ("bool_param", 1),
        ("int64_param", 2),
        ("string_param", 3),
        ("double_param", 4),
        ("uint64_param", 5),
    ]
    infer = pb.ModelInferRequest.DESCRIPTOR.fields_by_name
    assert infer["raw_input_contents"].number == 7 and infer["parameters"].number == 4
    assert pb.ModelInferResponse.DESCRIPTOR.fields_by_name["raw_output_contents"].number == 6


@pytest.mark.parametrize("first", ["modelbay", "tritonclient"])
def test_stubs_and_tritonclient_load_in_one_process(first: str) -> None:
    """Both declare inference.*; protobuf's shared default pool would refuse the second."""
    ours = "import modelbay.api.grpc_v2.grpc_predict_v2_pb2_grpc"
    theirs = "import tritonclient.grpc"
    code = "; ".join([ours, theirs] if first == "modelbay" else [theirs, ours])
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]


OUTGOING = [
    (True, "bool_param", True),
    (np.bool_(False), "bool_param", False),
    (5, "int64_param", 5),
    (np.int64(-3), "int64_param", -3),
    (2**63 - 1, "int64_param", 2**63 - 1),
    (-(2**63), "int64_param", -(2**63)),
    (2**63, "uint64_param", 2**63),
    (2**64 - 1, "uint64_param", 2**64 - 1),
    (0.5, "double_param", 0.5),
    (np.float32(0.25), "double_param", 0.25),
    ("yes", "string_param", "yes"),
]


@pytest.mark.parametrize(("value", "kind", "back"), OUTGOING)
def test_a_value_goes_out_as_its_kind_and_comes_back(
    value: object, kind: str, back: object
) -> None:
    param = parameter("p", value)
    assert param.WhichOneof("parameter_choice") == kind and getattr(param, kind) == back
    wire = pb.ModelInferRequest(parameters={"p": param}).SerializeToString()
    read = parameters(pb.ModelInferRequest.FromString(wire).parameters)
    assert read == {"p": back} and type(read["p"]) is type(back)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (2**64, ValueError, "outside int64 and uint64"),
        (-(2**63) - 1, ValueError, "outside int64 and uint64"),
        (None, TypeError, "'p' is a NoneType"),
        ([1], TypeError, "'p' is a list"),
    ],
)
def test_a_value_no_parameter_kind_holds_is_refused(
    value: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        parameter("p", value)


def test_a_parameter_without_a_value_is_a_schema_error() -> None:
    req = pb.ModelInferRequest()
    req.parameters["empty"].SetInParent()
    with pytest.raises(SchemaError, match="parameter 'empty' has no value: set bool_param"):
        parameters(req.parameters)
