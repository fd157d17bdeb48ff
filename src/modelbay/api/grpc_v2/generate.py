"""Regenerate the Python stubs from ``grpc_predict_v2.proto`` (``make proto``).

    python src/modelbay/api/grpc_v2/generate.py            # rewrites the committed stubs
    python src/modelbay/api/grpc_v2/generate.py OUT_DIR    # OUT_DIR/modelbay/api/grpc_v2/

(run as a file, it imports nothing of modelbay; tests/api/test_proto.py imports ``generate``).

It runs grpcio-tools' protoc (the dev extra pins the version: another one writes other
version checks into the files) with ``src`` as the include root, so the service module
imports the messages as ``modelbay.api.grpc_v2.grpc_predict_v2_pb2`` with no edit.

One edit is made to protoc's output: the messages are built in a descriptor pool of their
own instead of protobuf's process-wide default pool. Every Open Inference Protocol stub
declares the same ``inference.*`` names, and the default pool refuses a second file that
does, so with the default pool modelbay and ``tritonclient.grpc`` (or KServe, or MLServer)
could not be imported into one process: "duplicate symbol 'inference.ServerLiveRequest'"
(kserve/kserve#3099, SeldonIO/MLServer#1034, triton-inference-server/client#730). The
wire format does not depend on the pool.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["FILES", "PROTO", "generate"]

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[2]  # the directory that holds the modelbay package
PROTO = HERE / "grpc_predict_v2.proto"
FILES = ("grpc_predict_v2_pb2.py", "grpc_predict_v2_pb2.pyi", "grpc_predict_v2_pb2_grpc.py")
_DEFAULT_POOL = "_descriptor_pool.Default().AddSerializedFile("
_OWN_POOL = "_descriptor_pool.DescriptorPool().AddSerializedFile("


def generate(out: Path = SRC) -> list[Path]:
    """Write the three stub files under ``out`` (``out/modelbay/api/grpc_v2/``); their paths."""
    from grpc_tools import protoc  # the dev extra: only a change to the .proto needs it

    relative = PROTO.relative_to(SRC)
    target = out / relative.parent
    target.mkdir(parents=True, exist_ok=True)
    args = ["protoc", f"-I{SRC}", f"--python_out={out}", f"--pyi_out={out}"]
    code = protoc.main([*args, f"--grpc_python_out={out}", str(PROTO)])
    if code != 0:
        raise RuntimeError(f"protoc failed on {PROTO} (exit {code}); its message is above")
    messages = target / FILES[0]
    text = messages.read_text()
    if text.count(_DEFAULT_POOL) != 1:
        raise RuntimeError(
            f"{messages}: protoc's output no longer registers the file with "
            f"'{_DEFAULT_POOL}' once; update generate.py for this grpcio-tools version"
        )
    messages.write_text(text.replace(_DEFAULT_POOL, _OWN_POOL))
    return [target / name for name in FILES]


if __name__ == "__main__":
    for path in generate(Path(sys.argv[1]) if len(sys.argv) > 1 else SRC):
        print(path)
