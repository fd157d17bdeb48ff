"""Bundles: what a transformer directory becomes in the registry, and what is refused."""

from __future__ import annotations

import io
import pickle
import shutil
import zipfile
from pathlib import Path

import pytest

from modelbay import Bay
from modelbay.artifacts.bundle import MANIFEST, TextBundle
from modelbay.errors import UnsafeArtifactError, ValidationError


def test_a_sentence_transformers_directory_keeps_its_pooling_limit_and_files(
    minilm_dir: Path,
) -> None:
    bundle = TextBundle.from_directory(minilm_dir, "embeddings")
    m = bundle.manifest
    assert (m.task, m.pooling, m.normalize, m.max_tokens, m.dim) == (
        "embeddings",
        "mean",
        True,
        256,
        384,
    )
    assert {"model.safetensors", "tokenizer.json", "config.json", "1_Pooling/config.json"} <= set(
        bundle.files
    )
    back = TextBundle.from_bytes(bundle.to_bytes())
    assert back.files == bundle.files and back.manifest == bundle.manifest
    assert bundle.to_bytes() == back.to_bytes()  # same files, same bytes (content addressing)


def test_pickled_weights_are_refused_by_name(minilm_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "m"
    shutil.copytree(minilm_dir, copy)
    (copy / "pytorch_model.bin").write_bytes(b"PK\x03\x04 torch zip with data.pkl inside")
    with pytest.raises(UnsafeArtifactError, match=r"pytorch_model\.bin is a pickle-based"):
        TextBundle.from_directory(copy, "embeddings")
    (copy / "pytorch_model.bin").unlink()
    (copy / "extra.json").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(UnsafeArtifactError, match=r"extra\.json is a pickle"):
        TextBundle.from_directory(copy, "embeddings")


def test_a_directory_without_safetensors_or_config_is_refused(
    minilm_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "m"
    shutil.copytree(minilm_dir, copy)
    (copy / "model.safetensors").unlink()
    with pytest.raises(ValidationError, match="safetensors only"):
        TextBundle.from_directory(copy, "embeddings")
    with pytest.raises(ValidationError, match="not a directory"):
        TextBundle.from_directory(tmp_path / "missing", "embeddings")
    with pytest.raises(ValidationError, match="task 'chat'"):
        TextBundle.from_directory(minilm_dir, "chat")


def test_a_bundle_naming_files_outside_itself_is_refused() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(MANIFEST, '{"task": "embeddings"}')
        z.writestr("../escape.txt", "x")
    with pytest.raises(UnsafeArtifactError, match="outside itself"):
        TextBundle.from_bytes(buf.getvalue())
    with pytest.raises(UnsafeArtifactError, match="pickle"):
        TextBundle.from_bytes(pickle.dumps("x"))


def test_a_sequence_classifier_directory_imports_with_its_labels(
    text_bay: Bay, minilm_dir: Path, tmp_path: Path
) -> None:
    trained = text_bay.models.load_object(text_bay.models.get("topics-ft"))
    folder = tmp_path / "clf"
    for name, data in trained.files.items():
        if name != MANIFEST:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
    v = text_bay.import_model(folder, "imported-clf", task="text-classification")
    assert v.task == "classification" and v.flavor == "transformers"
    assert sorted(v.signature.output.classes or []) == ["cooking", "finance", "sport", "weather"]
    with pytest.raises(ValidationError, match="not a sequence classifier"):
        text_bay.import_model(minilm_dir, "not-a-classifier", task="text-classification")
    assert "not-a-classifier" not in {m.name for m in text_bay.models.list()}
