"""modelbay's ``algorithm="auto"`` against FLAML and a default linear baseline, on the holdout.

    python bench/automl.py [--budget 20] [--seeds 5] [--tables iris,wine,...] [--quick]

Every table scikit-learn bundles (iris, wine, breast cancer, digits, diabetes) and
two generated tables with categorical columns and missing values (one
classification, one regression). For each table and seed: one stratified (for
classification) 75/25 split, seeded; then on the same 75 % three fits:

- modelbay: ``Bay.train(..., algorithm="auto", timeout=BUDGET)`` in a fresh
  temporary MODELBAY_HOME, as many trials as the budget allows, no holdout of its own;
- FLAML: ``AutoML().fit(..., time_budget=BUDGET)``, its defaults otherwise;
- baseline: impute, one-hot, ``StandardScaler`` + ``LogisticRegression()`` or ``Ridge()``.

Both searches are told the metric reported here (accuracy for classification, R²
for regression) and the seed, and run with n_jobs=1 (OpenMP and BLAS threads too:
one core each, the machine has two and is shared). The 25 % holdout is scored once.

Printed: each table's holdout metric (mean over the seeds, each system), the seconds
each fit took, the mean rank of each system over every (table, seed) (1 best of 3,
ties share), then the issue's two targets, PASS or FAIL:
  1. modelbay's mean rank is no worse than FLAML's;
  2. on no table is modelbay's mean more than 1 point (0.01) below the baseline's.

FLAML is a bench peer, not a dependency: ``pip install -e '.[bench]'`` (``make bench-automl``).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import datasets
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

SYSTEMS = ("modelbay", "flaml", "baseline")
TOLERANCE = 0.01  # "never more than 1 point below the baseline"
TEST_SIZE = 0.25


@dataclass(frozen=True)
class Table:
    name: str
    task: str  # classification | regression
    frame: pd.DataFrame
    target: str = "target"


def _bundled(name: str, loader: Callable[..., Any], task: str) -> Table:
    frame = loader(as_frame=True).frame
    if task == "classification":
        frame["target"] = frame["target"].map(lambda k: f"class_{k}")  # labels, not numbers
    return Table(name, task, frame)


def _generated_features(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Four numeric columns and three categorical ones, with values missing at random."""
    X = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "x3": rng.uniform(-2, 2, size=n),
            "x4": rng.exponential(size=n),
            "city": rng.choice([f"city_{i}" for i in range(8)], size=n),
            "plan": rng.choice(["basic", "plus", "pro"], size=n, p=[0.5, 0.3, 0.2]),
            "channel": rng.choice(["web", "store", "phone", "partner"], size=n),
        }
    )
    for col, share in (("x1", 0.1), ("x2", 0.05), ("x4", 0.15), ("city", 0.1), ("plan", 0.05)):
        X.loc[rng.random(n) < share, col] = np.nan
    return X


def _signal(X: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """A non-linear truth: an interaction, a threshold, and category effects."""
    city = X["city"].map({f"city_{i}": e for i, e in enumerate(rng.normal(0, 1, 8))}).fillna(0)
    plan = X["plan"].map({"basic": 0.0, "plus": 0.7, "pro": 1.5}).fillna(0.3)
    x1, x2 = X["x1"].fillna(0).to_numpy(), X["x2"].fillna(0).to_numpy()
    return (
        1.2 * np.sin(2 * x1)
        + x2 * X["x3"].to_numpy()
        + 1.5 * (X["x4"].fillna(1).to_numpy() > 1.5)
        + city.to_numpy()
        + plan.to_numpy() * x2
    )


def generated_classification(n: int = 1500) -> Table:
    """Three classes from the non-linear signal plus noise; categorical and missing values."""
    rng = np.random.default_rng(21)
    X = _generated_features(rng, n)
    s = _signal(X, rng) + rng.normal(0, 0.5, n)
    labels = np.where(s < -0.5, "low", np.where(s < 1.0, "mid", "high"))
    return Table("generated-cls", "classification", X.assign(target=labels))


def generated_regression(n: int = 1500) -> Table:
    """The non-linear signal plus Gaussian noise; categorical and missing values."""
    rng = np.random.default_rng(22)
    X = _generated_features(rng, n)
    return Table(
        "generated-reg", "regression", X.assign(target=_signal(X, rng) + rng.normal(0, 0.5, n))
    )


def tables() -> dict[str, Table]:
    """Every table of the benchmark, by name."""
    out = [
        _bundled("iris", datasets.load_iris, "classification"),
        _bundled("wine", datasets.load_wine, "classification"),
        _bundled("breast-cancer", datasets.load_breast_cancer, "classification"),
        _bundled("digits", datasets.load_digits, "classification"),
        _bundled("diabetes", datasets.load_diabetes, "regression"),
        generated_classification(),
        generated_regression(),
    ]
    return {t.name: t for t in out}


def split(table: Table, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """The one split every system sees: 75/25, stratified for classification, seeded."""
    X, y = table.frame.drop(columns=table.target), table.frame[table.target]
    stratify = y if table.task == "classification" else None
    parts = train_test_split(X, y, test_size=TEST_SIZE, random_state=seed, stratify=stratify)
    return parts[0], parts[1], parts[2], parts[3]


def score(task: str, y_true: Any, y_pred: Any) -> float:
    """Holdout accuracy (classification) or R² (regression)."""
    if task == "classification":
        return float(accuracy_score(np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str)))
    return float(r2_score(y_true, np.asarray(y_pred, dtype=float)))


def baseline(task: str, X: pd.DataFrame) -> Pipeline:
    """Impute, one-hot the categories, scale, then the library's default linear model."""
    categorical = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    numeric = [c for c in X.columns if c not in categorical]
    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                categorical,
            ),
        ]
    )
    model = LogisticRegression(max_iter=5000) if task == "classification" else Ridge()
    return Pipeline([("pre", pre), ("model", model)])


