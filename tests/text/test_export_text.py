"""Text versions out as a plain Hugging Face directory and back in as an equal version."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelbay import Bay, ModelVersion, UnsafeArtifactError
from modelbay.registry.exports import MANIFEST
from modelbay.text.encoder import TextModel

TEXTS = ["the striker scored twice", "rates rose again", "a new phone was launched"]


def run(bay: Bay, version: ModelVersion) -> np.ndarray:
    model = TextModel(bay.models.load_object(version)).load()
    try:
        return np.asarray(model.run(TEXTS).values)
    finally:
        model.unload()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path, topics: pd.DataFrame) -> Path:
    """minilm:1 (imported) and topics-head:1 (a scikit-learn head trained on it)."""
    path = tmp_path_factory.mktemp("text-export")
    with Bay(home=path / "bay") as bay:
        bay.import_model(minilm_dir, "minilm")
        bay.train_text(topics, "topic", encoder="minilm", name="topics-head", trials=1)
    return path


@pytest.mark.parametrize("ref", ["minilm", "topics-head"])
def test_a_text_version_round_trips_to_the_same_outputs(home: Path, ref: str) -> None:
    with Bay(home=home / "bay") as bay:
        source = bay.models.get(ref)
        folder = bay.models.export(ref, home / f"{ref}-export")
        names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        assert {MANIFEST, "signature.json", "metadata.json"} <= names
        assert {"model/config.json", "model/model.safetensors", "model/tokenizer.json"} <= names
        assert json.loads((folder / "model" / "modelbay.json").read_text())["task"] in (
            "embeddings",
            "text-classification",
        )
        copy = bay.import_model(folder, f"{ref}-copy")
        for field in ("task", "algorithm", "flavor", "signature", "metrics", "params", "serving"):
            assert getattr(copy, field) == getattr(source, field), field
        assert copy.lineage["imported"]["export_of"] == source.ref
        assert copy.artifact_digest == source.artifact_digest  # the very bundle, rebuilt
        assert np.array_equal(run(bay, copy), run(bay, source))


def test_the_model_folder_is_a_plain_hugging_face_directory(home: Path) -> None:
    with Bay(home=home / "bay") as bay:
        folder = bay.models.export("minilm", home / "plain")
        plain = bay.import_model(folder / "model", "minilm-plain")  # as any HF directory
        assert np.allclose(run(bay, plain), run(bay, bay.models.get("minilm")), atol=1e-6)


def test_pickled_weights_slipped_into_the_folder_are_refused(home: Path) -> None:
    with Bay(home=home / "bay") as bay:
        folder = bay.models.export("minilm", home / "spoiled")
        (folder / "model" / "pytorch_model.bin").write_bytes(b"\x80\x04weights")
        before = [m.name for m in bay.models.list()]
        with pytest.raises(UnsafeArtifactError, match=r"model/pytorch_model.bin is not part"):
            bay.import_model(folder, "spoiled")
        assert [m.name for m in bay.models.list()] == before
