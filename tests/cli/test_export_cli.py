"""``modelbay models export`` and ``models import`` of an export; ``modelbay --version``."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest

import modelbay
from modelbay import Bay
from modelbay.registry.exports import MANIFEST


@pytest.fixture
def trained(run, iris: pd.DataFrame) -> None:
    with Bay(home=run.home) as bay:
        bay.train(iris, "species", name="iris", algorithm="logistic_regression", trials=1, cv=2)


def test_export_writes_plain_files_and_import_reads_them_back(
    run, trained: None, tmp_path: Path
) -> None:
    out = tmp_path / "iris-export"
    printed = run("models", "export", "iris@champion", "-o", str(out)).output
    assert f"exported iris:1 (skops) to {out}" in printed
    assert "model.skops" in printed and "signature.json" in printed
    assert "registered iris:2" in run("models", "import", str(out)).output  # its own name
    assert "registered copy:1" in run("models", "import", str(out), "--name", "copy").output
    shown = json.loads(run("models", "show", "copy", "--json").output)
    assert shown["lineage"]["imported"]["export_of"] == "iris:1"
    assert shown["signature"] == json.loads((out / "signature.json").read_text())


def test_a_changed_export_is_refused_with_what_to_do(run, trained: None, tmp_path: Path) -> None:
    out = tmp_path / "iris-export"
    run("models", "export", "iris", "-o", str(out))
    (out / "signature.json").write_text("{}")
    err = run("models", "import", str(out), code=8).stderr
    assert "signature.json was changed after the export" in err and "export the model again" in err
    assert "copy" not in run("models", "list").output


def test_export_into_a_folder_in_use_is_refused(run, trained: None, tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "mine.txt").write_text("keep")
    err = run("models", "export", "iris", "-o", str(tmp_path / "busy"), code=2).stderr
    assert "is not an empty folder: name a new one" in err
    assert not (tmp_path / "busy" / MANIFEST).exists()


def test_importing_a_file_that_is_not_an_export_still_needs_a_name(run, tmp_path: Path) -> None:
    skops = tmp_path / "model.skops"
    skops.write_bytes(b"PK\x03\x04")
    assert (
        "name the model to register it under (--name)"
        in run("models", "import", str(skops), code=2).stderr
    )


def test_version_prints_the_package_version(run) -> None:
    assert modelbay.__version__ == metadata.version("modelbay")
    result = run("--version")
    assert result.output == f"modelbay {modelbay.__version__}\n"
