"""Importing an export: a folder (or its tar) written by ``modelbay models export``, back in.

:func:`~modelbay.registry.exports.read_export` checks the folder first (format, every
file against its sha256, no pickles). Then each kind goes the way its import goes:
a text model through :func:`~modelbay.optimize.text_import.register_bundle` (loaded and
run before it is registered), a scikit-learn model or an ONNX graph through its format's
loader (the skops trust list, ONNX Runtime). The new version carries the export's
signature, metrics, params, serving report and reference statistics; its lineage says
it was imported from an export of the source ref and keeps the source's lineage inside
``imported`` (ids there are the source registry's, not this one's). Every check runs
before or inside ``ModelCatalog.register``, so a refused export registers nothing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelbay.artifacts.bundle import TextBundle
from modelbay.artifacts.formats import get_format
from modelbay.artifacts.inputs import model_input
from modelbay.errors import ValidationError
from modelbay.registry.exports import (
    MANIFEST,
    METADATA,
    SIGNATURE,
    Export,
    is_export_archive,
    read_export,
    unpack_archive,
)
from modelbay.registry.home import Registry
from modelbay.registry.models import Draft
from modelbay.registry.records import ModelVersion
from modelbay.registry.refs import check_name

__all__ = ["import_export", "is_export"]


def is_export(source: bytes | str | Path) -> bool:
    """True for an export folder (it holds the manifest) or an export archive (a tar)."""
    if isinstance(source, bytes):
        return is_export_archive(source)
    path = Path(source)
    if path.is_dir():  # the two JSON files without the manifest: an export, damaged
        return any((path / f).is_file() for f in (MANIFEST, SIGNATURE, METADATA))
    return is_export_archive(path)


def import_export(
    registry: Registry,
    source: bytes | str | Path,
    name: str | None = None,
    *,
    aliases: Iterable[str] = (),
    description: str | None = None,
) -> ModelVersion:
    """Register an export folder or archive as a new version of ``name`` (by default the
    name it was exported from); ``description`` replaces the exported one."""
    if isinstance(source, bytes) or not Path(source).is_dir():
        with tempfile.TemporaryDirectory(prefix="modelbay-import-") as tmp:
            folder = unpack_archive(
                source if isinstance(source, bytes) else Path(source), Path(tmp)
            )
            return import_export(registry, folder, name, aliases=aliases, description=description)
    export = read_export(source)
    target = check_name(name or str(export.source.get("model", "")), "model name")
    with registry.audit.action("import", target) as note:
        register = _register_text if export.kind == "hf" else _register_files
        version = register(registry, export, target, list(aliases), description)
        note["detail"] = f"version {version.version} (export of {export.source.get('ref')})"
        return version


def _register_files(
    registry: Registry,
    export: Export,
    name: str,
    aliases: list[str],
    description: str | None,
) -> ModelVersion:
    """A scikit-learn model (skops) or an ONNX graph, with any further artifacts beside it."""
    for role, art in export.artifacts.items():
        if art.format == "hf":
            raise ValidationError(f"a {export.kind} model's export holds no folder ({art.path})")
        _check_artifact(export, role)
    with registry.models.register(name) as draft:
        _fill(draft, export, aliases, description)
        model = export.artifacts["model"]
        draft.save_bytes(export.data("model"), model.format)
        for role, art in export.artifacts.items():
            if role != "model":
                draft.add_artifact(role, export.data(role), art.format, art.info)
    assert draft.version is not None
    return draft.version


def _check_artifact(export: Export, role: str) -> None:
    """Open one artifact with its format's own checks; a scikit-learn model must predict."""
    art = export.artifacts[role]
    data = export.data(role)
    obj = get_format(art.format).loads(data)  # skops: the trust list; onnx: no pickle
    if art.format == "onnx":
        try:
            import onnxruntime as ort

            ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ONNX Runtime raises its own types for a bad graph
            raise ValidationError(
                f"{art.path} is not an ONNX graph ONNX Runtime can load: {exc}"
            ) from exc
    elif art.format == "skops":
        if not hasattr(obj, "predict"):
            raise ValidationError(f"{art.path} holds a {type(obj).__name__}, not a model")
        signature = export.signature
        if role == "model" and signature.all_numeric and signature.names:
            rows = pd.DataFrame(
                np.random.default_rng(0).normal(size=(8, len(signature.names))),
                columns=signature.names,
            )
            try:
                obj.predict(model_input(obj, rows, signature.names))
            except Exception as exc:
                raise ValidationError(
                    f"{art.path} cannot predict on the columns of signature.json: {exc}"
                ) from exc


def _register_text(
    registry: Registry,
    export: Export,
    name: str,
    aliases: list[str],
    description: str | None,
) -> ModelVersion:
    from modelbay.optimize.text_import import register_bundle

    if len(export.artifacts) != 1:
        raise ValidationError("a text model's export holds one artifact, its model folder")
    bundle = TextBundle.from_files(export.folder("model"))  # refuses names outside itself
    meta = export.metadata
    return register_bundle(
        registry,
        name,
        bundle,
        lineage=_lineage(export),
        metrics=_mapping(meta, "metrics"),
        params=_mapping(meta, "params"),
        reference_stats=_mapping(meta, "reference_stats"),
        aliases=aliases,
        description=_description(export, description),
        target=export.signature.output.name,
        serving=_mapping(meta, "serving"),
    )


def _fill(draft: Draft, export: Export, aliases: list[str], description: str | None) -> None:
    meta = export.metadata
    draft.task = str(meta.get("task") or export.signature.output.task)
    draft.algorithm = str(meta.get("algorithm", ""))
    draft.flavor = str(meta.get("flavor") or "sklearn")
    draft.signature = export.signature
    draft.metrics = _mapping(meta, "metrics")
    draft.params = _mapping(meta, "params")
    draft.lineage = _lineage(export)
    draft.reference_stats = _mapping(meta, "reference_stats")
    draft.serving = _mapping(meta, "serving")
    draft.description = _description(export, description)
    draft.aliases = aliases


def _lineage(export: Export) -> dict[str, Any]:
    """Imported from an export of the source ref; the source's own lineage kept inside."""
    source = _mapping(export.metadata, "lineage")
    model = export.artifacts["model"]
    lineage: dict[str, Any] = {
        "imported": {
            "export_of": export.source.get("ref"),
            "exported_at": export.source.get("exported_at"),
            "created_at": export.metadata.get("created_at"),
            "sha256": model.sha256,
            "lineage": source,
        },
        "parent": None,
    }
    if "target" in source:
        lineage["target"] = source["target"]
    return lineage


def _description(export: Export, description: str | None) -> str:
    return description if description is not None else str(export.metadata.get("description", ""))


def _mapping(meta: dict[str, Any], key: str) -> dict[str, Any]:
    value = meta.get(key) or {}
    if not isinstance(value, dict):
        raise ValidationError(f"metadata.json's {key} is not a JSON object")
    return dict(value)
