"""The gRPC face: Open Inference Protocol v2's ``GRPCInferenceService`` (extra ``grpc``).

It runs in the same process and event loop as the HTTP face, on its own port, and
calls the same data plane: same runtimes, same batcher, same answers. The messages,
method names and handlers are generated from the protocol's .proto (``api/grpc_v2``);
this module only maps them to the data plane's requests and answers and back.

Parameters (``InferParameter``) keep their kind both ways: a bool, an int64, a string, a
double and a uint64 arrive as ``bool``, ``int``, ``str``, ``float`` and ``int``; going out,
a bool is ``bool_param``, an integer ``int64_param`` (``uint64_param`` from 2**63 up, where
int64 ends), a float ``double_param`` and a string ``string_param``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from google.protobuf.message import Message

from modelbay.api.access import GRPC_METHODS, GrpcMethod
from modelbay.api.errors import message_for
from modelbay.api.grpc_v2 import grpc_predict_v2_pb2 as pb
from modelbay.api.grpc_v2 import require
from modelbay.errors import (
    ConflictError,
    DataError,
    Forbidden,
    LimitExceeded,
    ModelbayError,
    NotFoundError,
    RateLimited,
    SchemaError,
    StorageError,
    Unauthenticated,
    ValidationError,
)
from modelbay.security.admission import Admission
from modelbay.serve.codec import DATATYPES, InferRequest, Tensor, from_binary, to_binary
from modelbay.serve.dataplane import DataPlane
from modelbay.server import Server

if TYPE_CHECKING:
    import grpc

__all__ = ["METHODS", "SERVICE", "build_grpc_server", "parameter", "parameters"]

SERVICE = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
METHODS = tuple(m.name for m in SERVICE.methods)  # as the .proto declares them

ParamValue = bool | int | float | str
Rpc = Callable[[Any, "grpc.aio.ServicerContext[Any, Any]"], Awaitable[Message]]

_T = TypeVar("_T")
_INT64 = range(-(2**63), 2**63)
_UINT64 = range(2**64)
_CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
_KINDS = "bool_param, int64_param, string_param, double_param or uint64_param"


def _status(exc: ModelbayError) -> grpc.StatusCode:
    import grpc

    for cls, code in (
        (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
        (Forbidden, grpc.StatusCode.PERMISSION_DENIED),
        (RateLimited, grpc.StatusCode.RESOURCE_EXHAUSTED),
        (LimitExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),
        (NotFoundError, grpc.StatusCode.NOT_FOUND),
        (DataError, grpc.StatusCode.INVALID_ARGUMENT),
        (ValidationError, grpc.StatusCode.INVALID_ARGUMENT),
        (ConflictError, grpc.StatusCode.ABORTED),
        (StorageError, grpc.StatusCode.UNAVAILABLE),
    ):
        if isinstance(exc, cls):
            return code
    return grpc.StatusCode.INTERNAL


def parameters(given: Mapping[str, pb.InferParameter], where: str = "") -> dict[str, ParamValue]:
    """A parameter map as Python values of its kinds; one with no value set is a SchemaError."""
    out: dict[str, ParamValue] = {}
    for key, param in given.items():
        kind = param.WhichOneof("parameter_choice")
        if kind == "bool_param":
            out[key] = param.bool_param
        elif kind == "int64_param":
            out[key] = param.int64_param
        elif kind == "string_param":
            out[key] = param.string_param
        elif kind == "double_param":
            out[key] = param.double_param
        elif kind == "uint64_param":
            out[key] = param.uint64_param
        else:
            raise SchemaError(f"{where}parameter {key!r} has no value: set {_KINDS}")
    return out


def parameter(key: str, value: object) -> pb.InferParameter:
    """``value`` as the InferParameter of its kind (the module docstring has the rule)."""
    if isinstance(value, bool | np.bool_):
        return pb.InferParameter(bool_param=bool(value))
    if isinstance(value, numbers.Integral):
        number = int(value)
        if number in _INT64:
            return pb.InferParameter(int64_param=number)
        if number in _UINT64:
            return pb.InferParameter(uint64_param=number)
        raise ValueError(f"parameter {key!r}: {number} is outside int64 and uint64")
    if isinstance(value, numbers.Real):
        return pb.InferParameter(double_param=float(value))
    if isinstance(value, str):
        return pb.InferParameter(string_param=value)
    raise TypeError(
        f"parameter {key!r} is a {type(value).__name__}: an InferParameter holds a bool, "
        "an integer, a float or a string"
    )


def _tensor(t: pb.ModelInferRequest.InferInputTensor, raw: bytes | None) -> Tensor:
    where = f"input {t.name!r}"
    if t.datatype not in DATATYPES:
        raise SchemaError(f"{where}: datatype {t.datatype!r} is not one of {', '.join(DATATYPES)}")
    shape = list(t.shape)
    if any(d < 0 for d in shape):
        raise SchemaError(f"{where}: shape must be non-negative integers")
    count = math.prod(shape)
    if raw is not None:
        data = from_binary(raw, t.datatype, count, where)
    elif t.datatype == "BYTES":
        items = _counted(t.contents.bytes_contents, count, where)
        data = np.asarray([v.decode("utf-8", errors="replace") for v in items], dtype=object)
    elif t.datatype not in _CONTENTS:  # FP16 has no typed contents in the protocol
        raise SchemaError(f"{where}: {t.datatype} data goes in raw_input_contents")
    else:
        values = _counted(getattr(t.contents, _CONTENTS[t.datatype]), count, where)
        data = np.asarray(values, dtype=DATATYPES[t.datatype])
    return Tensor(t.name, shape, t.datatype, data, parameters(t.parameters, f"{where}: "))


def _counted(values: Sequence[_T], count: int, where: str) -> Sequence[_T]:
    if len(values) != count:
        raise SchemaError(f"{where}: shape says {count} elements, contents have {len(values)}")
    return values


def _request(req: pb.ModelInferRequest) -> InferRequest:
    if not req.inputs:
        raise SchemaError("'inputs' must be a non-empty list of tensors")
    raw = list(req.raw_input_contents)
    if raw and len(raw) != len(req.inputs):
        raise SchemaError(f"{len(raw)} raw_input_contents for {len(req.inputs)} inputs")
    return InferRequest(
        id=req.id or None,
        inputs=[_tensor(t, raw[i] if raw else None) for i, t in enumerate(req.inputs)],
        outputs=[o.name for o in req.outputs],
        parameters=parameters(req.parameters),
    )


class _Service:
    """The six methods of the service over one data plane, with the generated messages."""

    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane

    async def server_live(self, req: pb.ServerLiveRequest, ctx: object) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def server_ready(self, req: pb.ServerReadyRequest, ctx: object) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=await self.plane.ready())

    async def server_metadata(
        self, req: pb.ServerMetadataRequest, ctx: object
    ) -> pb.ServerMetadataResponse:
        meta = self.plane.server_metadata()
        return pb.ServerMetadataResponse(
            name=meta["name"], version=meta["version"], extensions=meta["extensions"]
        )

    async def model_ready(self, req: pb.ModelReadyRequest, ctx: object) -> pb.ModelReadyResponse:
        ready = await self.plane.model_ready(req.name, _version(req.version))
        return pb.ModelReadyResponse(ready=ready)

    async def model_metadata(
        self, req: pb.ModelMetadataRequest, ctx: object
    ) -> pb.ModelMetadataResponse:
        meta = await self.plane.model_metadata(req.name, _version(req.version))
        tensors = {
            k: [
                pb.ModelMetadataResponse.TensorMetadata(
                    name=t["name"], datatype=t["datatype"], shape=t["shape"]
                )
                for t in meta[k]
            ]
            for k in ("inputs", "outputs")
        }
        return pb.ModelMetadataResponse(
            name=meta["name"], versions=meta["versions"], platform=meta["platform"], **tensors
        )

    async def model_infer(self, req: pb.ModelInferRequest, ctx: object) -> pb.ModelInferResponse:
        doc, tensors = await self.plane.infer(
            req.model_name, _request(req), _version(req.model_version)
        )
        out = pb.ModelInferResponse(
            model_name=doc["model_name"], model_version=doc["model_version"], id=doc["id"]
        )
        for key, value in doc["parameters"].items():
            out.parameters[key].CopyFrom(parameter(key, value))
        for t in tensors:
            out.outputs.add(name=t.name, datatype=t.datatype, shape=t.shape)
            out.raw_output_contents.append(to_binary(t))
        return out


def build_grpc_server(server: Server, host: str, port: int) -> grpc.aio.Server:
    """A grpc.aio server for the v2 service over the serving core ``server`` (its data plane
    and its one admission step, as the HTTP front's); call ``await grpc_server.start()``."""
    require()
    import grpc

    from modelbay.api.grpc_v2 import grpc_predict_v2_pb2_grpc as pb_grpc

    service = _Service(server.plane)
    admission = server.admission
    impl: dict[str, Rpc] = {
        "ServerLive": service.server_live,
        "ServerReady": service.server_ready,
        "ServerMetadata": service.server_metadata,
        "ModelReady": service.model_ready,
        "ModelMetadata": service.model_metadata,
        "ModelInfer": service.model_infer,
    }

    def guarded(name: str) -> Rpc:
        fn, method = impl[name], GRPC_METHODS[name]

        async def call(req: Any, ctx: grpc.aio.ServicerContext[Any, Any]) -> Message:
            try:
                if method.scopes:
                    await _admit(admission, name, method, req, ctx)
                return await fn(req, ctx)
            except ModelbayError as exc:
                await ctx.abort(_status(exc), message_for(exc))

        return call

    # the generated registration: method paths, request parsers and response writers
    servicer = SimpleNamespace(**{name: guarded(name) for name in METHODS})
    grpc_server = grpc.aio.server(options=[("grpc.max_receive_message_length", 256 << 20)])
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, grpc_server)
    grpc_server.add_insecure_port(f"{host}:{port}")
    return grpc_server


async def _admit(admission: Admission, name: str, method: GrpcMethod, req: Any, ctx: Any) -> None:
    """The server's one admission step (as the HTTP front's): the key from the call's
    metadata, the scope, the model allow-list, the limits; a denial is audited."""
    metadata = {k.lower(): v for k, v in (ctx.invocation_metadata() or ())}
    model = (getattr(req, "model_name", "") or getattr(req, "name", "")) if method.model else None
    await admission.admit(
        method.scopes,
        f"grpc {name}",
        authorization=metadata.get("authorization"),
        api_key=metadata.get("x-api-key"),
        model=model,
    )


def _version(text: str) -> int | None:
    from modelbay.api.handlers import parse_version

    return parse_version(text) if text else None
