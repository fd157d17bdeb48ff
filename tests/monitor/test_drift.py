"""Drift statistics against reference statistics made by the trainer's own profiler."""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelbay.data.profile import _categorical, _numeric, profile_table
from modelbay.data.schema import infer_schema
from modelbay.monitor.drift import compare, psi


def test_psi_is_zero_for_the_same_distribution_and_grows_with_a_shift() -> None:
    counts = np.array([10.0, 20, 30, 40])
    assert psi(counts, counts * 3) == 0.0
    assert psi(counts, counts[::-1]) > 0.5


def test_numeric_drift_flags_a_mean_shift_not_a_fresh_sample() -> None:
    rng = np.random.default_rng(0)
    ref = {"kind": "numeric", **_numeric(pd.Series(rng.normal(50, 10, 5000)))}
    same = compare(ref, "x", rng.normal(50, 10, 800).tolist())
    moved = compare(ref, "x", rng.normal(60, 10, 800).tolist())
    assert same is not None and moved is not None
    assert not same.drifted and same.psi < 0.05 and same.p_value > 0.01
    assert moved.drifted and moved.psi > 0.2 and moved.p_value < 1e-6 and moved.test == "ks"


def test_categorical_drift_names_a_new_category() -> None:
    rng = np.random.default_rng(0)
    ref = {"kind": "categorical", **_categorical(pd.Series(rng.choice(["a", "b", "c"], 3000)))}
    same = compare(ref, "plan", rng.choice(["a", "b", "c"], 600).tolist())
    moved = compare(ref, "plan", rng.choice(["a", "b", "c", "z"], 600).tolist())
    assert same is not None and not same.drifted
    assert moved is not None and moved.drifted and moved.detail == "new categories: z"
    assert moved.test == "chi2" and moved.p_value < 1e-6


def test_text_is_compared_by_length() -> None:
    ref = {"kind": "text", **_numeric(pd.Series([10.0] * 50 + [20.0] * 50)), "of": "length"}
    found = compare(ref, "notes", ["x" * 10, "y" * 20] * 100)
    assert found is not None and found.kind == "text length" and not found.drifted


def test_dates_are_compared_on_their_instants_with_the_reference_kept_at_training() -> None:
    train = pd.DataFrame({"signup": pd.date_range("2022-01-01", periods=1000, freq="D")})
    train["signup"] = train["signup"].dt.strftime("%Y-%m-%d")
    ref = profile_table(train, infer_schema(train))["features"]["signup"]
    assert ref["kind"] == "datetime" and ref["of"] == "timestamp" and ref["histogram"]
    same = train["signup"].sample(600, random_state=1).tolist()
    later = pd.date_range("2025-06-01", periods=600, freq="D").strftime("%Y-%m-%d").tolist()
    kept = compare(ref, "signup", [*same, None, "not a date"])
    moved = compare(ref, "signup", later)
    assert kept is not None and not kept.drifted and kept.n_cur == 600
    assert moved is not None and moved.drifted and moved.test == "ks"
    assert moved.detail.startswith("mean 2023-05-") and "-> 2026-" in moved.detail
    # a version registered before dates had statistics is not compared on them
    assert compare({"kind": "datetime", "min": None}, "signup", ["2026-01-01"]) is None
