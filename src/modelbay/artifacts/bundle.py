"""A transformer model as one artifact: its directory's files, zipped, plus a manifest.

A Hugging Face or sentence-transformers directory becomes a :class:`TextBundle`:
the weights (``model.safetensors``, or a ``model.onnx`` graph once optimised), the
tokenizer and config files, an optional scikit-learn head (``head.skops``, for a
classifier trained on frozen embeddings) and ``modelbay.json``, the manifest that
says how to run it (task, engine, dtype, pooling, token limit, labels).

Weights in a pickle-based format (``pytorch_model.bin``, ``*.pt``, ``*.ckpt``) are
refused: such files run code when they are opened. Nothing here imports torch or
tokenizers: :class:`modelbay.text.encoder.TextModel` is what runs a bundle.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from modelbay.artifacts.pickles import PICKLE_SUFFIXES, sniff_pickle
from modelbay.errors import UnsafeArtifactError, ValidationError

__all__ = ["MANIFEST", "TASKS", "Manifest", "TextBundle"]

MANIFEST = "modelbay.json"
TASKS = ("embeddings", "text-classification")
WEIGHTS = ("model.safetensors", "model.onnx")
_SKIP = {".gitattributes", "README.md", "data_config.json"}  # not needed to run the model
MAX_FILES = 200


@dataclass(frozen=True)
class Manifest:
    """How to run a bundle: written at import, carried by every version made from it."""

    task: str  # embeddings | text-classification
    engine: str = "torch"  # torch (safetensors) | onnx (model.onnx)
    dtype: str = "float32"  # float32 | bfloat16 | int8 (an ONNX graph with int8 weights)
    pooling: str = "mean"  # embeddings: mean | cls | max
    normalize: bool = True  # embeddings: L2-normalised vectors
    max_tokens: int = 512  # longer inputs are truncated (or refused, by setting)
    dim: int = 0  # embedding width, or the number of labels
    labels: list[Any] = field(default_factory=list)  # classifiers: class labels in output order
    head: str | None = None  # "head.skops": a scikit-learn head over the pooled embeddings
    architecture: str = ""  # the encoder's config.json model_type

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def but(self, **changes: Any) -> Manifest:
        """A copy with ``changes`` (a derived version's manifest: new engine, task, ...)."""
        return replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class TextBundle:
    files: dict[str, bytes]  # relative path -> contents
    manifest: Manifest

    # -- reading a directory ------------------------------------------------------------------
    @classmethod
    def from_directory(cls, path: str | Path, task: str) -> TextBundle:
        """Read a Hugging Face / sentence-transformers directory, refusing pickled weights."""
        root = Path(path)
        if not root.is_dir():
            raise ValidationError(f"{root} is not a directory of a Hugging Face model")
        if task not in TASKS:
            raise ValidationError(f"task {task!r} is not one of: {', '.join(TASKS)}")
        files: dict[str, bytes] = {}
        for p in sorted(root.rglob("*")):
            if not p.is_file() or p.name in _SKIP or ".git" in p.parts:
                continue
            rel = p.relative_to(root).as_posix()
            if p.suffix.lower() in PICKLE_SUFFIXES:
                raise UnsafeArtifactError(
                    f"{rel} is a pickle-based weights file, and modelbay never loads pickles "
                    "(they run code when opened): save the model with safetensors "
                    "(save_pretrained(..., safe_serialization=True)) and import that"
                )
            data = p.read_bytes()
            if sniff_pickle(data):
                raise UnsafeArtifactError(f"{rel} is a pickle; modelbay never loads pickles")
            files[rel] = data
            if len(files) > MAX_FILES:
                raise ValidationError(f"{root} holds more than {MAX_FILES} files: is it a model?")
        if "config.json" not in files:
            raise ValidationError(f"{root} has no config.json: it is not a Hugging Face model")
        if "model.safetensors" not in files:
            raise ValidationError(
                f"{root} has no model.safetensors; modelbay takes weights as safetensors only"
            )
        if "tokenizer.json" not in files and "vocab.txt" not in files:
            raise ValidationError(f"{root} has no tokenizer (tokenizer.json or vocab.txt)")
        return cls(files, _manifest_for(files, task))

    # -- the artifact form --------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """A zip of the files (stored, not deflated: weights do not compress; zstd follows)."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            for name in sorted(self.files):
                if name != MANIFEST:
                    z.writestr(_entry(name), self.files[name])
            z.writestr(_entry(MANIFEST), json.dumps(self.manifest.to_dict(), indent=1))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TextBundle:
        if sniff_pickle(data):
            raise UnsafeArtifactError("this is a pickle file, not a transformer bundle")
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                files = {i.filename: z.read(i) for i in z.infolist() if not i.is_dir()}
        except zipfile.BadZipFile as exc:
            raise UnsafeArtifactError(f"this is not a transformer bundle: {exc}") from exc
        return cls.from_files(files)

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> TextBundle:
        """A bundle from its files (``modelbay.json`` among them), as unzipped or exported."""
        files = dict(files)
        if MANIFEST not in files:
            raise UnsafeArtifactError(f"the bundle has no {MANIFEST}")
        for name in files:
            if name.startswith("/") or ".." in Path(name).parts:
                raise UnsafeArtifactError(f"the bundle names a file outside itself: {name!r}")
        try:
            manifest = Manifest.from_dict(json.loads(files.pop(MANIFEST)))
        except (ValueError, TypeError, AttributeError) as exc:
            raise UnsafeArtifactError(f"the bundle's {MANIFEST} is not a manifest: {exc}") from exc
        return cls(files, manifest)

    # -- deriving -----------------------------------------------------------------------------
    def with_files(
        self,
        manifest: Manifest | None = None,
        files: dict[str, bytes] | None = None,
        drop: tuple[str, ...] = (),
    ) -> TextBundle:
        """A copy with ``files`` added or replaced, ``drop`` removed, and a new manifest."""
        out = {k: v for k, v in self.files.items() if k not in drop}
        out.update(files or {})
        return TextBundle(out, manifest or self.manifest)

    @property
    def size(self) -> int:
        return sum(len(v) for v in self.files.values())

    @property
    def config(self) -> dict[str, Any]:
        return dict(json.loads(self.files["config.json"]))

    @contextmanager
    def unpacked(self) -> Iterator[Path]:
        """The files in a private temporary folder, removed on exit (they are plaintext)."""
        folder = Path(tempfile.mkdtemp(prefix="modelbay-hf-"))
        try:
            for name, data in self.files.items():
                target = folder / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # same files, same bytes
    info.compress_type = zipfile.ZIP_STORED
    return info


def _json(files: dict[str, bytes], name: str) -> dict[str, Any]:
    try:
        return dict(json.loads(files[name])) if name in files else {}
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"{name} is not valid JSON: {exc}") from exc