def fit_baseline(table: Table, X: pd.DataFrame, y: pd.Series, seed: int, budget: float) -> Any:
    return baseline(table.task, X).fit(X, y)


def fit_modelbay(table: Table, X: pd.DataFrame, y: pd.Series, seed: int, budget: float) -> Any:
    """``Bay.train`` with ``algorithm="auto"`` bounded by the budget, in a fresh home."""
    from modelbay import Bay, Settings

    with (
        tempfile.TemporaryDirectory(prefix="modelbay-automl-") as home,
        Bay(Settings(home=Path(home), database_url="")) as bay,
    ):
        version = bay.train(
            X.assign(**{table.target: y}),
            table.target,
            name="bench",
            algorithm="auto",
            trials=100_000,  # the budget binds, not the count
            timeout=budget,
            metric="accuracy" if table.task == "classification" else "r2",
            test_size=0.0,  # the benchmark's own holdout is the one every system sees
            seed=seed,
        )
        search_s = bay.runs.get(int(version.lineage["training_run"])).result["timings"]
        return _Chosen(bay.load(version).model, version.algorithm, search_s["search_s"])


class _Chosen:
    """A fitted model with the name of what was chosen (modelbay's algorithm, FLAML's learner)."""

    def __init__(self, model: Any, chosen: str, search_s: float = math.nan) -> None:
        self.model, self.chosen, self.search_s = model, chosen, search_s

    def predict(self, X: pd.DataFrame) -> Any:
        return self.model.predict(X)


def fit_flaml(table: Table, X: pd.DataFrame, y: pd.Series, seed: int, budget: float) -> Any:
    from flaml import AutoML

    automl = AutoML()
    automl.fit(
        X,
        y,
        task=table.task,
        time_budget=budget,
        metric="accuracy" if table.task == "classification" else "r2",
        n_jobs=1,
        seed=seed,
        verbose=0,
    )
    return _Chosen(automl, str(automl.best_estimator))


FITS: dict[str, Callable[..., Any]] = {
    "modelbay": fit_modelbay,
    "flaml": fit_flaml,
    "baseline": fit_baseline,
}


@dataclass
class Outcome:
    table: str
    seed: int
    system: str
    score: float
    seconds: float
    chosen: str
    search_s: float = math.nan  # modelbay: the search and selection, inside the budget


