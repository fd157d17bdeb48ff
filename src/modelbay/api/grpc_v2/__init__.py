"""The Open Inference Protocol v2 gRPC service, generated from ``grpc_predict_v2.proto``.

- ``grpc_predict_v2.proto``: the protocol's ``inference.GRPCInferenceService``, as specified.
- ``grpc_predict_v2_pb2`` (+ ``.pyi`` for the types): the messages; needs only protobuf.
- ``grpc_predict_v2_pb2_grpc``: the servicer base, the client stub and
  ``add_GRPCInferenceServiceServicer_to_server``; needs grpcio (the ``grpc`` extra).

The three are protoc's output, committed, never edited by hand: ``make proto`` rewrites them
(``generate.py``) and tests/api/test_proto.py fails when they differ from what the .proto
generates. Lint skips them; mypy reads the messages' ``.pyi``.
"""

from __future__ import annotations

from modelbay.errors import ConfigError

__all__ = ["INSTALL", "require"]

INSTALL = "gRPC serving needs the grpc extra: pip install 'modelbay[grpc]'"


def require() -> None:
    """Fail with a ConfigError that says what to install unless the stubs can run here.

    The generated modules check the versions they were made with: grpcio at least the
    grpcio-tools that wrote them, protobuf at least the protoc inside it.
    """
    try:
        import grpc  # noqa: F401
        from google.protobuf import runtime_version
    except ImportError as exc:  # no grpcio, or a protobuf from before version checks
        raise ConfigError(f"{INSTALL} ({exc})") from exc
    try:
        from modelbay.api.grpc_v2 import grpc_predict_v2_pb2_grpc  # noqa: F401
    except (runtime_version.VersionError, RuntimeError) as exc:  # older than the stubs
        raise ConfigError(f"{INSTALL} ({exc})") from exc
