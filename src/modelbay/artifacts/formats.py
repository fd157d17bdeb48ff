"""The serializer registry: how a model object becomes artifact bytes and back. Never pickle.

``skops`` is the format for scikit-learn models. Loading asks skops which types in
the file are not trusted by default and refuses the file unless every one of them
is on :data:`TRUSTED_TYPES` (scikit-learn internals and modelbay's own
transformers, reviewed by hand); nothing is deserialized before that check passes.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any, Protocol

from modelbay.artifacts.bundle import TextBundle
from modelbay.artifacts.pickles import sniff_pickle
from modelbay.errors import UnsafeArtifactError, ValidationError

__all__ = [
    "FORMATS",
    "TRUSTED_TYPES",
    "Format",
    "OnnxFormat",
    "SkopsFormat",
    "TextBundleFormat",
    "get_format",
]

TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        "modelbay.data.transformers.CategoricalCleaner",
        "modelbay.data.transformers.DatetimeFeatures",
        "modelbay.data.transformers.TextFeatures",
        "numpy.dtype",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        # skops trusts IterativeImputer itself only when sklearn's experimental switch was
        # imported before skops: trusted here, whatever a process imported first
        "sklearn.impute._iterative.IterativeImputer",
        "sklearn.impute._iterative._ImputerTriplet",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
        "sklearn._loss.loss.HalfSquaredError",
    }
)


class Format(Protocol):
    name: str

    def dumps(self, obj: Any) -> bytes: ...
    def loads(self, data: bytes) -> Any: ...


class SkopsFormat:
    name = "skops"

    def dumps(self, obj: Any) -> bytes:
        import skops.io as sio

        return sio.dumps(obj)

    def loads(self, data: bytes) -> Any:
        import skops.io as sio

        if sniff_pickle(data):
            raise UnsafeArtifactError("this is a pickle file; modelbay never loads pickles")
        if not zipfile.is_zipfile(io.BytesIO(data)):
            raise UnsafeArtifactError("this is not a skops file (not a zip archive)")
        try:
            untrusted = sio.get_untrusted_types(data=data)
        except Exception as exc:
            raise UnsafeArtifactError(f"this skops file cannot be inspected: {exc}") from exc
        refused = sorted(set(untrusted) - TRUSTED_TYPES)
        if refused:
            raise UnsafeArtifactError(
                f"the model file holds types that are not trusted for loading: {', '.join(refused)}"
            )
        return sio.loads(data, trusted=list(untrusted))


class OnnxFormat:
    """ONNX graphs are data, not code: stored and handed back as bytes for ONNX Runtime."""

    name = "onnx"

    def dumps(self, obj: Any) -> bytes:
        if isinstance(obj, bytes | bytearray):
            return bytes(obj)
        return bytes(obj.SerializeToString())

    def loads(self, data: bytes) -> Any:
        if sniff_pickle(data):
            raise UnsafeArtifactError("this is a pickle file, not an ONNX graph")
        return data


class TextBundleFormat:
    """A transformer directory (safetensors or ONNX weights, tokenizer, manifest) as one zip."""

    name = "hf"

    def dumps(self, obj: Any) -> bytes:
        if isinstance(obj, TextBundle):
            return obj.to_bytes()
        raise ValidationError(f"the hf format stores a TextBundle, not a {type(obj).__name__}")

    def loads(self, data: bytes) -> Any:
        return TextBundle.from_bytes(data)  # refuses pickles and files outside the bundle


FORMATS: dict[str, Format] = {
    "skops": SkopsFormat(),
    "onnx": OnnxFormat(),
    "hf": TextBundleFormat(),
}


def get_format(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValidationError(
            f"unknown artifact format {name!r}; known: {', '.join(FORMATS)}"
        ) from None
