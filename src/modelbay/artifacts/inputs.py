"""What a stored model takes in: the shared column names, and rows as an estimator wants them.

Training writes these names into artifacts and signatures; serving and the optimiser's
gates read them back, so both sides take them from here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["TEXT_COLUMN", "feature_names", "model_input"]

TEXT_COLUMN = "text"  # the one input column of every text model's signature


def feature_names(dim: int) -> list[str]:
    """Column names of pooled embeddings when a head learns on them: ``e0 .. e{dim-1}``."""
    return [f"e{i}" for i in range(dim)]


def model_input(model: Any, rows: pd.DataFrame | np.ndarray, names: list[str]) -> Any:
    """Rows as ``model`` wants them: a named frame if it was fitted on one (pipelines pick
    columns by name), else a bare array (a model fitted on arrays, e.g. an imported one)."""
    if getattr(model, "feature_names_in_", None) is not None:
        if isinstance(rows, np.ndarray):
            return pd.DataFrame(rows, columns=names, copy=False)
        return rows
    if isinstance(rows, pd.DataFrame) and hasattr(model, "n_features_in_"):
        return rows.to_numpy(dtype=np.float64)
    return rows
