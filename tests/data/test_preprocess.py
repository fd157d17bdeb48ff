import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from modelbay import ValidationError
from modelbay.data import Preprocessing, build_preprocessor, clean_rows, infer_schema


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [1.0, 2.0, np.nan, 4.0, 100.0, 2.0],
            "y": [10.0, 20.0, 30.0, np.nan, 50.0, 20.0],
            "c": ["a", "b", None, "a", "b", "b"],
        }
    )


def fit(df: pd.DataFrame, scale: str = "none", **options: object) -> np.ndarray:
    config = Preprocessing.from_any(options)
    pipe = build_preprocessor(infer_schema(df), list(df.columns), config, scale=scale)
    return np.asarray(pipe.fit_transform(df))


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [("mean", 21.8), ("median", 2.0), ("most_frequent", 2.0), ("constant", -1.0)],
)
def test_numeric_imputation_strategies(strategy: str, expected: float) -> None:
    df = frame()[["x"]]
    out = fit(df, impute_numeric=strategy, fill_value=-1.0)
    assert out[2, 0] == pytest.approx(expected)
    assert not np.isnan(out).any()


def test_iterative_imputation_uses_the_other_columns() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    df = pd.DataFrame({"x": x, "y": 3 * x + rng.normal(scale=0.01, size=200)})
    df.loc[5, "y"] = np.nan
    out = fit(df, impute_numeric="iterative")
    assert out[5, 1] == pytest.approx(3 * x[5], abs=0.1)  # a mean fill would be ~0


def test_drop_removes_rows_with_missing_values_and_duplicates() -> None:
    df = frame()
    schema = infer_schema(df)
    config = Preprocessing(impute_numeric="drop", impute_categorical="drop")
    cleaned, report = clean_rows(df, schema, list(df.columns), config)
    assert report.duplicates_removed == 1  # row 5 repeats row 1
    assert report.missing_rows_removed == 2
    assert len(cleaned) == report.rows_out == 3
    assert not cleaned.isna().any().any()
    kept, report2 = clean_rows(df, schema, list(df.columns), Preprocessing(duplicates="keep"))
    assert len(kept) == len(df) and report2.duplicates_removed == 0


def test_categorical_imputation_most_frequent_and_constant() -> None:
    df = frame()[["c"]]
    onehot_const = fit(df, impute_categorical="constant")
    assert onehot_const.shape[1] == 3  # a, b and the missing marker
    onehot_mode = fit(df, impute_categorical="most_frequent")
    assert onehot_mode.shape[1] == 2
    assert onehot_mode[2].tolist() == [0.0, 1.0]  # filled with 'b'


def test_unknown_categories_at_predict_time() -> None:
    df = frame()[["c"]].fillna("a")
    schema = infer_schema(df)
    onehot = build_preprocessor(schema, ["c"], Preprocessing(), scale="none").fit(df)
    assert onehot.transform(pd.DataFrame({"c": ["zzz"]})).tolist() == [[0.0, 0.0]]
    ordinal = build_preprocessor(schema, ["c"], Preprocessing(encode="ordinal"), scale="none")
    ordinal.fit(df)
    assert ordinal.transform(pd.DataFrame({"c": ["zzz", "b"]})).ravel().tolist() == [-1.0, 1.0]


def test_one_hot_width_is_bounded_by_max_categories() -> None:
    df = pd.DataFrame({"c": [f"v{i % 40}" for i in range(400)]})
    out = fit(df, max_categories=5)
    assert out.shape[1] == 5


@pytest.mark.parametrize("scale", ["standard", "minmax", "robust"])
def test_scalers(scale: str) -> None:
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x": rng.normal(50, 10, 500), "y": rng.exponential(3, 500)})
    out = fit(df, scale=scale)
    if scale == "standard":
        assert np.allclose(out.mean(axis=0), 0, atol=1e-9)
        assert np.allclose(out.std(axis=0), 1, atol=1e-9)
    elif scale == "minmax":
        assert np.allclose(out.min(axis=0), 0) and np.allclose(out.max(axis=0), 1)
    else:
        assert np.allclose(np.median(out, axis=0), 0, atol=1e-9)


@pytest.mark.parametrize(("norm", "order"), [("l1", 1), ("l2", 2)])
def test_row_normalisation(norm: str, order: int) -> None:
    df = pd.DataFrame({"x": [1.0, 3.0, -2.0], "y": [2.0, 4.0, 5.0]})
    out = fit(df, normalize=norm)
    assert np.allclose(np.linalg.norm(out, ord=order, axis=1), 1.0)


def test_preprocessing_is_fitted_on_the_training_rows_only() -> None:
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"x": rng.normal(0, 1, 300)})
    train, test = train_test_split(df, test_size=0.5, random_state=0)
    test = test + 100.0  # a shifted holdout must not move the scaler
    pipe = build_preprocessor(infer_schema(df), ["x"], Preprocessing(), scale="standard")
    pipe.fit(train)
    scaler = pipe.named_steps["columns"].named_transformers_["numeric"].named_steps["scale"]
    assert scaler.mean_[0] == pytest.approx(train["x"].mean())
    assert pipe.transform(test).mean() > 50


def test_text_and_datetime_columns_become_features(mixed: pd.DataFrame) -> None:
    df = mixed[["signup", "notes"]]
    out = fit(df)
    assert out.shape[0] == len(df)
    assert out.shape[1] > 5  # date parts + tf-idf terms
    assert not np.isnan(out).any()


def test_bad_options_say_what_is_allowed() -> None:
    with pytest.raises(ValidationError, match="scale='zscore' is not one of"):
        Preprocessing(scale="zscore")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="unknown preprocessing option"):
        Preprocessing.from_any({"scaling": "standard"})