def _manifest_for(files: dict[str, bytes], task: str) -> Manifest:
    config = _json(files, "config.json")
    st = _json(files, "sentence_bert_config.json")
    tok = _json(files, "tokenizer_config.json")
    limits = [
        st.get("max_seq_length"),
        tok.get("model_max_length") if int(tok.get("model_max_length", 0) or 0) < 100_000 else None,
        config.get("max_position_embeddings"),
    ]
    max_tokens = int(next((v for v in limits if isinstance(v, int) and v > 0), 512))
    pooling, normalize = _pooling(files)
    labels: list[Any] = []
    if task == "text-classification":
        id2label = config.get("id2label") or {}
        labels = [id2label[k] for k in sorted(id2label, key=int)] if id2label else []
    return Manifest(
        task=task,
        pooling=pooling,
        normalize=normalize,
        max_tokens=max_tokens,
        dim=len(labels) if labels else int(config.get("hidden_size", 0) or 0),
        labels=labels,
        architecture=str(config.get("model_type", "")),
    )


def _pooling(files: dict[str, bytes]) -> tuple[str, bool]:
    """Pooling and normalisation from a sentence-transformers ``modules.json``, if any."""
    modules = json.loads(files["modules.json"]) if "modules.json" in files else []
    normalize = any(str(m.get("type", "")).endswith("Normalize") for m in modules)
    pooling = "mean"
    for m in modules:
        if str(m.get("type", "")).endswith("Pooling"):
            cfg = _json(files, f"{m.get('path', '1_Pooling')}/config.json")
            if cfg.get("pooling_mode_cls_token"):
                pooling = "cls"
            elif cfg.get("pooling_mode_max_tokens"):
                pooling = "max"
    return pooling, normalize
