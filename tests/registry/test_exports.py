"""Exports: a version out as plain files and back in as an equal version; a bad folder refused.

Round trips for each kind the registry holds (a scikit-learn model with its compiled ONNX
graph, a model served by scikit-learn alone, an ONNX graph; text models in
tests/text/test_export_text.py), then every way a folder can be wrong, each refused with
nothing registered.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LinearRegression

from modelbay import Bay, ModelVersion, UnsafeArtifactError, ValidationError
from modelbay.artifacts.pickles import PICKLE_SUFFIXES, sniff_pickle
from modelbay.data.signature import ColumnSpec, OutputSpec, Signature
from modelbay.optimize.onnx import compile_sklearn
from modelbay.registry.exports import MANIFEST
from modelbay.serve.runtimes import runtime_for


def quick(bay: Bay, data: pd.DataFrame, target: str, name: str) -> ModelVersion:
    return bay.train(data, target, name=name, algorithm="logistic_regression", trials=1, cv=2)


def answers(bay: Bay, version: ModelVersion, rows: pd.DataFrame, runtime: str | None = None):
    """Labels and probabilities as a server gives them (its chosen runtime, or ``runtime``)."""
    rt = runtime_for(version, runtime).load(bay.models)
    try:
        out = rt.predict(version.signature.validate(rows), proba=True)
        return rt.name, out.predict, out.proba
    finally:
        rt.unload()


def files_of(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_a_scikit_learn_version_round_trips_to_an_equal_version(
    bay: Bay, iris: pd.DataFrame, tmp_path: Path
) -> None:
    ds = bay.datasets.add(iris, name="iris-data")
    source = bay.train(
        ds, "species", name="iris", algorithm="logistic_regression", trials=1, cv=2,
        description="the first iris",
    )  # fmt: skip
    assert "onnx" in source.artifacts  # served by its compiled graph
    folder = bay.models.export("iris@champion", tmp_path / "out")
    assert files_of(folder) == [
        "metadata.json",
        "model.onnx",
        "model.skops",
        MANIFEST,
        "signature.json",
    ]
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["metrics"] == source.metrics and meta["params"] == source.params
    assert meta["lineage"]["dataset"]["fingerprint"] == ds.fingerprint
    assert meta["created_at"] == source.created_at.isoformat()  # type: ignore[union-attr]
    assert json.loads((folder / "signature.json").read_text()) == source.signature.to_dict()
    assert json.loads((folder / MANIFEST).read_text())["source"]["ref"] == "iris:1"

    copy = bay.import_model(folder, "iris-copy")
    assert copy.ref == "iris-copy:1" and copy.aliases == ("champion",)
    assert copy.signature == source.signature
    for field in ("task", "algorithm", "flavor", "metrics", "params", "serving", "description"):
        assert getattr(copy, field) == getattr(source, field), field
    assert copy.reference_stats == source.reference_stats  # drift keeps its baseline
    imported = copy.lineage["imported"]
    assert imported["export_of"] == "iris:1" and imported["lineage"]["target"] == "species"
    assert imported["sha256"] == source.artifact_digest
    assert "dataset" not in copy.lineage and copy.lineage["parent"] is None  # not this home's ids
    rows = iris.drop(columns="species")
    for runtime in (None, "sklearn"):
        name, labels, proba = answers(bay, source, rows, runtime)
        name2, labels2, proba2 = answers(bay, copy, rows, runtime)
        assert name == name2 == (runtime or "onnx")
        assert (labels == labels2).all() and np.array_equal(proba, proba2)  # bit for bit


def test_the_export_holds_no_pickle_and_imports_under_its_own_name(
    sqlite_bay: Bay, iris: pd.DataFrame, tmp_path: Path
) -> None:
    quick(sqlite_bay, iris, "species", "iris")
    folder = sqlite_bay.models.export("iris", tmp_path / "out")
    for path in folder.rglob("*"):
        if path.is_file():
            assert path.suffix not in PICKLE_SUFFIXES and not sniff_pickle(path.read_bytes())
    again = sqlite_bay.import_model(folder, aliases=["restored"])
    assert again.ref == "iris:2" and again.aliases == ("restored",)  # champion stays on 1
    assert sqlite_bay.models.get("iris").version == 1
    assert [e.action for e in sqlite_bay.audit.list(limit=3)] == ["import", "register", "export"]


def test_a_version_with_categorical_inputs_keeps_its_signature(
    sqlite_bay: Bay, tmp_path: Path
) -> None:
    """A skops file alone says only how many columns a model takes; the export says which."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "size": rng.normal(size=120),
            "colour": rng.choice(["red", "green", "blue"], size=120),
            "y": rng.choice(["a", "b"], size=120),
        }
    )
    source = quick(sqlite_bay, df, "y", "shop")
    assert "onnx" not in source.artifacts  # non-numeric inputs: scikit-learn serves it
    copy = sqlite_bay.import_model(sqlite_bay.models.export("shop", tmp_path / "out"), "shop2")
    assert copy.signature == source.signature
    assert [c.kind for c in copy.signature.inputs] == ["numeric", "categorical"]
    rows = df.drop(columns="y")
    _, labels, proba = answers(sqlite_bay, source, rows)
    _, labels2, proba2 = answers(sqlite_bay, copy, rows)
    assert (labels == labels2).all() and np.array_equal(proba, proba2)


