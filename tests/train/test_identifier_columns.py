"""Columns that identify rows are left out of training, with a warning, unless kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelbay import Bay
from modelbay.data.identifiers import id_reason, looks_like_id_name
from modelbay.errors import ValidationError


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("id", True),
        ("ID", True),
        ("customer_id", True),
        ("customerId", True),
        ("order-id", True),
        ("user uuid", True),
        ("uuid", True),
        ("row_key", True),
        ("paid", False),
        ("valid", False),
        ("idle", False),
        ("grid", False),
        ("monkey", False),
    ],
)
def test_identifier_names(name: str, expected: bool) -> None:
    assert looks_like_id_name(name) is expected


def test_the_rule_needs_distinct_integers_or_strings_on_enough_rows() -> None:
    rng = np.random.default_rng(0)
    ids = pd.Series(rng.permutation(100_000)[:200])
    assert "all 200 values are distinct" in (id_reason("customer_id", ids) or "")
    assert id_reason("customer_id", pd.Series([f"c{i}" for i in range(200)])) is not None
    nearly = pd.Series([*range(195), 1, 2, 3, 4, 5])  # a few customers twice: still an id
    assert "195 of 200 values" in (id_reason("customer_id", nearly) or "")
    assert id_reason("customer_id", ids.head(10)) is None  # on 10 rows every column is unique
    assert id_reason("customer_id", pd.Series(rng.normal(size=200))) is None  # a measurement
    assert id_reason("plan_id", pd.Series(rng.integers(0, 5, 200))) is None  # a category
    assert id_reason("tenure", ids) is None  # unique, but not named like an id nor a range


def test_a_row_number_is_an_identifier_whatever_its_name() -> None:
    assert "a row number" in (id_reason("Unnamed: 0", pd.Series(range(1, 201))) or "")
    assert id_reason("Unnamed: 0", pd.Series([*range(199), 500])) is None  # a gap: not a count


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 160
    x = rng.normal(size=n)
    return pd.DataFrame(
        {
            "customer_id": rng.permutation(90_000)[:n] + 10_000,
            "x": x,
            "plan": rng.choice(["a", "b"], n),
            "y": np.where(x + rng.normal(0, 0.3, n) > 0, "yes", "no"),
        }
    )


def test_an_id_column_is_left_out_with_a_warning_and_recorded(
    sqlite_bay: Bay, customers: pd.DataFrame
) -> None:
    said: list[str] = []
    v = sqlite_bay.train(
        customers,
        "y",
        algorithm="logistic_regression",
        trials=1,
        cv=2,
        on_progress=lambda p: said.append(p.message) if p.phase == "prepare" else None,
    )
    assert v.signature.names == ["x", "plan"]
    assert "customer_id" in v.lineage["excluded_columns"]
    assert len(said) == 1 and "'customer_id' left out" in said[0] and "--keep-column" in said[0]
    assert "customer_id" not in v.reference_stats["features"]  # so not watched for drift
    # rows sent as the user has them, id included, are taken and the id ignored
    rows = customers.drop(columns="y").head(3)
    np.testing.assert_array_equal(
        sqlite_bay.load(v.ref).predict(rows), sqlite_bay.load(v.ref).predict(rows[["x", "plan"]])
    )


def test_keep_columns_or_named_features_keep_an_id(
    sqlite_bay: Bay, customers: pd.DataFrame
) -> None:
    kept = sqlite_bay.train(
        customers,
        "y",
        algorithm="logistic_regression",
        trials=1,
        cv=2,
        preprocessing={"keep_columns": ["customer_id"]},
    )
    assert "customer_id" in kept.signature.names and kept.lineage["excluded_columns"] == {}
    chosen = sqlite_bay.train(
        customers,
        "y",
        algorithm="logistic_regression",
        trials=1,
        cv=2,
        features=["customer_id", "x"],
    )
    assert chosen.signature.names == ["customer_id", "x"]


def test_keep_columns_are_checked(sqlite_bay: Bay, customers: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match="unknown column\\(s\\): nope"):
        sqlite_bay.train(customers, "y", trials=1, preprocessing={"keep_columns": ["nope"]})
    with pytest.raises(ValidationError, match="both dropped and kept"):
        sqlite_bay.train(
            customers,
            "y",
            trials=1,
            preprocessing={"keep_columns": ["x"], "drop_columns": ["x"]},
        )
