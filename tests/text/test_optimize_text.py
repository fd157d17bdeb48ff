"""optimize: each method through its gate; failures registered nothing, with the numbers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from modelbay import Bay
from modelbay.cli import build_cli
from modelbay.errors import ValidationError
from modelbay.text.torchmodel import bf16_supported


def _count(bay: Bay, name: str) -> int:
    return len(bay.models.versions(name))


def test_per_channel_int8_passes_and_per_tensor_fails_its_gate(text_bay: Bay) -> None:
    before = _count(text_bay, "minilm")
    good = text_bay.optimize("minilm:1", "int8")
    assert good.passed and good.registered
    m = good.gate["metrics"]
    assert m["mean_cosine"] >= 0.99 and m["rank_correlation"] >= 0.98
    assert good.gate["size_ratio"] < 0.35 and good.gate["speedup"] > 0
    new = text_bay.models.get(good.registered)
    assert new.lineage["parent"]["version"] == 1 and new.serving["engine"] == "onnx"
    assert new.metrics["optimization"]["method"] == "int8"
    bad = text_bay.optimize("minilm:1", "int8-per-tensor")
    assert not bad.passed and bad.registered is None
    assert "mean_cosine" in bad.reason and bad.gate["metrics"]["mean_cosine"] < 0.99
    assert _count(text_bay, "minilm") == before + 1  # the failed candidate left nothing


def test_bf16_passes_where_the_cpu_has_it(text_bay: Bay) -> None:
    if not bf16_supported("cpu"):
        with pytest.raises(ValidationError, match="no native bfloat16"):
            text_bay.optimize("minilm:1", "bf16")
        return
    out = text_bay.optimize("minilm:1", "bf16")
    assert out.passed and out.gate["metrics"]["mean_cosine"] > 0.999
    assert out.gate["size_ratio"] == pytest.approx(0.5, abs=0.02)


def test_pruning_an_embedding_model_fails_the_gate_unless_forced(text_bay: Bay) -> None:
    out = text_bay.optimize("minilm:1", "prune", keep_layers=3)
    assert not out.passed and out.registered is None and out.gate["metrics"]["mean_cosine"] < 0.99
    forced = text_bay.optimize("minilm:1", "prune", keep_layers=3, force=True)
    assert forced.forced and forced.registered
    assert text_bay.models.get(forced.registered).lineage["optimized"]["forced"] is True
    with pytest.raises(ValidationError, match="keep_layers must be between 1 and 5"):
        text_bay.optimize("minilm:1", "prune", keep_layers=6)


def test_classifiers_are_gated_on_their_holdout_accuracy(text_bay: Bay) -> None:
    for ref in ("topics-ft:1", "topics-head:1"):
        out = text_bay.optimize(ref, "int8")
        m = out.gate["metrics"]
        assert out.passed and m["accuracy_drop"] <= 0.01 and m["accuracy"] >= 0.9
        assert out.gate["texts"] == 40  # the training run's holdout, rebuilt from its seed
        v = text_bay.models.get(out.registered or "")
        assert v.lineage["parent"]["model"] == ref.split(":")[0]


def test_scikit_learn_versions_export_to_onnx_with_parity(
    sqlite_bay: Bay, iris: pd.DataFrame
) -> None:
    v = sqlite_bay.train(iris, "species", algorithm="logistic_regression", trials=1, cv=2)
    out = sqlite_bay.optimize(v.ref, "onnx")  # compiled at registration: nothing to do
    assert out.noop and not out.registered and _count(sqlite_bay, v.model) == 1
    with pytest.raises(ValidationError, match="scikit-learn versions take the onnx method"):
        sqlite_bay.optimize(v.ref, "int8")


def test_the_cli_prints_the_gate_and_exits_11_when_refused(text_home: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        build_cli(),
        ["--home", str(text_home), "optimize", "minilm:1", "--method", "int8-per-tensor"],
    )
    assert result.exit_code == 11, result.output
    assert "not registered: mean_cosine" in result.output and "rank_correlation" in result.output