def onnx_version(bay: Bay) -> ModelVersion:
    """A version whose model is an ONNX graph (no scikit-learn model beside it)."""
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(50, 3)), columns=["a", "b", "c"])
    model = LinearRegression().fit(x, x.sum(axis=1))
    signature = Signature(
        inputs=[ColumnSpec(c, "numeric", "float64", False) for c in x.columns],
        output=OutputSpec(task="regression", name="y", dtype="float64"),
    )
    graph = compile_sklearn(model, signature, x).onnx
    assert graph is not None
    with bay.models.register("graph") as draft:
        draft.flavor, draft.task, draft.algorithm = "onnx", "regression", "onnx-graph"
        draft.signature = signature
        draft.metrics = {"holdout": {"rmse": 0.0}}
        draft.lineage = {"made": "by hand"}
        draft.save_bytes(graph, "onnx")
    assert draft.version is not None
    return draft.version


def test_an_onnx_version_round_trips_with_the_same_graph(sqlite_bay: Bay, tmp_path: Path) -> None:
    import onnxruntime as ort

    source = onnx_version(sqlite_bay)
    folder = sqlite_bay.models.export("graph", tmp_path / "out")
    assert files_of(folder) == ["metadata.json", "model.onnx", MANIFEST, "signature.json"]
    copy = sqlite_bay.import_model(folder, "graph2")
    assert (copy.flavor, copy.artifact_format, copy.algorithm) == ("onnx", "onnx", "onnx-graph")
    assert copy.signature == source.signature and copy.metrics == source.metrics
    assert copy.artifact_digest == source.artifact_digest  # the same graph, byte for byte
    x = np.random.default_rng(1).normal(size=(7, 3)).astype(np.float32)
    outs = [
        ort.InferenceSession(
            sqlite_bay.models.load_object(v), providers=["CPUExecutionProvider"]
        ).run(None, {"input": x})[0]
        for v in (source, copy)
    ]
    assert np.array_equal(outs[0], outs[1])


def test_an_export_archive_imports_as_the_folder_does(
    sqlite_bay: Bay, iris: pd.DataFrame, tmp_path: Path
) -> None:
    source = quick(sqlite_bay, iris, "species", "iris")
    buf = io.BytesIO()
    assert sqlite_bay.models.export_archive("iris", buf).ref == "iris:1"
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tar:
        assert f"iris-1/{MANIFEST}" in tar.getnames()
    archive = tmp_path / "iris-1.tar"
    archive.write_bytes(buf.getvalue())
    from_file = sqlite_bay.import_model(archive, "from-file")
    from_bytes = sqlite_bay.import_model(buf.getvalue(), "from-bytes")  # as an upload is
    for copy in (from_file, from_bytes):
        assert copy.signature == source.signature and copy.metrics == source.metrics
        assert copy.artifacts["onnx"].digest == source.artifacts["onnx"].digest


