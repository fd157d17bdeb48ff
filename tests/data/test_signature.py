import numpy as np
import pandas as pd
import pytest

from modelbay import SchemaError
from modelbay.data.signature import ColumnSpec, OutputSpec, Signature

SIG = Signature(
    inputs=[
        ColumnSpec("age", "numeric", "float64", nullable=False),
        ColumnSpec("plan", "categorical", "object", nullable=True),
    ],
    output=OutputSpec("classification", "churned", "object", ["no", "yes"]),
)


def test_round_trip_through_a_dict() -> None:
    assert Signature.from_dict(SIG.to_dict()) == SIG


def test_accepts_frames_records_and_arrays_in_column_order() -> None:
    expected = pd.DataFrame({"age": [31.0], "plan": ["pro"]})
    for rows in (
        expected,
        {"age": 31, "plan": "pro"},
        [{"plan": "pro", "age": "31"}],
        [[31, "pro"]],
    ):
        pd.testing.assert_frame_equal(SIG.validate(rows), expected, check_dtype=False)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"plan": "pro"}], "missing column\\(s\\): age"),
        ([{"age": 1, "plan": "a", "zip": 9}], "unexpected column\\(s\\): zip"),
        (
            [{"age": 1, "plan": "a"}, {"age": "abc", "plan": "b"}],
            "column 'age' expected float64, got 'abc' in row 1",
        ),
        ([{"age": None, "plan": "a"}], "column 'age' has a missing value in row 0"),
        ([{"age": np.inf, "plan": "a"}], "column 'age' has an infinite value in row 0"),
        ([{"age": True, "plan": "a"}], "column 'age' expected a number"),
        ([[1, "a", 3]], "expected rows of 2 values"),
        ([], "no rows|expected rows"),
    ],
)
def test_bad_rows_name_the_column_and_row(rows: object, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        SIG.validate(rows)


def test_nullable_columns_take_missing_values() -> None:
    out = SIG.validate([{"age": 3, "plan": None}])
    assert out["plan"].isna().all()
