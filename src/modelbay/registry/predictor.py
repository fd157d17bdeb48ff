"""An in-process predictor over a loaded version: validates rows, then predicts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelbay.artifacts.inputs import model_input
from modelbay.errors import ValidationError
from modelbay.registry.records import ModelVersion

__all__ = ["Predictor"]


class Predictor:
    """``predict(rows)`` and ``predict_proba(rows)`` with the version's signature enforced.

    ``rows`` may be a DataFrame, a list of dicts, a dict, or a 2-D array in the
    signature's column order.
    """

    def __init__(self, version: ModelVersion, model: Any) -> None:
        self.version = version
        self.model = model
        self.signature = version.signature

    def __repr__(self) -> str:
        return f"Predictor({self.version.ref}, {self.version.algorithm})"

    def validate(self, rows: Any, *, allow_extra: bool = False) -> pd.DataFrame:
        """Rows as the model takes them; ``allow_extra`` drops columns it does not know."""
        return self.signature.validate(rows, allow_extra=allow_extra)

    def predict(self, rows: Any, *, allow_extra: bool = False) -> np.ndarray:
        x = model_input(
            self.model, self.validate(rows, allow_extra=allow_extra), self.signature.names
        )
        return np.asarray(self.model.predict(x))

    def predict_proba(self, rows: Any, *, allow_extra: bool = False) -> pd.DataFrame:
        if self.version.task != "classification" or not hasattr(self.model, "predict_proba"):
            raise ValidationError(
                f"{self.version.ref} is a {self.version.task} model; only classifiers give probabilities"
            )
        x = model_input(
            self.model, self.validate(rows, allow_extra=allow_extra), self.signature.names
        )
        proba = self.model.predict_proba(x)
        return pd.DataFrame(proba, columns=[str(c) for c in self.model.classes_])
