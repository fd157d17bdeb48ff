"""The inputs of a graph served as it is (an imported ONNX file), checked against its tensors.

A request's tensors become :class:`Feeds`: the arrays the graph takes, by name, each of
the graph's numpy type and shape. The first dimension of every input is the batch: when
it is dynamic in every input, requests are merged along it (the batcher concatenates
feeds as it does tabular rows); when one input fixes it, each request is called alone.
Every fixed dimension must match, the inputs must agree on the batch, and dimensions
that the graph names alike (``seq`` in ``input_ids`` and ``attention_mask``) must agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from modelbay.data.signature import Signature, TensorSpec
from modelbay.errors import SchemaError

__all__ = ["NUMPY_TYPES", "ORT_TYPES", "Feeds", "check_feeds", "synthetic_feeds"]

# what ONNX Runtime takes and gives for each Open Inference Protocol datatype
NUMPY_TYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": object,
}
# ONNX Runtime's names of tensor element types (NodeArg.type) as datatypes
ORT_TYPES = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}


class _Tensor(Protocol):  # what the codec decodes: serve.codec.Tensor
    name: str
    shape: list[int]
    datatype: str
    data: np.ndarray


class Feeds:
    """A request's (or a merged call's) input arrays by name; ``len`` is its batch."""

    __slots__ = ("arrays", "batched", "rows")

    def __init__(self, arrays: dict[str, np.ndarray], rows: int, *, batched: bool = True) -> None:
        self.arrays = arrays
        self.rows = rows
        self.batched = batched  # False: the graph fixes the batch, requests are not merged

    def __len__(self) -> int:
        return self.rows

    def __getitem__(self, index: slice) -> Feeds:
        """Rows of every input (the prediction log takes every k-th)."""
        if not self.batched:
            return self
        return Feeds(
            {k: v[index] for k, v in self.arrays.items()}, len(range(*index.indices(self.rows)))
        )

    def copy(self) -> Feeds:
        return Feeds({k: v.copy() for k, v in self.arrays.items()}, self.rows, batched=self.batched)

    @staticmethod
    def concat(parts: Sequence[Feeds]) -> Feeds:
        """One call's feeds from several requests' (the batcher calls each alone if this fails:
        a graph that fixes its batch, or other dynamic dimensions that differ)."""
        if not all(p.batched for p in parts):
            raise SchemaError("this graph fixes its batch dimension: requests are not merged")
        first = parts[0].arrays
        return Feeds(
            {k: np.concatenate([p.arrays[k] for p in parts]) for k in first},
            sum(p.rows for p in parts),
        )


def batched(specs: Sequence[TensorSpec]) -> bool:
    """Whether the graph's first dimension is dynamic in every input (requests may merge)."""
    return all(s.shape and s.shape[0] == -1 for s in specs)


def check_feeds(inputs: Sequence[_Tensor], signature: Signature) -> Feeds:
    """The request's tensors as the graph's feeds; a :class:`SchemaError` says what to fix."""
    specs = {s.name: s for s in signature.tensor_inputs}
    given: dict[str, _Tensor] = {}
    for t in inputs:
        if t.name not in specs:
            raise SchemaError(f"unknown input {t.name!r}; the model's inputs are: {_listed(specs)}")
        if t.name in given:
            raise SchemaError(f"input {t.name!r} is given twice")
        given[t.name] = t
    missing = [s.describe() for n, s in specs.items() if n not in given]
    if missing:
        raise SchemaError(f"missing input(s): {', '.join(missing)}; send every input")
    arrays: dict[str, np.ndarray] = {}
    symbols: dict[str, tuple[int, str]] = {}
    rows = None
    for name, spec in specs.items():
        t = given[name]
        _check_shape(t, spec, symbols)
        if t.datatype != spec.datatype:
            raise SchemaError(
                f"input {name!r} expects {spec.datatype}, got {t.datatype}: send {spec.describe()}"
            )
        if rows is None:
            rows = t.shape[0]
        elif t.shape[0] != rows:
            raise SchemaError(
                f"input {name!r} has a batch of {t.shape[0]}, the first input has {rows}: "
                "every input needs the same first dimension"
            )
        arrays[name] = t.data.reshape(t.shape).astype(NUMPY_TYPES[spec.datatype], copy=False)
    assert rows is not None
    if rows == 0:
        raise SchemaError("the inputs have a batch of 0: there is nothing to predict")
    return Feeds(arrays, rows, batched=batched(signature.tensor_inputs))


def _check_shape(t: _Tensor, spec: TensorSpec, symbols: dict[str, tuple[int, str]]) -> None:
    want = spec.shape
    if len(t.shape) != len(want) or any(
        w not in (-1, g) for w, g in zip(want, t.shape, strict=True)
    ):
        raise SchemaError(
            f"input {t.name!r} expects shape {want} (-1: any size), got {t.shape}: send "
            f"{spec.describe()}"
        )
    for axis, symbol in enumerate(spec.symbols):
        if not symbol or axis == 0:  # the batch is checked across inputs on its own
            continue
        seen = symbols.setdefault(symbol, (t.shape[axis], t.name))
        if seen[0] != t.shape[axis]:
            raise SchemaError(
                f"input {t.name!r} has {t.shape[axis]} in dimension {axis} ({symbol!r}), "
                f"input {seen[1]!r} has {seen[0]} there: the graph needs them equal"
            )


def synthetic_feeds(specs: Sequence[TensorSpec], rows: int = 1) -> Feeds:
    """Feeds of ``rows`` made-up examples: small random floats, zeros (safe indices), empty
    texts; every dynamic dimension 1. What the import runs once and a server warms up on."""
    rng = np.random.default_rng(0)
    arrays: dict[str, np.ndarray] = {}
    for s in specs:
        shape = [d if d >= 0 else 1 for d in s.shape]
        if s.shape and s.shape[0] == -1:
            shape[0] = rows
        dtype = NUMPY_TYPES[s.datatype]
        if s.datatype.startswith("FP"):
            arrays[s.name] = rng.normal(size=shape).astype(dtype)
        elif s.datatype == "BYTES":
            arrays[s.name] = np.full(shape, "", dtype=object)
        else:
            arrays[s.name] = np.zeros(shape, dtype=dtype)
    first = next(iter(arrays.values()))
    return Feeds(arrays, int(first.shape[0]), batched=batched(specs))


def _listed(specs: dict[str, TensorSpec]) -> str:
    return ", ".join(s.describe() for s in specs.values())