def run_one(table: Table, seed: int, system: str, budget: float) -> Outcome:
    X_train, X_test, y_train, y_test = split(table, seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and FLAML's own notices
        model = FITS[system](table, X_train, y_train, seed, budget)
    seconds = time.perf_counter() - t0
    chosen = getattr(model, "chosen", "logistic" if table.task == "classification" else "ridge")
    value = score(table.task, y_test, model.predict(X_test))
    search_s = getattr(model, "search_s", math.nan)
    return Outcome(table.name, seed, system, value, seconds, chosen, search_s)


def run_all(chosen: list[Table], seeds: int, budget: float) -> list[Outcome]:
    """Every table, seed and system, in turn; one line each on stderr as it ends."""
    outcomes = []
    for table in chosen:
        for seed in range(seeds):
            for system in SYSTEMS:
                out = run_one(table, seed, system, budget)
                print(
                    f"{table.name} seed {seed} {system}: {out.score:.4f} ({out.chosen}, "
                    f"{out.seconds:.1f} s, search {out.search_s:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
                outcomes.append(out)
    return outcomes


def ranks(outcomes: list[Outcome]) -> dict[str, float]:
    """Mean rank of each system over every (table, seed): 1 is best of three; ties share."""
    per: dict[str, list[float]] = {s: [] for s in SYSTEMS}
    keys = sorted({(o.table, o.seed) for o in outcomes})
    for key in keys:
        group = {o.system: o.score for o in outcomes if (o.table, o.seed) == key}
        for system, value in group.items():
            better = sum(v > value for v in group.values())
            ties = sum(v == value for v in group.values())
            per[system].append(1 + better + (ties - 1) / 2)
    return {s: statistics.mean(v) for s, v in per.items() if v}


def means(outcomes: list[Outcome], table: str, system: str, attr: str = "score") -> float:
    return statistics.mean(
        getattr(o, attr) for o in outcomes if o.table == table and o.system == system
    )


def report(outcomes: list[Outcome], all_tables: dict[str, Table], budget: float) -> bool:
    """Print the table, the ranks and the two targets; True when both pass."""
    names = list(dict.fromkeys(o.table for o in outcomes))
    seeds = sorted({o.seed for o in outcomes})
    print(
        f"\n## bench/automl.py — holdout ({TEST_SIZE:.0%}) accuracy / R², mean of "
        f"{len(seeds)} seed(s), budget {budget:g} s a fit, n_jobs=1\n"
    )
    print(
        "| table | metric | modelbay | FLAML | baseline | modelbay s (search) | FLAML s "
        "| modelbay chose | FLAML chose |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---|---|")
    for name in names:
        metric = "accuracy" if all_tables[name].task == "classification" else "R²"
        chose = {
            s: ", ".join(sorted({o.chosen for o in outcomes if o.table == name and o.system == s}))
            for s in ("modelbay", "flaml")
        }
        print(
            f"| {name} | {metric} | {means(outcomes, name, 'modelbay'):.4f} | "
            f"{means(outcomes, name, 'flaml'):.4f} | {means(outcomes, name, 'baseline'):.4f} | "
            f"{means(outcomes, name, 'modelbay', 'seconds'):.1f} "
            f"({means(outcomes, name, 'modelbay', 'search_s'):.1f}) | "
            f"{means(outcomes, name, 'flaml', 'seconds'):.1f} | {chose['modelbay']} | "
            f"{chose['flaml']} |"
        )
    mean_ranks = ranks(outcomes)
    print(
        "\nmean rank over every (table, seed), 1 best of 3: "
        + ", ".join(f"{s} {r:.2f}" for s, r in mean_ranks.items())
    )
    rank_ok = mean_ranks["modelbay"] <= mean_ranks["flaml"]
    gaps = {n: means(outcomes, n, "modelbay") - means(outcomes, n, "baseline") for n in names}
    worst = min(gaps, key=lambda n: gaps[n])
    floor_ok = gaps[worst] >= -TOLERANCE
    print(
        f"{'PASS' if rank_ok else 'FAIL'}: modelbay's mean rank {mean_ranks['modelbay']:.2f} "
        f"{'<=' if rank_ok else '>'} FLAML's {mean_ranks['flaml']:.2f}"
    )
    print(
        f"{'PASS' if floor_ok else 'FAIL'}: modelbay never more than {TOLERANCE:g} below the "
        f"baseline (worst: {worst}, {gaps[worst]:+.4f})"
    )
    return rank_ok and floor_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=float, default=20.0, help="seconds a fit (both systems)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--tables", default="", help="comma list (default: all)")
    parser.add_argument("--quick", action="store_true", help="smoke run: iris, 1 seed, 2 s")
    args = parser.parse_args(argv)
    try:
        import flaml  # noqa: F401
    except ImportError:
        print(
            "bench/automl.py needs FLAML: pip install -e '.[bench]' (or 'flaml[automl]==2.7.0')",
            file=sys.stderr,
        )
        return 2
    all_tables = tables()
    if args.quick:
        args.tables, args.seeds, args.budget = args.tables or "iris", 1, 2.0
    chosen = [t.strip() for t in args.tables.split(",") if t.strip()] or list(all_tables)
    unknown = [t for t in chosen if t not in all_tables]
    if unknown:
        parser.error(f"unknown table(s) {', '.join(unknown)}; tables are: {', '.join(all_tables)}")
    with threadpool_limits(limits=1):  # n_jobs=1 for OpenMP and BLAS too: one core a fit
        outcomes = run_all([all_tables[n] for n in chosen], args.seeds, args.budget)
    return 0 if report(outcomes, all_tables, args.budget) else 1


if __name__ == "__main__":
    sys.exit(main())
