"""modelbay: self-hosted model as a service.

The public surface is small: :class:`Bay` is the core API, :class:`Settings` its
configuration, and the error family lives in :mod:`modelbay.errors`.
"""

import importlib
import typing

from modelbay.bay import Bay
from modelbay.client import Client
from modelbay.errors import (
    AccessError,
    ConfigError,
    ConflictError,
    DataError,
    DecryptionError,
    Forbidden,
    IntegrityError,
    LimitExceeded,
    ModelbayError,
    NotFoundError,
    RateLimited,
    SchemaError,
    StorageError,
    TrainingError,
    Unauthenticated,
    UnsafeArtifactError,
    ValidationError,
)
from modelbay.registry.home import Registry
from modelbay.registry.predictor import Predictor
from modelbay.registry.records import Dataset, Model, ModelVersion, TrainingRun
from modelbay.registry.refs import ModelRef
from modelbay.settings import Settings

if typing.TYPE_CHECKING:
    from modelbay.data.preprocess import Preprocessing
    from modelbay.train.trainer import Progress

__version__ = "0.1.0"

__all__ = [
    "AccessError",
    "Bay",
    "Client",
    "ConfigError",
    "ConflictError",
    "DataError",
    "Dataset",
    "DecryptionError",
    "Forbidden",
    "IntegrityError",
    "LimitExceeded",
    "Model",
    "ModelRef",
    "ModelVersion",
    "ModelbayError",
    "NotFoundError",
    "Predictor",
    "Preprocessing",
    "Progress",
    "RateLimited",
    "Registry",
    "SchemaError",
    "Settings",
    "StorageError",
    "TrainingError",
    "TrainingRun",
    "Unauthenticated",
    "UnsafeArtifactError",
    "ValidationError",
]


# names that load their module when first asked for: Progress lives with the training code,
# which a serving process never imports; Preprocessing imports scikit-learn (over a second),
# which `modelbay models list` and other registry commands do not need
_LAZY = {"Progress": "modelbay.train.trainer", "Preprocessing": "modelbay.data.preprocess"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'modelbay' has no attribute {name!r}")
