"""The gRPC face: Open Inference Protocol v2's ``GRPCInferenceService`` (extra ``grpc``).

It runs in the same process and event loop as the HTTP face, on its own port, and
calls the same data plane: same runtimes, same batcher, same answers.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from modelbay.api.access import GRPC_METHODS, GrpcMethod
from modelbay.errors import (
    ConfigError,
    ConflictError,
    DataError,
    Forbidden,
    LimitExceeded,
    ModelbayError,
    NotFoundError,
    RateLimited,
    StorageError,
    Unauthenticated,
    ValidationError,
)
from modelbay.registry.audit import current_actor
from modelbay.security.gate import Gate, current_principal, token_from
from modelbay.serve.codec import DATATYPES, InferRequest, Tensor, from_binary, to_binary
from modelbay.serve.dataplane import DataPlane
from modelbay.serve.grpc_messages import METHODS, SERVICE, messages

__all__ = ["build_grpc_server"]

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


def _status(exc: ModelbayError) -> Any:
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


def _params(pmap: Any) -> dict[str, Any]:
    out = {}
    for key, value in pmap.items():
        choice = value.WhichOneof("parameter_choice")
        out[key] = getattr(value, choice) if choice else None
    return out


def _request(req: Any) -> InferRequest:
    from modelbay.errors import SchemaError

    if not req.inputs:
        raise SchemaError("'inputs' must be a non-empty list of tensors")
    raw = list(req.raw_input_contents)
    if raw and len(raw) != len(req.inputs):
        raise SchemaError(f"{len(raw)} raw_input_contents for {len(req.inputs)} inputs")
    tensors = []
    for i, t in enumerate(req.inputs):
        where = f"input {t.name!r}"
        if t.datatype not in DATATYPES:
            raise SchemaError(
                f"{where}: datatype {t.datatype!r} is not one of {', '.join(DATATYPES)}"
            )
        shape = list(t.shape)
        if any(d < 0 for d in shape):
            raise SchemaError(f"{where}: shape must be non-negative integers")
        count = math.prod(shape)
        if raw:
            data = from_binary(raw[i], t.datatype, count, where)
        else:
            values = list(getattr(t.contents, _CONTENTS[t.datatype]))
            if len(values) != count:
                raise SchemaError(
                    f"{where}: shape says {count} elements, contents have {len(values)}"
                )
            if t.datatype == "BYTES":
                data = np.asarray(
                    [v.decode("utf-8", errors="replace") for v in values], dtype=object
                )
            else:
                dtype = DATATYPES[t.datatype]
                data = np.asarray(values, dtype=dtype)
        tensors.append(Tensor(t.name, shape, t.datatype, data, _params(t.parameters)))
    return InferRequest(
        id=req.id or None,
        inputs=tensors,
        outputs=[o.name for o in req.outputs],
        parameters=_params(req.parameters),
    )


def _parameter(m: Any, value: Any) -> Any:
    if isinstance(value, bool):
        return m.InferParameter(bool_param=value)
    if isinstance(value, int):
        return m.InferParameter(int64_param=value)
    return m.InferParameter(string_param=str(value))


def build_grpc_server(plane: DataPlane, gate: Gate, host: str, port: int) -> Any:
    """A grpc.aio server for the v2 service; call ``await server.start()``."""
    try:
        import grpc
    except ImportError as exc:
        raise ConfigError(
            "gRPC serving needs the grpc extra: pip install 'modelbay[grpc]'"
        ) from exc
    m = messages()

    async def server_live(req: Any, ctx: Any) -> Any:
        return m.ServerLiveResponse(live=True)

    async def server_ready(req: Any, ctx: Any) -> Any:
        return m.ServerReadyResponse(ready=await plane.ready())

    async def server_metadata(req: Any, ctx: Any) -> Any:
        meta = plane.server_metadata()
        return m.ServerMetadataResponse(
            name=meta["name"], version=meta["version"], extensions=meta["extensions"]
        )

    async def model_ready(req: Any, ctx: Any) -> Any:
        return m.ModelReadyResponse(ready=await plane.model_ready(req.name, _version(req.version)))

    async def model_metadata(req: Any, ctx: Any) -> Any:
        meta = await plane.model_metadata(req.name, _version(req.version))
        tensors = {
            k: [
                m.TensorMetadata(name=t["name"], datatype=t["datatype"], shape=t["shape"])
                for t in meta[k]
            ]
            for k in ("inputs", "outputs")
        }
        return m.ModelMetadataResponse(
            name=meta["name"], versions=meta["versions"], platform=meta["platform"], **tensors
        )

    async def model_infer(req: Any, ctx: Any) -> Any:
        doc, tensors = await plane.infer(req.model_name, _request(req), _version(req.model_version))
        out = m.ModelInferResponse(
            model_name=doc["model_name"], model_version=doc["model_version"], id=doc["id"]
        )
        for key, value in doc["parameters"].items():
            out.parameters[key].CopyFrom(_parameter(m, value))
        for t in tensors:
            out.outputs.add(name=t.name, datatype=t.datatype, shape=t.shape)
            out.raw_output_contents.append(to_binary(t))
        return out

    impl: dict[str, Callable[[Any, Any], Awaitable[Any]]] = {
        "ServerLive": server_live,
        "ServerReady": server_ready,
        "ServerMetadata": server_metadata,
        "ModelReady": model_ready,
        "ModelMetadata": model_metadata,
        "ModelInfer": model_infer,
    }

    def guarded(name: str) -> Callable[[Any, Any], Awaitable[Any]]:
        fn, method = impl[name], GRPC_METHODS[name]

        async def call(req: Any, ctx: Any) -> Any:
            try:
                if method.scopes:
                    await _admit(gate, plane, method, req, ctx)
                return await fn(req, ctx)
            except ModelbayError as exc:
                await ctx.abort(_status(exc), str(exc))

        return call

    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            guarded(name),
            request_deserializer=getattr(m, req_type).FromString,
            response_serializer=getattr(m, resp_type).SerializeToString,
        )
        for name, (req_type, resp_type) in METHODS.items()
    }
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 256 << 20)])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_insecure_port(f"{host}:{port}")
    return server


async def _admit(gate: Gate, plane: DataPlane, method: GrpcMethod, req: Any, ctx: Any) -> None:
    """The same checks as the HTTP front: key (metadata), scope, model allow-list, limits."""
    metadata = {k.lower(): v for k, v in (ctx.invocation_metadata() or ())}
    token = token_from(metadata.get("authorization"), metadata.get("x-api-key"))
    principal = await gate.authenticate(token)
    gate.authorize(principal, method.scopes)
    if method.model and principal.models is not None:
        name = getattr(req, "model_name", "") or getattr(req, "name", "")
        await gate.check_model(principal, name, plane.manager.model_of)
    gate.admit(principal, token)
    current_principal.set(principal)
    current_actor.set(principal.name)


def _version(text: str) -> int | None:
    from modelbay.api.handlers import parse_version

    return parse_version(text) if text else None