def test_an_archive_naming_a_file_outside_itself_is_refused(
    sqlite_bay: Bay, tmp_path: Path
) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("../escaped.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    with pytest.raises(UnsafeArtifactError, match="outside itself"):
        sqlite_bay.import_model(buf.getvalue(), "x")
    assert not (tmp_path / "escaped.json").exists()


def test_an_export_needs_a_new_or_empty_folder_and_a_failed_one_leaves_nothing(
    sqlite_bay: Bay, iris: pd.DataFrame, tmp_path: Path
) -> None:
    quick(sqlite_bay, iris, "species", "iris")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(ValidationError, match="not an empty folder"):
        sqlite_bay.models.export("iris", busy)
    assert files_of(busy) == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (sqlite_bay.models.export("iris", empty) / MANIFEST).is_file()
    with pytest.raises(Exception, match="no alias"):
        sqlite_bay.models.export("iris@nope", tmp_path / "never")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bay", "busy", "empty"]


# -- every way a folder can be wrong -------------------------------------------------------------
def reseal(folder: Path) -> None:
    """Rewrite the manifest's digests to match the files (as whoever edits a folder can)."""
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"] = {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file() and p.name != MANIFEST
    }
    (folder / MANIFEST).write_text(json.dumps(manifest))


def edit_manifest(**changes: object) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        manifest = json.loads((folder / MANIFEST).read_text())
        manifest.update(changes)
        (folder / MANIFEST).write_text(json.dumps(manifest))

    return edit


def edited_metadata(folder: Path) -> None:
    meta = json.loads((folder / "metadata.json").read_text())
    meta["metrics"]["holdout"]["accuracy"] = 1.0
    (folder / "metadata.json").write_text(json.dumps(meta))


def added_file(folder: Path) -> None:
    (folder / "run-me.py").write_text("print('hello')")


def removed_graph(folder: Path) -> None:
    (folder / "model.onnx").unlink()


def pickled_model(folder: Path) -> None:
    (folder / "model.skops").write_bytes(pickle.dumps(LinearRegression()))
    reseal(folder)


class Sneaky(BaseEstimator, ClassifierMixin):
    """A class no one reviewed: skops would have to import and build it."""

    def predict(self, x: object) -> object:
        return x


def untrusted_model(folder: Path) -> None:
    (folder / "model.skops").write_bytes(sio.dumps(Sneaky()))
    reseal(folder)


def no_manifest(folder: Path) -> None:
    (folder / MANIFEST).unlink()


def linked_file(folder: Path) -> None:
    (folder / "signature.json").unlink()
    (folder / "signature.json").symlink_to(folder / "metadata.json")


BAD_FOLDERS = {
    "a file edited after the export": (edited_metadata, UnsafeArtifactError, "metadata.json was changed after the export"),
    "a file added": (added_file, UnsafeArtifactError, "run-me.py is not part of this export"),
    "a file removed": (removed_graph, UnsafeArtifactError, "incomplete: model.onnx missing"),
    "a pickle in place of the model": (pickled_model, UnsafeArtifactError, "model.skops is a pickle"),
    "a type off the trust list": (untrusted_model, UnsafeArtifactError, "not trusted for loading: tests.registry.test_exports.Sneaky"),
    "another format": (edit_manifest(format="mlflow"), ValidationError, "not a modelbay export"),
    "a newer format version": (edit_manifest(format_version=2), ValidationError, "format version 2; this modelbay reads version 1"),
    "an unknown kind": (edit_manifest(kind="tensorflow"), ValidationError, "kind 'tensorflow'; modelbay imports skops, onnx, hf"),
    "no manifest": (no_manifest, ValidationError, "is not a modelbay export: it has no modelbay-export.json"),
    "a symbolic link": (linked_file, UnsafeArtifactError, "signature.json is a symbolic link"),
}  # fmt: skip


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, iris: pd.DataFrame) -> tuple[Path, Path]:
    """A home with iris:1, and a pristine export of it."""
    home = tmp_path_factory.mktemp("bad-exports")
    with Bay(home=home / "bay") as bay:
        quick(bay, iris, "species", "iris")
        return home / "bay", bay.models.export("iris", home / "pristine")


@pytest.mark.parametrize("case", BAD_FOLDERS, ids=list(BAD_FOLDERS))
def test_a_damaged_or_foreign_folder_is_refused_and_registers_nothing(
    exported: tuple[Path, Path], tmp_path: Path, case: str
) -> None:
    import shutil

    spoil, error, message = BAD_FOLDERS[case]
    home, pristine = exported
    folder = Path(shutil.copytree(pristine, tmp_path / "copy", symlinks=True))
    spoil(folder)
    with Bay(home=home) as bay:
        digests = set(bay.store.digests())
        with pytest.raises(error, match=message.replace("(", r"\(")):
            bay.import_model(folder, "spoiled")
        assert [m.name for m in bay.models.list()] == ["iris"]
        assert set(bay.store.digests()) == digests  # no artifact left behind either
