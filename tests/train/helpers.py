"""Register a ``TrainResult`` through the public ``models.register`` block."""

from __future__ import annotations

from modelbay import Bay, ModelVersion
from modelbay.train import TrainResult


def register_result(bay: Bay, name: str, result: TrainResult) -> ModelVersion:
    with bay.models.register(name) as draft:
        draft.task = result.task
        draft.algorithm = result.algorithm
        draft.signature = result.signature
        draft.metrics = {"cv": {result.metric: result.cv_score}, "holdout": result.holdout}
        draft.params = result.params
        draft.reference_stats = result.reference_stats
        draft.save_model(result.model)
    assert draft.version is not None
    return draft.version
