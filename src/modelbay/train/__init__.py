"""Training: the algorithm catalogue, hyperparameter search, cross-validation and metrics."""

from modelbay.train.catalogue import ALGORITHMS, AUTO, Algorithm
from modelbay.train.metrics import METRICS, evaluate
from modelbay.train.trainer import Progress, TrainResult, TrainSpec, train_model

__all__ = [
    "ALGORITHMS",
    "AUTO",
    "METRICS",
    "Algorithm",
    "Progress",
    "TrainResult",
    "TrainSpec",
    "evaluate",
    "train_model",
]
