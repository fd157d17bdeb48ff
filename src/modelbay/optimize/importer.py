"""Bringing a model made elsewhere into the registry: checked, registered, compiled.

An ONNX graph is registered as it is, with its own tensors (``graph_import``); a
transformer directory through ``text_import``. Of scikit-learn models only skops
files are taken. A pickle is refused before anything reads it, and a
skops file that holds types outside the reviewed trust list is refused with their
names. The input signature comes from the estimator (``feature_names_in_``, else
``n_features_in_`` numeric columns ``x0..``); the version is compiled to ONNX with
the same parity gate as a trained one.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelbay.artifacts.formats import SkopsFormat
from modelbay.artifacts.inputs import model_input
from modelbay.artifacts.pickles import sniff_pickle
from modelbay.data.signature import ColumnSpec, OutputSpec, Signature
from modelbay.errors import UnsafeArtifactError, ValidationError
from modelbay.optimize.onnx import compile_sklearn
from modelbay.registry.home import Registry
from modelbay.registry.records import ModelVersion, file_lineage

__all__ = ["import_model", "import_sklearn"]


def _task(model: Any) -> tuple[str, list[Any] | None]:
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(model) and hasattr(model, "classes_"):
        return "classification", [c.item() if hasattr(c, "item") else c for c in model.classes_]
    if is_regressor(model):
        return "regression", None
    if hasattr(model, "cluster_centers_") or type(model).__name__.lower().endswith("kmeans"):
        return "clustering", None
    raise ValidationError(
        f"a {type(model).__name__} is not a fitted classifier, regressor or clusterer"
    )


def _columns(model: Any) -> list[str]:
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    n = getattr(model, "n_features_in_", None)
    if isinstance(n, int | np.integer) and n > 0:
        return [f"x{i}" for i in range(int(n))]
    raise ValidationError(
        "the model does not say its inputs (no feature_names_in_ or n_features_in_)"
    )


def import_model(
    registry: Registry,
    source: bytes | str | Path,
    name: str | None = None,
    *,
    task: str | None = None,
    aliases: Iterable[str] = (),
    description: str = "",
    classes: Sequence[Any] | None = None,
) -> ModelVersion:
    """Register a model made elsewhere (the one import of every face): a scikit-learn skops
    file or its bytes (pickles are refused), an ONNX file or its bytes with ``task``
    ``tensor`` (the default), ``classification`` (labels: ``classes``, default 0..k-1) or
    ``regression``, a Hugging Face / sentence-transformers directory (safetensors weights)
    with ``task`` ``embeddings`` (the default for a directory) or ``text-classification``,
    or a modelbay export (a folder or its tar, registered under its own name unless
    ``name`` is given)."""
    from modelbay.optimize.export_import import import_export, is_export

    if is_export(source):
        if task is not None or classes:
            raise ValidationError(
                "--task and --classes are for ONNX files and transformer directories; "
                "an export says its own"
            )
        return import_export(
            registry, source, name, aliases=aliases, description=description or None
        )
    if name is None:
        raise ValidationError("name the model to register it under (--name)")
    if not isinstance(source, bytes) and Path(source).is_dir():
        from modelbay.optimize.text_import import import_transformer

        return import_transformer(
            registry,
            source,
            name,
            task=task or "embeddings",
            aliases=aliases,
            description=description,
        )
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if not sniff_pickle(data) and not zipfile.is_zipfile(io.BytesIO(data)):
        from modelbay.optimize.graph_import import import_onnx

        return import_onnx(
            registry,
            data,
            name,
            task=task,
            classes=classes,
            aliases=aliases,
            description=description,
        )
    if task is not None or classes:
        raise ValidationError(
            "--task and --classes are for ONNX files and transformer directories; "
            "a skops file says its own"
        )
    return import_sklearn(registry, data, name, aliases=aliases, description=description)


def import_sklearn(
    registry: Registry,
    data: bytes,
    name: str,
    *,
    aliases: Iterable[str] = (),
    description: str = "",
) -> ModelVersion:
    """Register a fitted scikit-learn model from the bytes of a skops file."""
    with registry.audit.action("import", name) as note:
        version = _import(registry, data, name, aliases, description)
        note["detail"] = f"version {version.version} ({version.algorithm})"
        return version


def _import(
    registry: Registry, data: bytes, name: str, aliases: Iterable[str], description: str
) -> ModelVersion:
    if sniff_pickle(data):
        raise UnsafeArtifactError(
            "this is a pickle file, and modelbay never loads pickles (they run code when "
            "opened): save the model with skops.io.dump(model, 'model.skops') and upload that"
        )
    model = SkopsFormat().loads(data)  # refuses non-zip files and untrusted types, by name
    if not hasattr(model, "predict"):
        raise ValidationError(f"a {type(model).__name__} has no predict(): it is not a model")
    task, classes = _task(model)
    columns = _columns(model)
    signature = Signature(
        inputs=[ColumnSpec(c, "numeric", "float64", True) for c in columns],
        output=OutputSpec(
            task=task,
            name="cluster" if task == "clustering" else "target",
            dtype="float64" if task == "regression" else "object",
            classes=classes,
        ),
    )
    sample = pd.DataFrame(np.random.default_rng(0).normal(size=(64, len(columns))), columns=columns)
    try:
        model.predict(model_input(model, sample, columns))
    except Exception as exc:
        raise ValidationError(f"the model cannot predict on {len(columns)} numbers: {exc}") from exc
    with registry.models.register(name) as draft:
        draft.task = task
        draft.algorithm = type(model).__name__
        draft.signature = signature
        draft.description = description
        draft.aliases = list(aliases)
        draft.lineage = file_lineage(data)
        draft.save_bytes(data, "skops")
        compiled = compile_sklearn(model, signature, sample)
        if compiled.onnx is not None:
            draft.add_artifact("onnx", compiled.onnx, "onnx", compiled.report)
        draft.serving = compiled.report
    assert draft.version is not None
    return draft.version
