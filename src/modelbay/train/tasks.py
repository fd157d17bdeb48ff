"""Which task a target asks for, and the checks a target must pass for it."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from modelbay.errors import TrainingError, ValidationError

__all__ = ["TASKS", "Task", "check_target", "infer_task"]

Task = Literal["classification", "regression", "clustering"]
TASKS: tuple[str, ...] = ("classification", "regression", "clustering")
MAX_CLASSES_GUESS = 20


def infer_task(y: pd.Series | None) -> Task:
    """Clustering without a target; classification for labels or few whole numbers."""
    if y is None:
        return "clustering"
    values = y.dropna()
    if pd.api.types.is_bool_dtype(values.dtype) or not pd.api.types.is_numeric_dtype(values.dtype):
        return "classification"
    whole = bool(np.all(np.mod(values.to_numpy(dtype="float64"), 1) == 0))
    if whole and values.nunique() <= MAX_CLASSES_GUESS:
        return "classification"
    return "regression"


def check_target(y: pd.Series, task: str) -> None:
    name = y.name
    if task not in TASKS:
        raise ValidationError(f"task {task!r} is not one of: {', '.join(TASKS)}")
    values = y.dropna()
    if values.empty:
        raise TrainingError(f"target column {name!r} has no values")
    if task == "regression":
        if pd.api.types.is_bool_dtype(values.dtype) or not pd.api.types.is_numeric_dtype(
            values.dtype
        ):
            example = values.iloc[0]
            raise TrainingError(
                f"target column {name!r} is not numeric (e.g. {example!r}); regression needs numbers "
                "(use task='classification' for labels)"
            )
        if values.nunique() < 2:
            raise TrainingError(f"target column {name!r} has a single value; nothing to learn")
    elif task == "classification":
        counts = values.astype(str).value_counts()
        if len(counts) < 2:
            raise TrainingError(
                f"target column {name!r} has a single class ({counts.index[0]!r}); need two or more"
            )
        if pd.api.types.is_float_dtype(values.dtype) and not np.all(np.mod(values, 1) == 0):
            raise TrainingError(
                f"target column {name!r} holds fractional numbers; use task='regression'"
            )
        if counts.iloc[-1] < 2:
            raise TrainingError(
                f"class {counts.index[-1]!r} of target {name!r} has only one row; "
                "every class needs at least two (drop or merge rare classes)"
            )
