from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelbay import DataError
from modelbay.data import fingerprint, infer_schema, read_table


def test_csv_parquet_and_frame_give_the_same_fingerprint(
    tmp_path: Path, mixed: pd.DataFrame
) -> None:
    csv, pq = tmp_path / "t.csv", tmp_path / "t.parquet"
    mixed.to_csv(csv, index=False)
    from_csv = read_table(csv)
    from_csv.to_parquet(pq, index=False)
    assert fingerprint(read_table(pq)) == fingerprint(from_csv)
    assert fingerprint(read_table(from_csv)) == fingerprint(from_csv)


def test_fingerprint_changes_with_one_value(cancer: pd.DataFrame) -> None:
    changed = cancer.copy()
    changed.iloc[100, 3] += 1e-9
    assert fingerprint(changed) != fingerprint(cancer)
    renamed = cancer.rename(columns={"target": "label"})
    assert fingerprint(renamed) != fingerprint(cancer)


def test_fingerprint_is_a_sha256_hex(cancer: pd.DataFrame) -> None:
    fp = fingerprint(cancer)
    assert len(fp) == 64 and int(fp, 16) >= 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "cannot read"),
        (b"a,b\n", "no rows"),
        (b"a,b\n,\n,\n", "every value in the table is missing"),
    ],
)
def test_unusable_files_give_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_table(path)


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_table(tmp_path / "nope.csv")
    other = tmp_path / "data.xlsx"
    other.write_bytes(b"x")
    with pytest.raises(DataError, match="unknown format 'xlsx'"):
        read_table(other)


def test_a_corrupt_parquet_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 not really parquet")
    with pytest.raises(DataError, match="as parquet"):
        read_table(path)


def test_duplicate_column_names_are_refused() -> None:
    df = pd.DataFrame(np.ones((3, 2)), columns=["a", "a"])
    with pytest.raises(DataError, match="duplicate column names: a"):
        read_table(df)


def test_schema_kinds_missing_and_cardinality(mixed: pd.DataFrame) -> None:
    schema = infer_schema(mixed)
    kinds = {c.name: c.kind for c in schema.columns}
    assert kinds == {
        "age": "numeric",
        "plan": "categorical",
        "tenure": "numeric",
        "active": "boolean",
        "signup": "datetime",
        "notes": "text",
        "churned": "boolean",  # yes/no
    }
    assert schema.rows == len(mixed)
    assert schema["age"].missing == int(mixed["age"].isna().sum()) > 0
    assert schema["plan"].unique == 3


def test_boolean_words_and_real_datetimes_are_recognised() -> None:
    df = pd.DataFrame(
        {
            "flag": ["yes", "no", "yes", None],
            "at": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]),
        }
    )
    schema = infer_schema(df)
    assert schema["flag"].kind == "boolean"
    assert schema["at"].kind == "datetime"
