"""Compile a fitted scikit-learn pipeline to an ONNX graph, and prove it agrees.

The graph takes one ``float32`` tensor ``input`` of shape ``[n, d]`` (the signature's
columns, in order). It is kept only if, on held-out rows, every label is identical
and every probability (or regression value, relatively) is within ``1e-4`` of the
original; otherwise the report says why and scikit-learn serves the version.
Tables with non-numeric columns are served by scikit-learn.
"""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modelbay.artifacts.inputs import model_input
from modelbay.data.signature import Signature

__all__ = ["TOLERANCE", "Compiled", "compile_sklearn", "positional_copy"]

TOLERANCE = 1e-4
_OPSETS: list[dict[str, int] | None] = [None, {"": 17, "ai.onnx.ml": 3}, {"": 15, "ai.onnx.ml": 1}]


@dataclass
class Compiled:
    onnx: bytes | None
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.onnx is not None


def _fallback(reason: str, **extra: Any) -> Compiled:
    return Compiled(None, {"runtime": "sklearn", "reason": reason, **extra})


def compile_sklearn(model: Any, signature: Signature, sample: pd.DataFrame) -> Compiled:
    """Try to compile ``model``; the result says which runtime should serve it and why."""
    started = time.perf_counter()
    others = [c.name for c in signature.inputs if c.kind != "numeric"]
    if others:
        return _fallback(f"non-numeric inputs ({', '.join(others)}) are served by scikit-learn")
    try:
        import onnxruntime as ort
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType
    except ImportError as exc:  # pragma: no cover - both are dependencies of modelbay
        return _fallback(f"ONNX tools are not installed: {exc}")
    positional = positional_copy(model, signature.names)
    final = positional.steps[-1][1] if hasattr(positional, "steps") else positional
    options = {id(final): {"zipmap": False}} if signature.output.task == "classification" else None
    errors = []
    for opset in _OPSETS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                graph = convert_sklearn(
                    positional,
                    initial_types=[("input", FloatTensorType([None, len(signature.names)]))],
                    options=options,
                    target_opset=opset,
                )
            data = graph.SerializeToString()
            session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
            break
        except Exception as exc:  # converters raise many types; each is a reason to fall back
            errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    else:
        return _fallback(f"conversion failed: {errors[-1]}")
    x = signature.validate(sample)
    outputs = session.run(None, {"input": x.to_numpy(dtype=np.float32)})
    parity = _parity(model, x, outputs, signature.output.task)
    parity["compile_s"] = round(time.perf_counter() - started, 4)
    if parity.pop("failed", None):
        return _fallback(f"parity check failed: {parity['detail']}", parity=parity)
    return Compiled(
        data,
        {
            "runtime": "onnx",
            "input": {"name": "input", "datatype": "FP32", "shape": [-1, len(signature.names)]},
            "outputs": [o.name for o in session.get_outputs()],
            "opset": {d.domain or "ai.onnx": d.version for d in graph.opset_import},
            "parity": parity,
        },
    )


def _parity(model: Any, x: Any, outputs: list[Any], task: str) -> dict[str, Any]:
    """Compare the graph's outputs with the original's on the same rows."""
    x = model_input(model, x, list(x.columns))
    labels = np.asarray(outputs[0]).ravel()
    out: dict[str, Any] = {"rows_checked": len(x), "tolerance": TOLERANCE}
    if task == "regression":
        want = np.asarray(model.predict(x), dtype=np.float64).ravel()
        diff = np.abs(labels.astype(np.float64) - want) / np.maximum(1.0, np.abs(want))
        out["max_relative_diff"] = float(diff.max())
        if diff.max() > TOLERANCE:
            out.update(failed=True, detail=f"values differ by up to {diff.max():.2e} (relative)")
        return out
    want = np.asarray(model.predict(x)).ravel()
    same = labels.astype(str) == want.astype(str)
    out["label_agreement"] = float(same.mean())
    if not same.all():
        out.update(failed=True, detail=f"{int((~same).sum())} of {len(same)} labels differ")
        return out
    if task == "classification" and len(outputs) > 1 and hasattr(model, "predict_proba"):
        proba = np.asarray(outputs[1], dtype=np.float64)
        gap = float(np.abs(proba - model.predict_proba(x)).max())
        out["max_proba_diff"] = gap
        if gap > TOLERANCE:
            out.update(failed=True, detail=f"probabilities differ by up to {gap:.2e}")
    return out


def positional_copy(model: Any, names: list[str]) -> Any:
    """A copy whose column selections are positions in ``names`` instead of column names."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    clone = copy.deepcopy(model)
    index = {n: i for i, n in enumerate(names)}

    def visit(est: Any) -> None:
        if isinstance(est, Pipeline):
            for _, step in est.steps:
                visit(step)
        elif isinstance(est, ColumnTransformer):
            for attr in ("transformers", "transformers_"):
                parts = getattr(est, attr, None)
                if parts is not None:
                    setattr(est, attr, [(n, t, _positions(c, index)) for n, t, c in parts])
            for _, t, _ in getattr(est, "transformers_", []):
                visit(t)

    visit(clone)
    return clone


def _positions(columns: Any, index: dict[str, int]) -> Any:
    if isinstance(columns, list | tuple) and all(isinstance(c, str) for c in columns):
        return [index[c] for c in columns]
    return columns
