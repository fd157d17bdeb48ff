"""Registry: datasets, models, immutable versions, aliases and runs over a sealed artifact store."""

from modelbay.registry.datasets import DatasetCatalog
from modelbay.registry.db import Database
from modelbay.registry.models import Draft, ModelCatalog
from modelbay.registry.predictor import Predictor
from modelbay.registry.records import Dataset, Model, ModelVersion, TrainingRun
from modelbay.registry.refs import ModelRef
from modelbay.registry.runs import RunLog
from modelbay.registry.store import ArtifactStore, LocalBlobStore, Sealer

__all__ = [
    "ArtifactStore",
    "Database",
    "Dataset",
    "DatasetCatalog",
    "Draft",
    "LocalBlobStore",
    "Model",
    "ModelCatalog",
    "ModelRef",
    "ModelVersion",
    "Predictor",
    "RunLog",
    "Sealer",
    "TrainingRun",
]
