"""The encoder: same vectors as sentence-transformers, length grouping, truncation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelbay.artifacts.bundle import TextBundle
from modelbay.text.encoder import TextModel, length_groups

TEXTS = [
    "short",
    "A considerably longer sentence, so that the batch has to be padded to fit it in.",
    "Medium length text here.",
    "x " * 10,
]


@pytest.fixture(scope="module")
def model(minilm_dir: Path) -> TextModel:
    return TextModel(TextBundle.from_directory(minilm_dir, "embeddings"), chunk=2).load()


def test_vectors_match_sentence_transformers_in_the_callers_order(
    model: TextModel, minilm_dir: Path
) -> None:
    from sentence_transformers import SentenceTransformer

    expected = SentenceTransformer(str(minilm_dir), device="cpu").encode(TEXTS)
    result = model.run(TEXTS)
    assert result.values.shape == (4, 384)
    cos = (result.values * expected).sum(axis=1)
    assert cos.min() > 0.9999
    assert result.tokens.tolist() == [3, int(result.tokens[1]), 7, 12]
    assert not result.truncated.any()


def test_long_texts_are_truncated_at_the_limit_and_flagged(model: TextModel) -> None:
    result = model.run(["word " * 1000, "short one"])
    assert result.tokens[0] == 256 and result.truncated.tolist() == [True, False]


@pytest.mark.parametrize("lengths", [[5] * 10 + [40] * 10, list(range(1, 100)), [7], [3, 3, 200]])
def test_length_groups_cover_every_text_once_in_bounded_passes(lengths: list[int]) -> None:
    groups = length_groups(np.array(sorted(lengths)), 32)
    covered = [i for a, b in groups for i in range(a, b)]
    assert covered == list(range(len(lengths)))
    assert all(0 < b - a <= 32 for a, b in groups)


def test_very_different_lengths_run_in_separate_passes() -> None:
    groups = length_groups(np.array([5] * 10 + [200] * 10), 32)
    assert groups == [(0, 10), (10, 20)]  # one pass would pad ten short texts to 200
