"""Open Inference Protocol v2 tensors: JSON and the binary data extension, both ways.

A tabular model takes either one tensor per column (named as the signature's
columns, shape ``[n]`` or ``[n, 1]``), or a single numeric tensor of shape
``[n, d]`` whose columns are the signature's, in order (what KServe's and
Triton's scikit-learn clients send). Outputs are ``predict`` (labels, values or
cluster ids) and, when asked, ``predict_proba`` (``[n, classes]``), the names
MLServer's scikit-learn runtime uses.

An imported ONNX graph takes its own input tensors, checked by ``data.tensors``, and
answers with its own outputs by name (all of them unless some are asked for), plus
``predict`` for a classifier or regressor (the label or value its task derives).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd

from modelbay.data.signature import Signature
from modelbay.data.tensors import Feeds, check_feeds
from modelbay.errors import LimitExceeded, SchemaError
from modelbay.serve.params import flag
from modelbay.serve.runtimes import Outputs

__all__ = [
    "DATATYPES",
    "InferRequest",
    "Tensor",
    "decode_request",
    "encode_response",
    "from_binary",
    "graph_output_tensors",
    "output_tensors",
    "rows_from_tensors",
    "to_binary",
]

HEADER_LENGTH = "inference-header-content-length"

DATATYPES: dict[str, np.dtype[Any] | None] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": None,
}
MAX_ELEMENTS = 50_000_000


@dataclass
class Tensor:
    name: str
    shape: list[int]
    datatype: str
    data: np.ndarray
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class InferRequest:
    id: str | None
    inputs: list[Tensor]
    outputs: list[str]  # requested output names; empty means the default
    parameters: dict[str, Any] = field(default_factory=dict)
    binary_outputs: set[str] = field(default_factory=set)
    all_binary: bool = False


def binary_request(
    rows: np.ndarray, name: str = "input-0", *, proba: bool = False
) -> tuple[bytes, int]:
    """A v2 request for one ``[n, d]`` FP32 tensor in the binary extension, asking for the
    labels (and with ``proba`` the probabilities) as binary too (what Triton's clients send):
    the body, and the length of its JSON header (the ``Inference-Header-Content-Length``
    value)."""
    raw = np.ascontiguousarray(rows, dtype="<f4").tobytes()
    tensor = {"name": name, "shape": list(rows.shape), "datatype": "FP32"}
    wanted = ["predict", "predict_proba"] if proba else ["predict"]
    head = orjson.dumps(
        {
            "inputs": [{**tensor, "parameters": {"binary_data_size": len(raw)}}],
            "outputs": [{"name": n, "parameters": {"binary_data": True}} for n in wanted],
        }
    )
    return head + raw, len(head)


def _bad(msg: str) -> SchemaError:
    return SchemaError(msg)


def decode_request(body: bytes, header_length: int | None = None) -> InferRequest:
    """Parse a v2 inference request body (JSON, or JSON header + binary tensor data)."""
    if header_length is not None:
        if not 0 < header_length <= len(body):
            raise _bad(
                f"Inference-Header-Content-Length {header_length} does not fit a body of "
                f"{len(body)} bytes"
            )
        head, binary = body[:header_length], memoryview(body)[header_length:]
    else:
        head, binary = body, memoryview(b"")
    try:
        doc = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        raise _bad(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise _bad("the request body must be a JSON object with an 'inputs' list")
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise _bad("'inputs' must be a non-empty list of tensors")
    # else no value can be a JSON boolean
    if len(head) < _SCAN_WITH_NUMPY:
        bools = b"true" in head or b"false" in head
    else:
        bools = _maybe_booleans(head)
    offset = 0
    inputs = []
    for i, raw in enumerate(raw_inputs):
        tensor, used = _tensor(raw, i, binary[offset:], bools)
        offset += used
        inputs.append(tensor)
    if offset != len(binary):
        raise _bad(f"{len(binary) - offset} bytes of binary data are not claimed by any input")
    params = doc.get("parameters") or {}
    if not isinstance(params, dict):
        raise _bad("'parameters' must be an object")
    outputs, binary_outputs = [], set()
    for j, out in enumerate(doc.get("outputs") or []):
        if not isinstance(out, dict) or not isinstance(out.get("name"), str):
            raise _bad(f"outputs[{j}] must be an object with a 'name'")
        outputs.append(out["name"])
        wants = out.get("parameters") or {}
        if not isinstance(wants, dict):
            raise _bad(f"outputs[{j}].parameters must be an object")
        if "binary_data" in wants and flag("binary_data", wants["binary_data"]):
            binary_outputs.add(out["name"])
    rid = doc.get("id")
    return InferRequest(
        id=str(rid) if rid is not None else None,
        inputs=inputs,
        outputs=outputs,
        parameters=params,
        binary_outputs=binary_outputs,
        all_binary="binary_data_output" in params
        and flag("binary_data_output", params["binary_data_output"]),
    )


# Past this size the JSON text is scanned with numpy: `b"true" in head` read a 240 kB body
# of numbers at under 1 GB/s (320 us, and 220 for "false"); numpy finds the first letters
# and checks the rest at their positions (70 us for both).
_SCAN_WITH_NUMPY = 4096
_FROMITER = 256  # values in a flat list from which fromiter beats array()


def _maybe_booleans(head: bytes) -> bool:
    """Whether the long JSON text ``head`` may hold a true or false (a number never does)."""
    a = np.frombuffer(head, dtype=np.uint8)
    for word in (b"true", b"false"):
        starts = np.flatnonzero(a[: a.size - len(word) + 1] == word[0])
        found = np.ones(starts.size, dtype=bool)
        for k in range(1, len(word)):
            found &= a[starts + k] == word[k]
        if found.any():
            return True
    return False


_BAD_SHAPE = "'shape' must be a list of non-negative integers"


def _tensor(raw: Any, i: int, binary: memoryview, bools: bool = True) -> tuple[Tensor, int]:
    if type(raw) is not dict:  # what orjson makes of a JSON object
        raise _bad(f"inputs[{i}] must be an object with name, shape, datatype and data")
    name, shape, datatype = raw.get("name"), raw.get("shape"), raw.get("datatype")
    if type(name) is not str or not name:
        raise _bad(f"inputs[{i}] needs a 'name'")
    where = f"input {name!r}"
    if type(shape) is not list:
        raise _bad(f"{where}: {_BAD_SHAPE}")
    count = 1
    for d in shape:  # a loop, not all(...): its generator cost more than the checks
        if type(d) is not int or d < 0:
            raise _bad(f"{where}: {_BAD_SHAPE}")
        count *= d
    if datatype not in DATATYPES:
        raise _bad(f"{where}: datatype {datatype!r} is not one of {', '.join(DATATYPES)}")
    if count > MAX_ELEMENTS:
        raise LimitExceeded(f"{where}: {count} elements is more than the limit of {MAX_ELEMENTS}")
    params = raw.get("parameters") or {}
    size = params.get("binary_data_size") if type(params) is dict else None
    if size is not None:
        if type(size) is not int or size < 0 or size > len(binary):
            raise _bad(f"{where}: binary_data_size {size!r} does not fit the binary data sent")
        data = from_binary(binary[:size], datatype, count, where)
        return Tensor(name, shape, datatype, data, params), size
    if "data" not in raw:
        raise _bad(f"{where}: 'data' is missing (or send it as binary with binary_data_size)")
    data = _from_json(raw["data"], datatype, count, where, bools)
    return Tensor(name, shape, datatype, data, params), 0


def _from_json(data: Any, datatype: str, count: int, where: str, bools: bool = True) -> np.ndarray:
    """A tensor's JSON data as an array. ``bools``: the body may hold true/false somewhere."""
    dtype = DATATYPES[datatype]
    if dtype is not None and datatype != "BOOL" and not bools:
        # The fast path: numpy converts the (nested) list in C; null becomes NaN in floats.
        # A long flat list goes through fromiter, which skips array()'s look for nesting
        # (255 us against 290 for 30,000 floats; for 30, fromiter is the slower: 0.86 us
        # against 0.62).
        wanted = np.float64 if dtype.kind == "f" else dtype
        try:
            if type(data) is list and len(data) >= _FROMITER and type(data[0]) is not list:
                arr = np.fromiter(data, dtype=wanted, count=len(data))
            else:
                arr = np.array(data, dtype=wanted).ravel()
        except (TypeError, ValueError, OverflowError):
            arr = None  # strings, nulls in integers or ragged lists: the careful path says which
        if arr is not None:
            if arr.size != count:
                raise _bad(f"{where}: shape says {count} elements, data has {arr.size}")
            return arr
    flat = _flatten(data)
    if len(flat) != count:
        raise _bad(f"{where}: shape says {count} elements, data has {len(flat)}")
    if datatype == "BYTES":
        return np.asarray(
            [v if isinstance(v, str) or v is None else _text(v, where) for v in flat], dtype=object
        )
    assert dtype is not None
    try:
        if datatype == "BOOL":
            if not all(isinstance(v, bool) for v in flat):
                raise TypeError("booleans expected")
            return np.asarray(flat, dtype=np.bool_)
        if any(isinstance(v, str | bool) for v in flat):
            raise TypeError("numbers expected")
        missing = any(v is None for v in flat)  # null: a missing value, for nullable columns
        arr = np.asarray(
            [np.nan if v is None else v for v in flat],
            dtype=np.float64 if dtype.kind == "f" or missing else dtype,
        )
    except (TypeError, ValueError, OverflowError):
        bad = next(
            (v for v in flat if not isinstance(v, int | float) or isinstance(v, bool)),
            flat[0] if flat else None,
        )
        raise _bad(f"{where}: {bad!r} is not a valid {datatype} value") from None
    return arr


def _text(value: Any, where: str) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _bad(f"{where}: BYTES data must be strings, got {value!r}")


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    if not data or not isinstance(data[0], list):
        return data
    out: list[Any] = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        else:
            out.append(item)
    return out


def from_binary(raw: bytes | memoryview, datatype: str, count: int, where: str) -> np.ndarray:
    """A tensor from raw little-endian bytes (BYTES: 4-byte length + data per element).

    Numbers are read in place, without a copy: the array is a view of ``raw``.
    """
    if datatype == "BYTES":
        raw = bytes(raw)
        items, pos = [], 0
        while pos < len(raw):
            if pos + 4 > len(raw):
                raise _bad(f"{where}: truncated BYTES element length")
            (n,) = struct.unpack_from("<I", raw, pos)
            pos += 4
            if pos + n > len(raw):
                raise _bad(f"{where}: truncated BYTES element")
            items.append(raw[pos : pos + n].decode("utf-8", errors="replace"))
            pos += n
        if len(items) != count:
            raise _bad(f"{where}: shape says {count} elements, binary data has {len(items)}")
        return np.asarray(items, dtype=object)
    dtype = DATATYPES[datatype]
    assert dtype is not None
    if len(raw) != count * dtype.itemsize:
        raise _bad(
            f"{where}: {count} {datatype} elements need {count * dtype.itemsize} bytes, "
            f"got {len(raw)}"
        )
    return np.frombuffer(raw, dtype=dtype)


def _is_matrix(inputs: list[Tensor], names: list[str]) -> bool:
    """One [n, d] tensor holding every column, in the signature's order."""
    if len(inputs) != 1 or len(inputs[0].shape) != 2 or inputs[0].shape[1] != len(names):
        return False
    return len(names) > 1 or inputs[0].name not in names


def rows_from_tensors(
    inputs: list[Tensor], signature: Signature
) -> np.ndarray | pd.DataFrame | Feeds:
    """The rows the tensors carry, validated against the signature.

    An all-numeric signature gets one float64 ``[n, d]`` block (no DataFrame: the fast
    path); an imported graph gets its feeds; other signatures get a DataFrame.
    """
    if signature.tensor_inputs:
        return check_feeds(inputs, signature)
    names = signature.names
    numeric = signature.all_numeric
    if _is_matrix(inputs, names):
        t = inputs[0]
        arr = t.data.reshape(t.shape)
        if numeric and t.datatype not in ("BYTES", "BOOL"):
            return signature.validate_block(arr)
        return signature.validate(pd.DataFrame(arr, columns=names, copy=False))
    columns: dict[str, np.ndarray] = {}
    rows = None
    for t in inputs:
        if t.name in columns:
            raise _bad(f"input {t.name!r} is given twice")
        if len(t.shape) not in (1, 2) or (len(t.shape) == 2 and t.shape[1] != 1):
            raise _bad(
                f"input {t.name!r} has shape {t.shape}; a column takes [n] or [n, 1] "
                f"(or send one [n, {len(names)}] tensor with every column)"
            )
        if rows is not None and t.shape[0] != rows:
            raise _bad(f"input {t.name!r} has {t.shape[0]} rows, others have {rows}")
        rows = t.shape[0]
        columns[t.name] = t.data.reshape(-1)
    if (
        numeric
        and columns.keys() == set(names)
        and all(t.datatype not in ("BYTES", "BOOL") for t in inputs)
    ):
        return signature.validate_block(np.column_stack([columns[n] for n in names]))
    return signature.validate(pd.DataFrame(columns, copy=False))


def _datatype(arr: np.ndarray) -> str:
    if arr.dtype == object or arr.dtype.kind in "US":
        return "BYTES"
    if arr.dtype.kind == "b":
        return "BOOL"
    if arr.dtype.kind in "iu":
        return "INT64"
    return "FP64"


def output_tensors(
    outputs: Outputs, requested: list[str], want_proba: bool, predict_name: str = "predict"
) -> list[Tensor]:
    """The response tensors: ``predict`` (or an embeddings model's ``embedding``) and probabilities."""
    names = requested or ([predict_name, "predict_proba"] if want_proba else [predict_name])
    tensors = []
    for name in names:
        if name == predict_name:
            arr = outputs.predict
            if arr.ndim == 2:  # embeddings: [n, dim] float32
                vectors = np.ascontiguousarray(arr, dtype=np.float32)
                tensors.append(Tensor(name, list(vectors.shape), "FP32", vectors))
                continue
            if arr.dtype.kind in "iu":
                arr = arr.astype(np.int64, copy=False)
            elif arr.dtype.kind == "f":
                arr = arr.astype(np.float64, copy=False)
            elif arr.dtype.kind in "US":
                arr = arr.astype(object)
            tensors.append(Tensor(name, [len(arr)], _datatype(arr), arr))
        elif name == "predict_proba" and predict_name == "predict":
            if outputs.proba is None:
                raise _bad("predict_proba is only available from classifiers")
            tensors.append(
                Tensor("predict_proba", list(outputs.proba.shape), "FP64", outputs.proba)
            )
        else:
            known = predict_name + (", predict_proba" if predict_name == "predict" else "")
            raise _bad(f"unknown output {name!r}; outputs are: {known}")
    return tensors


def graph_output_tensors(
    outputs: Outputs, requested: list[str], signature: Signature
) -> list[Tensor]:
    """An imported graph's response: the outputs asked for (default: every graph output, then
    ``predict`` for a classifier or regressor), each of the datatype the graph declares."""
    graph = outputs.extra or {}
    specs = {t.name: t for t in signature.tensor_outputs}
    derived = signature.output.task in ("classification", "regression") and "predict" not in specs
    names = requested or [*specs, *(["predict"] if derived else [])]
    tensors = []
    for name in names:
        if name in specs:
            arr = graph[name]
            datatype = specs[name].datatype
            if datatype == "BYTES":
                arr = arr.astype(object)
            tensors.append(Tensor(name, list(arr.shape), datatype, arr))
        elif name == "predict" and derived:
            arr = outputs.predict
            arr = arr.astype(object) if arr.dtype.kind in "US" else arr
            tensors.append(Tensor(name, [len(arr)], _datatype(arr), arr))
        else:
            known = ", ".join([*specs, *(["predict"] if derived else [])])
            raise _bad(f"unknown output {name!r}; outputs are: {known}")
    return tensors


def _json_data(arr: np.ndarray) -> Any:
    if arr.dtype.kind in "fib":  # orjson writes numeric numpy arrays itself, fast
        return np.ascontiguousarray(arr.ravel())
    if arr.dtype == object:
        return [
            v if isinstance(v, str | int | float | bool) or v is None else str(v)
            for v in arr.ravel()
        ]
    return arr.ravel().tolist()


def to_binary(t: Tensor) -> bytes:
    """A tensor as raw little-endian bytes (the binary extension's and gRPC's raw form)."""
    if t.datatype == "BYTES":
        parts = []
        for v in t.data.ravel():
            b = str(v).encode()
            parts.append(struct.pack("<I", len(b)) + b)
        return b"".join(parts)
    dtype = DATATYPES[t.datatype]
    assert dtype is not None
    return np.ascontiguousarray(t.data, dtype=dtype).tobytes()


def encode_response(
    doc: dict[str, Any], tensors: list[Tensor], binary: set[str], all_binary: bool
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header length when binary data follows it."""
    outs, chunks = [], []
    for t in tensors:
        entry: dict[str, Any] = {"name": t.name, "shape": t.shape, "datatype": t.datatype}
        if all_binary or t.name in binary:
            raw = to_binary(t)
            chunks.append(raw)
            entry["parameters"] = {"binary_data_size": len(raw)}
        else:
            entry["data"] = _json_data(t.data)
        outs.append(entry)
    head = orjson.dumps({**doc, "outputs": outs}, option=orjson.OPT_SERIALIZE_NUMPY)
    if not chunks:
        return head, None
    return head + b"".join(chunks), len(head)
