"""One contract test over every runtime: load, warm up, predict like the original, unload."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelbay import Bay, ModelbayError, ValidationError
from modelbay.serve.runtimes import OnnxRuntime, SklearnRuntime, runtime_for
from tests.conftest import MODELS

ONNX_MODELS = [n for n in MODELS if n != "churn"]  # churn has text and dates


@pytest.mark.parametrize("name", list(MODELS))
def test_sklearn_runtime_matches_the_predictor(
    serve_bay: Bay, serve_data: dict[str, pd.DataFrame], name: str
) -> None:
    check(serve_bay, serve_data[name], name, SklearnRuntime)


@pytest.mark.parametrize("name", ONNX_MODELS)
def test_onnx_runtime_matches_the_predictor(
    serve_bay: Bay, serve_data: dict[str, pd.DataFrame], name: str
) -> None:
    check(serve_bay, serve_data[name], name, OnnxRuntime)


def check(bay: Bay, rows: pd.DataFrame, name: str, cls: type) -> None:
    version = bay.models.get(name)
    predictor = bay.load(name)
    runtime = cls(version).load(bay.models)
    runtime.warmup()
    x = version.signature.validate(rows)
    out = runtime.predict(x, proba=version.task == "classification")
    want = predictor.predict(rows)
    if version.task == "regression":
        np.testing.assert_allclose(out.predict, want, rtol=1e-4)
    else:
        assert out.predict.astype(str).tolist() == want.astype(str).tolist()
    if version.task == "classification":
        np.testing.assert_allclose(out.proba, predictor.predict_proba(rows).to_numpy(), atol=1e-4)
    runtime.unload()
    with pytest.raises(ModelbayError, match="not loaded"):
        runtime.predict(x)


def test_runtime_choice_follows_the_parity_check(serve_bay: Bay) -> None:
    assert runtime_for(serve_bay.models.get("bc-forest")).name == "onnx"
    for name in MODELS:
        v = serve_bay.models.get(name)
        assert runtime_for(v).name == v.serving["runtime"]
        assert (v.serving["runtime"] == "onnx") == ("onnx" in v.artifacts)
    churn = serve_bay.models.get("churn")
    assert "non-numeric inputs" in churn.serving["reason"]
    assert runtime_for(serve_bay.models.get("bc-forest"), "sklearn").name == "sklearn"
    with pytest.raises(ValidationError, match="has no ONNX graph: non-numeric"):
        runtime_for(churn, "onnx")


def test_onnx_parity_is_recorded(serve_bay: Bay) -> None:
    v = serve_bay.models.get("bc-logistic")
    parity = v.serving["parity"]
    assert parity["label_agreement"] == 1.0 and parity["max_proba_diff"] < 1e-4
    assert parity["rows_checked"] == 114
    assert v.artifacts["onnx"].size > 0
