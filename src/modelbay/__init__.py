"""modelbay: self-hosted model as a service.

Everything here is importable from ``modelbay`` itself:

- :class:`Bay`: the core API over one modelbay home (datasets, training, the registry,
  optimisation, serving, API keys, monitoring); ``help(modelbay.Bay)`` lists its parts.
- :class:`Settings`: its configuration (``MODELBAY_*`` environment variables), read once.
- :class:`Registry`: a home without training, what a server opens.
- :class:`Client`: a thin HTTP client for a running ``modelbay serve``.
- What a Bay hands back: :class:`Dataset`, :class:`Model`, :class:`ModelVersion`,
  :class:`TrainingRun`, :class:`ModelRef` (a checked ``name``, ``name@alias`` or
  ``name:3``) and :class:`Predictor` (a loaded version, from ``Bay.load``).
- :class:`Preprocessing` (``Bay.train(preprocessing=...)``) and :class:`Progress` (what
  ``on_progress`` receives), loaded on first use: they import the training code.
- The errors: :class:`ModelbayError` and the family below it, each importable here too;
  :mod:`modelbay.errors` draws the tree.
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
