"""The algorithm catalogue: what each algorithm builds and the space it searches.

Every entry names the tasks it serves, whether its inputs should be scaled, and a
search space written for Optuna. ``pca+NAME`` puts a PCA (keeping a searched share
of the variance) in front of any entry.

``complexity`` orders the algorithms from simplest (a linear model) to the most
flexible (an MLP): when the search's best candidates score within one standard
error of each other, the simplest is chosen (train/selection.py). ``baseline``
holds the Optuna values of the library's own defaults: ``auto`` tries those
first, so the default model is always one of the candidates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from sklearn.calibration import CalibratedClassifierCV
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.svm import SVC, SVR

from modelbay.errors import ValidationError

__all__ = ["ALGORITHMS", "AUTO", "Algorithm", "resolve"]

Params = dict[str, Any]
Space = Callable[[optuna.Trial], Params]


@dataclass(frozen=True)
class Algorithm:
    name: str
    tasks: frozenset[str]
    scale: bool  # z-score inputs by default (linear models, SVMs, MLPs, k-means, PCA)
    build: Callable[[str, Params, int], Any]  # (task, params, seed) -> unfitted estimator
    space: Space
    pca: bool = False
    description: str = ""
    defaults: Params = field(default_factory=dict)
    complexity: int = 0  # 0 linear .. 4 MLP: "simplest" in the one-standard-error rule
    baseline: Params | None = None  # Optuna values of the library defaults, tried first

    def suggest(self, trial: optuna.Trial) -> Params:
        params = dict(self.space(trial))
        if self.pca:
            params["pca_variance"] = trial.suggest_float("pca_variance", 0.80, 0.99)
        return params

    def make(self, task: str, params: Params, seed: int) -> list[tuple[str, Any]]:
        """Pipeline steps after preprocessing: an optional PCA, then the estimator."""
        own = {k: v for k, v in params.items() if k != "pca_variance"}
        steps: list[tuple[str, Any]] = []
        if self.pca:
            variance = params.get("pca_variance", 0.95)
            steps.append(("pca", PCA(n_components=variance, svd_solver="full", random_state=seed)))
        steps.append(("model", self.build(task, own, seed)))
        return steps


def _no_space(trial: optuna.Trial) -> Params:
    return {}


def _linear(task: str, p: Params, seed: int) -> Any:
    return LinearRegression()


def _ridge_space(t: optuna.Trial) -> Params:
    return {"alpha": t.suggest_float("ridge_alpha", 1e-3, 1e3, log=True)}


def _lasso_space(t: optuna.Trial) -> Params:
    return {"alpha": t.suggest_float("lasso_alpha", 1e-4, 10.0, log=True)}


def _logistic_space(t: optuna.Trial) -> Params:
    return {"C": t.suggest_float("logistic_C", 1e-3, 1e3, log=True)}


def _svm_space(t: optuna.Trial) -> Params:
    kernel = t.suggest_categorical("svm_kernel", ["linear", "rbf"])
    p: Params = {"kernel": kernel, "C": t.suggest_float("svm_C", 1e-2, 1e2, log=True)}
    if kernel == "rbf":
        p["gamma"] = t.suggest_float("svm_gamma", 1e-4, 1.0, log=True)
    return p


def _svm(task: str, p: Params, seed: int) -> Any:
    if task == "classification":  # Platt-calibrated probabilities, as SVC(probability=True) gave
        return CalibratedClassifierCV(SVC(random_state=seed, **p), ensemble=False, cv=3)
    return SVR(**p)


def _kmeans_space(t: optuna.Trial) -> Params:
    return {"n_clusters": t.suggest_int("kmeans_n_clusters", 2, 10)}


def _forest_space(t: optuna.Trial) -> Params:
    depth = t.suggest_int("forest_max_depth", 2, 32, log=True)
    return {
        "n_estimators": t.suggest_int("forest_n_estimators", 50, 300, step=50),
        "max_depth": depth if depth < 32 else None,
        "min_samples_leaf": t.suggest_int("forest_min_samples_leaf", 1, 10),
        "max_features": t.suggest_categorical("forest_max_features", ["sqrt", "0.5", "1.0"]),
    }


def _forest(task: str, p: Params, seed: int) -> Any:
    p = dict(p)
    if p.get("max_features") in ("0.5", "1.0"):
        p["max_features"] = float(p["max_features"])
    cls = RandomForestClassifier if task == "classification" else RandomForestRegressor
    return cls(random_state=seed, n_jobs=1, **p)


def _boosting_space(t: optuna.Trial) -> Params:
    return {
        "learning_rate": t.suggest_float("gb_learning_rate", 0.01, 0.3, log=True),
        "max_iter": t.suggest_int("gb_max_iter", 50, 300, step=50),
        "max_leaf_nodes": t.suggest_int("gb_max_leaf_nodes", 7, 63),
        "l2_regularization": t.suggest_float("gb_l2_regularization", 1e-6, 1.0, log=True),
    }


def _boosting(task: str, p: Params, seed: int) -> Any:
    cls = (
        HistGradientBoostingClassifier
        if task == "classification"
        else HistGradientBoostingRegressor
    )
    return cls(random_state=seed, **p)


_LAYERS = {"64": (64,), "128": (128,), "64x32": (64, 32)}


def _mlp_space(t: optuna.Trial) -> Params:
    return {
        "hidden_layer_sizes": t.suggest_categorical("mlp_layers", list(_LAYERS)),
        "alpha": t.suggest_float("mlp_alpha", 1e-5, 1e-1, log=True),
        "learning_rate_init": t.suggest_float("mlp_learning_rate", 5e-4, 5e-2, log=True),
    }


def _mlp(task: str, p: Params, seed: int) -> Any:
    p = dict(p)
    p["hidden_layer_sizes"] = _LAYERS[str(p.get("hidden_layer_sizes", "64"))]
    cls = MLPClassifier if task == "classification" else MLPRegressor
    return cls(max_iter=1000, n_iter_no_change=20, random_state=seed, **p)


CLS, REG, CLU = "classification", "regression", "clustering"

_ENTRIES = [
    Algorithm(
        "linear_regression",
        frozenset({REG}),
        True,
        _linear,
        _no_space,
        description="ordinary least squares",
    ),
    Algorithm(
        "ridge",
        frozenset({REG}),
        True,
        lambda t, p, s: Ridge(**p),
        _ridge_space,
        description="L2-regularised linear regression",
        baseline={"ridge_alpha": 1.0},
    ),
    Algorithm(
        "lasso",
        frozenset({REG}),
        True,
        lambda t, p, s: Lasso(max_iter=20000, random_state=s, **p),
        _lasso_space,
        description="L1-regularised linear regression",
    ),
    Algorithm(
        "logistic_regression",
        frozenset({CLS}),
        True,
        lambda t, p, s: LogisticRegression(max_iter=5000, **p),
        _logistic_space,
        description="regularised logistic regression",
        baseline={"logistic_C": 1.0},
    ),
    Algorithm(
        "svm",
        frozenset({CLS, REG}),
        True,
        _svm,
        _svm_space,
        description="support vector machine (SVC/SVR), linear or RBF kernel",
        complexity=1,
    ),
    Algorithm(
        "kmeans",
        frozenset({CLU}),
        True,
        lambda t, p, s: KMeans(n_init=10, random_state=s, **p),
        _kmeans_space,
        description="k-means clustering",
    ),
    Algorithm(
        "random_forest",
        frozenset({CLS, REG}),
        False,
        _forest,
        _forest_space,
        description="random forest",
        complexity=2,
        baseline={
            "forest_n_estimators": 100,
            "forest_max_depth": 32,  # None, unbounded
            "forest_min_samples_leaf": 1,
            "forest_max_features": "sqrt",
        },
    ),
    Algorithm(
        "gradient_boosting",
        frozenset({CLS, REG}),
        False,
        _boosting,
        _boosting_space,
        description="histogram gradient boosting",
        complexity=3,
        baseline={
            "gb_learning_rate": 0.1,
            "gb_max_iter": 100,
            "gb_max_leaf_nodes": 31,
            "gb_l2_regularization": 1e-6,  # the space's floor; the library's default is 0
        },
    ),
    Algorithm(
        "mlp",
        frozenset({CLS, REG}),
        True,
        _mlp,
        _mlp_space,
        description="multi-layer perceptron",
        complexity=4,
    ),
]

ALGORITHMS: dict[str, Algorithm] = {a.name: a for a in _ENTRIES}

AUTO: dict[str, tuple[str, ...]] = {
    # the order auto tries them first in: the default baseline, then the cheaper tree
    # ensemble at its defaults, so that a tight time budget still sees one. On bench/automl.py's
    # generated tables (1,125 x 19, one core) a forest fits in 0.19 CPU s against boosting's
    # 0.44 for three classes, and in 0.43 against 0.15 for regression.
    CLS: ("logistic_regression", "random_forest", "gradient_boosting", "svm", "mlp"),
    REG: ("ridge", "gradient_boosting", "random_forest", "svm", "mlp"),
    CLU: ("kmeans",),
}


def resolve(name: str, task: str) -> list[Algorithm]:
    """The algorithms a request names: ``auto``, one name, ``pca+name``, or a comma list."""
    if name == "auto":
        return [ALGORITHMS[n] for n in AUTO[task]]
    found = []
    for part in (p.strip() for p in name.split(",")):
        pca = part.startswith("pca+")
        base = part[4:] if pca else part
        algo = ALGORITHMS.get(base)
        if algo is None:
            raise ValidationError(
                f"unknown algorithm {part!r}; choose from: auto, {', '.join(ALGORITHMS)} "
                "(any of them may be prefixed with 'pca+')"
            )
        if task not in algo.tasks:
            fits = [a.name for a in _ENTRIES if task in a.tasks]
            raise ValidationError(
                f"algorithm {base!r} does not do {task}; for {task} use: {', '.join(fits)}"
            )
        if pca:
            algo = Algorithm(
                f"pca+{algo.name}",
                algo.tasks,
                True,
                algo.build,
                algo.space,
                pca=True,
                description=f"PCA then {algo.description}",
                complexity=algo.complexity,
                baseline=algo.baseline,
            )
        found.append(algo)
    return found
