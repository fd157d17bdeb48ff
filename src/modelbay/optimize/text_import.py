"""Registering transformer models: a Hugging Face directory in, an immutable version out.

Every text version's artifact is one :class:`TextBundle` (format ``hf``). The
signature is one string column ``text`` in, and either ``embedding`` vectors
(FP32 ``[n, dim]``) or class labels (with probabilities) out. A bundle is loaded
and run on a few sentences before it is registered, so a version that cannot run
is never written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from modelbay.artifacts.bundle import TextBundle
from modelbay.artifacts.inputs import TEXT_COLUMN
from modelbay.data.signature import ColumnSpec, OutputSpec, Signature
from modelbay.errors import ValidationError
from modelbay.registry.home import Registry
from modelbay.registry.records import ModelVersion
from modelbay.text.encoder import TextModel

__all__ = ["import_transformer", "register_bundle", "text_signature"]

PROBE_TEXTS = ["modelbay checks that the model runs.", "A second, somewhat longer sentence."]


def text_signature(bundle: TextBundle, dim: int, target: str = "label") -> Signature:
    m = bundle.manifest
    if m.task == "embeddings":
        output = OutputSpec(task="embeddings", name="embedding", dtype="float32")
    else:
        output = OutputSpec(task="classification", name=target, dtype="object", classes=m.labels)
    return Signature(
        inputs=[ColumnSpec(TEXT_COLUMN, "text", "object", False)],
        output=output,
        extra={"strict_text": True, "dim": dim, "max_tokens": m.max_tokens},
    )


def import_transformer(
    registry: Registry,
    path: str | Path,
    name: str,
    *,
    task: str = "embeddings",
    aliases: Iterable[str] = (),
    description: str = "",
) -> ModelVersion:
    """Register a Hugging Face / sentence-transformers directory (safetensors weights only)."""
    with registry.audit.action("import", name) as note:
        bundle = TextBundle.from_directory(path, task)
        if task == "text-classification":
            archs = bundle.config.get("architectures") or []
            if not bundle.manifest.labels or not any(
                "ForSequenceClassification" in a for a in archs
            ):
                raise ValidationError(
                    f"{path} is not a sequence classifier (no id2label, or architectures "
                    f"{archs}): import it as embeddings, then train a classifier on it with "
                    "`modelbay train DATA --target LABEL --encoder NAME`"
                )
        data = bundle.to_bytes()  # zipped once: hashed here, stored by register_bundle
        version = register_bundle(
            registry,
            name,
            bundle,
            data=data,
            lineage={
                "imported": {"path": str(path), "sha256": hashlib.sha256(data).hexdigest()},
                "parent": None,
            },
            aliases=aliases,
            description=description,
        )
        note["detail"] = f"version {version.version} ({version.algorithm}, {task})"
        return version


def register_bundle(
    registry: Registry,
    name: str,
    bundle: TextBundle,
    *,
    lineage: dict[str, Any],
    metrics: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    reference_stats: dict[str, Any] | None = None,
    aliases: Iterable[str] = (),
    description: str = "",
    target: str = "label",
    serving: dict[str, Any] | None = None,
    data: bytes | None = None,
) -> ModelVersion:
    """Check that ``bundle`` loads and runs, then register it as a new version of ``name``.

    ``data``: the bundle's bytes, when the caller made them already (a 90 MB zip is not
    built twice)."""
    model = TextModel(bundle).load()
    try:
        probe = model.run(PROBE_TEXTS)
    finally:
        model.unload()
    dim = int(probe.values.shape[1])
    if bundle.manifest.task == "text-classification" and dim != len(bundle.manifest.labels):
        raise ValidationError(
            f"the classifier gives {dim} outputs for {len(bundle.manifest.labels)} labels"
        )
    m = bundle.manifest
    with registry.models.register(name) as draft:
        draft.flavor = "transformers"
        draft.task = "embeddings" if m.task == "embeddings" else "classification"
        draft.algorithm = f"{m.architecture or 'transformer'}-{m.engine}-{m.dtype}" + (
            "+head" if m.head else ""
        )
        draft.signature = text_signature(bundle, dim, target)
        draft.metrics = dict(metrics or {})
        draft.params = dict(params or {})
        draft.lineage = lineage
        draft.reference_stats = dict(reference_stats or {})
        draft.description = description
        draft.aliases = list(aliases)
        draft.serving = {
            "runtime": "transformers",
            "engine": m.engine,
            "dtype": m.dtype,
            "max_tokens": m.max_tokens,
            "task": m.task,
            **(serving or {}),
        }
        draft.save_bytes(data if data is not None else bundle.to_bytes(), "hf")
    assert draft.version is not None
    return draft.version
