"""``optimize``: a new, measured version from an existing one, or a report of why not.

The new version's parent is the version it was made from; the gate's numbers, the
speed-up and the size ratio are stored in its metrics (``optimization``). A
candidate that fails its gate is not registered unless ``force`` is given, and the
outcome says why, with the numbers. Transformer versions take every method of
:mod:`modelbay.optimize.text`; scikit-learn versions take ``onnx`` (compiled with
the registration parity check: identical labels, probabilities within 1e-4).

Without a method, the version's kind picks the one that fits it (:func:`default_method`):
``int8`` for a transformer, ``onnx`` for scikit-learn. A method that would change nothing
(``onnx`` of a version ONNX Runtime serves already, ``int8`` of an int8 version) is not
run: the outcome says so (``noop``) and nothing is registered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modelbay.errors import ValidationError
from modelbay.registry.home import Registry
from modelbay.registry.records import ModelVersion

__all__ = ["OptimizeOutcome", "default_method", "optimize"]


@dataclass
class OptimizeOutcome:
    parent: str
    method: str
    passed: bool
    registered: str | None  # the new version's ref, when one was registered
    forced: bool = False
    gate: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    noop: bool = False  # nothing to do: the version is already what the method would make

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_method(version: ModelVersion) -> str:
    """The method that fits a version's kind: int8 quantization for a transformer (the one
    most worth having on a CPU), ONNX compilation for scikit-learn (the only one it takes)."""
    return "int8" if version.flavor == "transformers" else "onnx"


def nothing_to_do(version: ModelVersion, method: str) -> str | None:
    """Why ``method`` would change nothing in ``version``, or None when it would."""
    serving = version.serving
    if version.flavor == "transformers":
        engine, dtype = serving.get("engine"), serving.get("dtype")
        if method == "onnx" and engine == "onnx" and dtype == "float32":
            return f"nothing to do: {version.ref} is already served by ONNX Runtime (float32)"
        if method.startswith("int8") and dtype == "int8":
            return f"nothing to do: {version.ref} is already quantized to int8"
        if method == "bf16" and dtype == "bfloat16":
            return f"nothing to do: {version.ref} already runs in bfloat16"
        return None
    if method == "onnx" and version.runtime == "onnx":
        return (
            f"nothing to do: {version.ref} is already served by ONNX Runtime "
            f"({version.runtime_reason})"
        )
    return None


def optimize(
    registry: Registry,
    ref: str,
    method: str | None = None,
    *,
    force: bool = False,
    data: pd.DataFrame | None = None,
    text: str | None = None,
    target: str | None = None,
    keep_layers: int | None = None,
    aliases: Iterable[str] = (),
) -> OptimizeOutcome:
    version = registry.models.get(ref)
    if version.flavor == "onnx":
        raise ValidationError(
            f"{version.ref} is an ONNX graph imported as it is: modelbay optimizes the "
            "scikit-learn and transformer models it holds; optimize the graph before importing it"
        )
    method = method or default_method(version)
    with registry.audit.action("optimize", version.ref) as note:
        idle = nothing_to_do(version, method)
        if idle is not None:
            note["detail"] = f"{method}: {idle}"
            return OptimizeOutcome(version.ref, method, True, None, reason=idle, noop=True)
        if version.flavor == "transformers":
            outcome = _text(
                registry, version, method, force, data, text, target, keep_layers, aliases
            )
        else:
            outcome = _sklearn(registry, version, method, aliases)
        note["detail"] = f"{method}: " + (
            f"registered {outcome.registered}"
            if outcome.registered
            else f"refused ({outcome.reason})"
        )
        return outcome


def _text(
    registry: Registry,
    version: ModelVersion,
    method: str,
    force: bool,
    data: pd.DataFrame | None,
    text: str | None,
    target: str | None,
    keep_layers: int | None,
    aliases: Iterable[str],
) -> OptimizeOutcome:
    from modelbay.optimize.text import candidate, measure
    from modelbay.optimize.text_import import register_bundle

    bundle = registry.models.load_object(version)
    texts, labels = _held_out(registry, version, data, text, target)
    cand = candidate(bundle, method, keep_layers=keep_layers)
    gate = measure(bundle, cand, texts, labels)
    report = {**gate.to_dict(), "method": method, "texts": len(texts)}
    if not gate.passed and not force:
        return OptimizeOutcome(version.ref, method, False, None, False, report, gate.reason)
    metrics: dict[str, Any] = {"optimization": report}
    if "accuracy" in gate.metrics:
        metrics["holdout"] = {"accuracy": gate.metrics["accuracy"]}
    new = register_bundle(
        registry,
        version.model,
        cand,
        lineage={
            **{k: v for k, v in version.lineage.items() if k in ("dataset", "target", "config")},
            "parent": version.lineage_ref(),
            "optimized": {"method": method, "forced": force and not gate.passed},
        },
        metrics=metrics,
        params={**version.params, "optimization": method},
        reference_stats=version.reference_stats,
        aliases=aliases,
        description=f"{method} of {version.ref}",
        target=version.signature.output.name,
        serving={"optimized": method},
    )
    return OptimizeOutcome(
        version.ref, method, gate.passed, new.ref, force and not gate.passed, report, gate.reason
    )


def _held_out(
    registry: Registry,
    version: ModelVersion,
    data: pd.DataFrame | None,
    text: str | None,
    target: str | None,
) -> tuple[list[str], list[Any] | None]:
    """The texts (and labels) a gate runs on: given data, else the training holdout."""
    from modelbay.text.samples import sentences

    classifier = version.task == "classification"
    target = target or (version.lineage.get("target") if classifier else None)
    if data is not None:
        column = text or ("text" if "text" in data.columns else None)
        if column is None or column not in data.columns:
            raise ValidationError("name the data's text column (text=...)")
        rows = data.dropna(subset=[column] + ([target] if target else []))
        labels = rows[target].tolist() if classifier and target in rows.columns else None
        return rows[column].astype(str).tolist(), labels
    config = (version.lineage.get("config") or {}).get("text")
    dataset = version.lineage.get("dataset")
    if classifier and config and dataset:
        from modelbay.train.text import TextSpec, holdout_split

        spec = TextSpec(**config)
        column, _, _, test = holdout_split(registry.datasets.load(int(dataset["id"])), spec)
        return test[column].astype(str).tolist(), test[spec.target].tolist()
    if classifier:
        raise ValidationError(
            f"{version.ref} was not trained here, so its gate needs labelled text: "
            "give data with a text and a label column"
        )
    return sentences(256), None


def _sklearn(
    registry: Registry, version: ModelVersion, method: str, aliases: Iterable[str]
) -> OptimizeOutcome:
    from modelbay.optimize.onnx import compile_sklearn

    if method != "onnx":
        raise ValidationError(
            f"scikit-learn versions take the onnx method (with its parity check), not {method!r}"
        )
    model = registry.models.load_object(version)
    sample = _sample(registry, version)
    compiled = compile_sklearn(model, version.signature, sample)
    if compiled.onnx is None:
        reason = str(compiled.report.get("reason", "the graph did not pass its parity check"))
        return OptimizeOutcome(version.ref, method, False, None, False, compiled.report, reason)
    with registry.models.register(version.model) as draft:
        draft.task, draft.algorithm, draft.signature = (
            version.task,
            version.algorithm,
            version.signature,
        )
        draft.flavor = version.flavor
        draft.metrics = {**version.metrics, "optimization": {"method": "onnx", **compiled.report}}
        draft.params = dict(version.params)
        draft.lineage = {
            **version.lineage,
            "parent": version.lineage_ref(),
            "optimized": {"method": "onnx"},
        }
        draft.reference_stats = version.reference_stats
        draft.aliases = list(aliases)
        draft.description = f"onnx of {version.ref}"
        draft.save_bytes(registry.store.get(version.artifact_digest), version.artifact_format)
        draft.add_artifact("onnx", compiled.onnx, "onnx", compiled.report)
        draft.serving = compiled.report
    assert draft.version is not None
    return OptimizeOutcome(version.ref, method, True, draft.version.ref, False, compiled.report)


def _sample(registry: Registry, version: ModelVersion) -> pd.DataFrame:
    """Held-out-like rows for the parity check: the training data's, else made up."""
    names = version.signature.names
    dataset = version.lineage.get("dataset")
    if dataset:
        df = registry.datasets.load(int(dataset["id"]))
        if set(names) <= set(df.columns):
            return version.signature.validate(df[names].dropna().head(500))
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(64, len(names))), columns=names)
