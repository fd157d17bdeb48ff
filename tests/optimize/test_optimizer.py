"""optimize on scikit-learn versions: the default fits the model, and a no-op says so."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from modelbay import Bay
from modelbay.cli import build_cli
from modelbay.data import infer_schema
from modelbay.optimize.optimizer import default_method, nothing_to_do
from modelbay.train import TrainSpec, train_model
from tests.train.helpers import register_result


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, iris: pd.DataFrame) -> Path:
    """iris:1 served by ONNX (compiled at registration), iris:2 the same kind of model
    registered without a graph, iris-mixed:1 a model ONNX does not serve (a string input)."""
    path = tmp_path_factory.mktemp("optimize") / "home"
    with Bay(home=path) as bay:
        bay.train(iris, "species", name="iris", algorithm="logistic_regression", trials=1, cv=2)
        spec = TrainSpec("species", algorithm="logistic_regression", trials=1, cv=2)
        register_result(bay, "iris", train_model(iris, infer_schema(iris), spec))
        coloured = iris.assign(colour=["red", "blue", "green"] * 50)  # the converter refuses it
        bay.train(
            coloured, "species", name="iris-mixed", algorithm="logistic_regression", trials=1, cv=2
        )
    return path


def _cli(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        build_cli(), ["--home", str(home), *args], env={"COLUMNS": "200"}, catch_exceptions=False
    )
    return result.exit_code, result.output


def test_an_onnx_served_version_is_not_copied(home: Path) -> None:
    with Bay(home=home) as bay:
        before = len(bay.models.versions("iris"))
        out = bay.optimize("iris:1")
        assert out.noop and out.method == "onnx" and out.registered is None
        assert out.reason.startswith("nothing to do: iris:1 is already served by ONNX Runtime")
        assert len(bay.models.versions("iris")) == before
        assert "nothing to do" in bay.audit.list()[0].detail
    code, text = _cli(home, "optimize", "iris:1")
    assert code == 0, text
    assert "nothing to do: iris:1 is already served by ONNX Runtime" in text
    assert "nothing registered" in text
    code, text = _cli(home, "optimize", "iris:1", "--method", "onnx", "--json")
    assert code == 0 and json.loads(text)["noop"] is True


def test_the_default_method_of_a_scikit_learn_version_is_onnx(home: Path) -> None:
    with Bay(home=home) as bay:
        bare = bay.models.get("iris:2")
        assert bare.runtime == "sklearn" and default_method(bare) == "onnx"
        out = bay.optimize("iris:2")
        assert out.passed and out.registered and not out.noop
        assert bay.models.get(out.registered).runtime == "onnx"
    code, text = _cli(home, "optimize", "iris-mixed:1")  # was: int8, refused for every sklearn
    assert code == 11, text
    assert "not registered:" in text and "int8" not in text


def test_transformer_defaults_and_no_ops(home: Path) -> None:
    with Bay(home=home) as bay:
        v = bay.models.get("iris:1")
    text = dataclasses.replace(v, flavor="transformers", serving={"engine": "torch"})
    assert default_method(text) == "int8"
    int8 = dataclasses.replace(text, serving={"engine": "onnx", "dtype": "int8"})
    assert "already quantized to int8" in (nothing_to_do(int8, "int8") or "")
    fp32 = dataclasses.replace(text, serving={"engine": "onnx", "dtype": "float32"})
    assert "already served by ONNX Runtime" in (nothing_to_do(fp32, "onnx") or "")
    assert nothing_to_do(fp32, "int8") is None and nothing_to_do(text, "prune") is None


def test_models_show_says_which_runtime_serves_and_why(home: Path) -> None:
    code, text = _cli(home, "models", "show", "iris:1")
    assert code == 0 and "runtime: onnx (parity check passed on " in text
    assert "labels identical, max |Δp|" in text
    code, text = _cli(home, "models", "show", "iris-mixed:1")
    assert "runtime: sklearn (non-numeric inputs (colour) are served by scikit-learn)" in text
    shown = json.loads(_cli(home, "models", "show", "iris-mixed:1", "--json")[1])
    assert shown["runtime"]["name"] == "sklearn" and shown["runtime"]["reason"]
