"""Text classifiers on the encoder: both paths beat the majority baseline, with lineage."""

from __future__ import annotations

import pandas as pd
import pytest

from modelbay import Bay
from modelbay.errors import TrainingError, ValidationError


@pytest.mark.parametrize("name", ["topics-head", "topics-ft"])
def test_both_paths_beat_the_majority_baseline_clearly(text_bay: Bay, name: str) -> None:
    v = text_bay.models.get(name)
    base = text_bay.models.get("minilm")
    assert v.flavor == "transformers" and v.task == "classification"
    assert v.metrics["baseline_accuracy"] == pytest.approx(0.25)
    assert v.metrics["holdout"]["accuracy"] >= v.metrics["baseline_accuracy"] + 0.4
    assert v.lineage["parent"] == {"model": "minilm", "version": base.version, "id": base.id}
    assert v.lineage["dataset"]["name"] == "topics"
    assert sorted(v.signature.output.classes or []) == ["cooking", "finance", "sport", "weather"]


def test_fine_tuning_records_each_epoch_and_keeps_the_best(text_bay: Bay) -> None:
    v = text_bay.models.get("topics-ft")
    history = v.metrics["history"]
    assert 1 <= len(history) <= 3
    assert v.params["best_val_accuracy"] == max(h["val_accuracy"] for h in history)
    assert history[-1]["loss"] < history[0]["loss"] or len(history) == 1


def test_a_trained_classifier_predicts_in_process(text_bay: Bay) -> None:
    from modelbay.serve.runtimes import runtime_for

    runtime = runtime_for(text_bay.models.get("topics-head")).load(text_bay.models)
    out = runtime.predict(
        pd.DataFrame({"text": ["The striker scored in the cup game.", "The chef baked bread."]}),
        proba=True,
    )
    assert out.predict.tolist() == ["sport", "cooking"]
    assert out.proba is not None and out.proba.shape == (2, 4)


def test_bad_training_input_says_what_to_fix(text_bay: Bay, topics: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match="no target column 'nope'"):
        text_bay.train_text(topics, "nope", encoder="minilm")
    one_label = topics.assign(topic="sport")
    with pytest.raises(TrainingError, match="at least two labels"):
        text_bay.train_text(one_label, "topic", encoder="minilm", name="x")
    with pytest.raises(ValidationError, match="method 'magic'"):
        text_bay.train_text(topics, "topic", encoder="minilm", method="magic")
    assert [m.name for m in text_bay.models.list()].count("x") == 0
