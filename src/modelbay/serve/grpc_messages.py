"""The Open Inference Protocol v2 gRPC messages, described here and built at run time.

The protocol's messages (package ``inference``, service ``GRPCInferenceService``) are
declared below by name, type and field number, and turned into protobuf classes with
``message_factory``: no protoc step, no generated files. The field numbers are the
protocol's, so Triton's and KServe's clients talk to it unchanged.
"""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace
from typing import Any

from modelbay.errors import ConfigError

__all__ = ["METHODS", "SERVICE", "messages"]

SERVICE = "inference.GRPCInferenceService"

# (name, fields); a field is (name, number, type, label, type_name); label "r" = repeated
_PARAM_MAP = "map"
_MESSAGES: list[tuple[str, list[tuple[str, int, str, str, str]]]] = [
    ("ServerLiveRequest", []),
    ("ServerLiveResponse", [("live", 1, "bool", "", "")]),
    ("ServerReadyRequest", []),
    ("ServerReadyResponse", [("ready", 1, "bool", "", "")]),
    ("ModelReadyRequest", [("name", 1, "string", "", ""), ("version", 2, "string", "", "")]),
    ("ModelReadyResponse", [("ready", 1, "bool", "", "")]),
    ("ServerMetadataRequest", []),
    (
        "ServerMetadataResponse",
        [
            ("name", 1, "string", "", ""),
            ("version", 2, "string", "", ""),
            ("extensions", 3, "string", "r", ""),
        ],
    ),
    ("ModelMetadataRequest", [("name", 1, "string", "", ""), ("version", 2, "string", "", "")]),
    (
        "TensorMetadata",
        [
            ("name", 1, "string", "", ""),
            ("datatype", 2, "string", "", ""),
            ("shape", 3, "int64", "r", ""),
        ],
    ),
    (
        "ModelMetadataResponse",
        [
            ("name", 1, "string", "", ""),
            ("versions", 2, "string", "r", ""),
            ("platform", 3, "string", "", ""),
            ("inputs", 4, "message", "r", "TensorMetadata"),
            ("outputs", 5, "message", "r", "TensorMetadata"),
        ],
    ),
    (
        "InferParameter",
        [
            ("bool_param", 1, "bool", "o", ""),
            ("int64_param", 2, "int64", "o", ""),
            ("string_param", 3, "string", "o", ""),
        ],
    ),
    (
        "InferTensorContents",
        [
            ("bool_contents", 1, "bool", "r", ""),
            ("int_contents", 2, "int32", "r", ""),
            ("int64_contents", 3, "int64", "r", ""),
            ("uint_contents", 4, "uint32", "r", ""),
            ("uint64_contents", 5, "uint64", "r", ""),
            ("fp32_contents", 6, "float", "r", ""),
            ("fp64_contents", 7, "double", "r", ""),
            ("bytes_contents", 8, "bytes", "r", ""),
        ],
    ),
    (
        "InferInputTensor",
        [
            ("name", 1, "string", "", ""),
            ("datatype", 2, "string", "", ""),
            ("shape", 3, "int64", "r", ""),
            ("parameters", 4, _PARAM_MAP, "r", ""),
            ("contents", 5, "message", "", "InferTensorContents"),
        ],
    ),
    (
        "InferRequestedOutputTensor",
        [
            ("name", 1, "string", "", ""),
            ("parameters", 2, _PARAM_MAP, "r", ""),
        ],
    ),
    (
        "ModelInferRequest",
        [
            ("model_name", 1, "string", "", ""),
            ("model_version", 2, "string", "", ""),
            ("id", 3, "string", "", ""),
            ("parameters", 4, _PARAM_MAP, "r", ""),
            ("inputs", 5, "message", "r", "InferInputTensor"),
            ("outputs", 6, "message", "r", "InferRequestedOutputTensor"),
            ("raw_input_contents", 7, "bytes", "r", ""),
        ],
    ),
    (
        "InferOutputTensor",
        [
            ("name", 1, "string", "", ""),
            ("datatype", 2, "string", "", ""),
            ("shape", 3, "int64", "r", ""),
            ("parameters", 4, _PARAM_MAP, "r", ""),
            ("contents", 5, "message", "", "InferTensorContents"),
        ],
    ),
    (
        "ModelInferResponse",
        [
            ("model_name", 1, "string", "", ""),
            ("model_version", 2, "string", "", ""),
            ("id", 3, "string", "", ""),
            ("parameters", 4, _PARAM_MAP, "r", ""),
            ("outputs", 5, "message", "r", "InferOutputTensor"),
            ("raw_output_contents", 6, "bytes", "r", ""),
        ],
    ),
]
METHODS: dict[str, tuple[str, str]] = {
    "ServerLive": ("ServerLiveRequest", "ServerLiveResponse"),
    "ServerReady": ("ServerReadyRequest", "ServerReadyResponse"),
    "ModelReady": ("ModelReadyRequest", "ModelReadyResponse"),
    "ServerMetadata": ("ServerMetadataRequest", "ServerMetadataResponse"),
    "ModelMetadata": ("ModelMetadataRequest", "ModelMetadataResponse"),
    "ModelInfer": ("ModelInferRequest", "ModelInferResponse"),
}


@cache
def messages() -> SimpleNamespace:
    """The message classes, by name (``messages().ModelInferRequest``)."""
    try:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    except ImportError as exc:
        raise ConfigError(
            "gRPC serving needs the grpc extra: pip install 'modelbay[grpc]'"
        ) from exc
    F = descriptor_pb2.FieldDescriptorProto
    types = {
        "bool": F.TYPE_BOOL,
        "string": F.TYPE_STRING,
        "bytes": F.TYPE_BYTES,
        "int32": F.TYPE_INT32,
        "int64": F.TYPE_INT64,
        "uint32": F.TYPE_UINT32,
        "uint64": F.TYPE_UINT64,
        "float": F.TYPE_FLOAT,
        "double": F.TYPE_DOUBLE,
        "message": F.TYPE_MESSAGE,
    }
    fdp = descriptor_pb2.FileDescriptorProto(
        name="modelbay_open_inference_v2.proto", package="inference", syntax="proto3"
    )
    for name, fields in _MESSAGES:
        msg = fdp.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            field = msg.field.add(name=fname, number=number)
            if ftype == _PARAM_MAP:  # map<string, InferParameter> as the entry message it is
                entry = msg.nested_type.add(name=_entry_name(fname))
                entry.options.map_entry = True
                entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
                entry.field.add(
                    name="value",
                    number=2,
                    type=F.TYPE_MESSAGE,
                    label=F.LABEL_OPTIONAL,
                    type_name=".inference.InferParameter",
                )
                field.type = F.TYPE_MESSAGE
                field.label = F.LABEL_REPEATED
                field.type_name = f".inference.{name}.{_entry_name(fname)}"
                continue
            field.type = types[ftype]
            field.label = F.LABEL_REPEATED if label == "r" else F.LABEL_OPTIONAL
            if type_name:
                field.type_name = f".inference.{type_name}"
            if label == "o":
                field.oneof_index = 0
        if any(f[3] == "o" for f in fields):
            msg.oneof_decl.add(name="parameter_choice")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    out: dict[str, Any] = {}
    for name, _ in _MESSAGES:
        out[name] = message_factory.GetMessageClass(pool.FindMessageTypeByName(f"inference.{name}"))
    return SimpleNamespace(**out)


def _entry_name(field: str) -> str:
    return "".join(p.capitalize() for p in field.split("_")) + "Entry"
