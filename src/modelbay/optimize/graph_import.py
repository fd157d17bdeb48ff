"""Registering an ONNX graph made elsewhere, as it is: images, sequences, several inputs.

The signature is the graph's own: each input and output by name, with its datatype
and its shape (-1 for a dynamic dimension). The first dimension of every input and
output is the batch (requests merge along it when it is dynamic in every input).
The graph is loaded by ONNX Runtime and run once on made-up inputs of that signature
before anything is written: a graph that cannot run is refused and nothing is
registered. The artifact is the file's bytes, stored sealed like every other.

What ``predict`` means is the ``task`` the importer names, since a graph does not say:

- ``tensor`` (the default): the graph's outputs are the answer; no label is derived, and
  live quality from feedback does not apply.
- ``classification``: the label is the argmax over the last axis of the first
  floating-point output of rank 2 (logits or probabilities alike: the argmax is the
  same), mapped to ``classes`` (default ``0 .. k-1``). It is served as ``predict``
  beside the graph's outputs, logged, and compared with feedback for live accuracy.
- ``regression``: the value is the first floating-point output of shape ``[n]`` or
  ``[n, 1]``, served as ``predict``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from modelbay.data.signature import OutputSpec, Signature, TensorSpec
from modelbay.data.tensors import ORT_TYPES, synthetic_feeds
from modelbay.errors import ValidationError
from modelbay.registry.home import Registry
from modelbay.registry.records import ModelVersion, file_lineage

__all__ = ["GRAPH_TASKS", "graph_signature", "import_onnx"]

GRAPH_TASKS = ("tensor", "classification", "regression")
PROBE_ROWS = 2  # the made-up batch: 2, so that a batch dimension that only takes 1 is caught


def import_onnx(
    registry: Registry,
    data: bytes,
    name: str,
    *,
    task: str | None = None,
    classes: Sequence[Any] | None = None,
    aliases: Iterable[str] = (),
    description: str = "",
) -> ModelVersion:
    """Register the bytes of an ONNX file as it is (see the module docstring for ``task``)."""
    with registry.audit.action("import", name) as note:
        signature, report = graph_signature(data, task or "tensor", classes)
        with registry.models.register(name) as draft:
            draft.task = signature.output.task
            draft.flavor = "onnx"
            draft.algorithm = f"ONNX graph ({report['producer'] or 'unknown producer'})"
            draft.signature = signature
            draft.description = description
            draft.aliases = list(aliases)
            draft.lineage = file_lineage(data)
            draft.save_bytes(data, "onnx")
            draft.serving = report
        assert draft.version is not None
        note["detail"] = f"version {draft.version.version} (ONNX graph, {draft.task})"
        return draft.version


def graph_signature(
    data: bytes, task: str, classes: Sequence[Any] | None = None
) -> tuple[Signature, dict[str, Any]]:
    """The graph's signature and serving report, after one run on made-up inputs."""
    if task not in GRAPH_TASKS:
        raise ValidationError(
            f"task {task!r} for an ONNX graph is not one of: {', '.join(GRAPH_TASKS)}"
        )
    session = _session(data)
    inputs = [_spec(a, "input") for a in session.get_inputs()]
    outputs = [_spec(a, "output") for a in session.get_outputs()]
    feeds = synthetic_feeds(inputs, PROBE_ROWS)
    try:
        results = [np.asarray(r) for r in session.run(None, feeds.arrays)]
    except Exception as exc:  # ONNX Runtime's own types
        raise ValidationError(
            f"the graph does not run on made-up inputs of its own signature "
            f"({'; '.join(s.describe() for s in inputs)}, batch {feeds.rows}): "
            f"{str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__}"
        ) from exc
    for spec, value in zip(outputs, results, strict=True):
        if value.ndim == 0 or value.shape[0] != feeds.rows:
            raise ValidationError(
                f"output {spec.name!r} has shape {list(value.shape)} for a batch of {feeds.rows}: "
                "modelbay serves graphs whose first dimension is the batch, in and out"
            )
    output = _output(task, outputs, results, classes)
    meta = session.get_modelmeta()
    report = {
        "runtime": "onnx",
        "inputs": [s.describe() for s in inputs],
        "outputs": [s.describe() for s in outputs],
        "batched": feeds.batched,
        "producer": meta.producer_name,
        "checked": f"ran on {feeds.rows} made-up rows",
    }
    return Signature([], output, {}, inputs, outputs), report


def _session(data: bytes) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    try:
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise ValidationError(
            "this is neither a skops file (a zip archive) nor an ONNX graph that ONNX Runtime "
            f"can load: {first}"
        ) from exc


def _spec(arg: Any, role: str) -> TensorSpec:
    datatype = ORT_TYPES.get(arg.type)
    if datatype is None:
        raise ValidationError(
            f"{role} {arg.name!r} is a {arg.type}: only tensors can be served (a scikit-learn "
            "classifier converted with skl2onnx: convert with options={'zipmap': False})"
        )
    dims = list(arg.shape or [])
    if not dims:
        raise ValidationError(
            f"{role} {arg.name!r} is a scalar (or of unknown rank): modelbay serves graphs "
            "whose first dimension is the batch"
        )
    shape = [d if isinstance(d, int) and d >= 0 else -1 for d in dims]
    symbols = [d if isinstance(d, str) else "" for d in dims]
    return TensorSpec(arg.name, datatype, shape, symbols if any(symbols) else [])


def _output(
    task: str,
    outputs: list[TensorSpec],
    results: list[np.ndarray],
    classes: Sequence[Any] | None,
) -> OutputSpec:
    """Which output gives ``predict``, and the classes of a classifier."""
    floats = [(s, r) for s, r in zip(outputs, results, strict=True) if s.datatype.startswith("FP")]
    if task == "classification":
        found = next(((s, r) for s, r in floats if r.ndim == 2), None)
        if found is None:
            raise ValidationError(
                "--task classification needs a floating-point output of shape [n, classes] "
                f"(logits or probabilities); the outputs are: {_listed(outputs)}"
            )
        spec, value = found
        k = int(value.shape[1])
        labels = list(classes) if classes else list(range(k))
        if len(labels) != k:
            raise ValidationError(
                f"{len(labels)} classes given, but output {spec.name!r} scores {k}: "
                "name one class per column"
            )
        return OutputSpec("classification", spec.name, "int64" if not classes else "object", labels)
    if task == "regression":
        found = next(((s, r) for s, r in floats if r.ndim == 1 or r.shape[1:] == (1,)), None)
        if found is None:
            raise ValidationError(
                "--task regression needs a floating-point output of shape [n] or [n, 1]; "
                f"the outputs are: {_listed(outputs)}"
            )
        return OutputSpec("regression", found[0].name, "float64")
    if classes:
        raise ValidationError("classes are for --task classification")
    return OutputSpec("tensor", outputs[0].name, outputs[0].datatype)


def _listed(specs: list[TensorSpec]) -> str:
    return ", ".join(s.describe() for s in specs)
