"""Runtimes: one small contract (load, warm up, predict, unload) over each way to run a model.

``SklearnRuntime`` runs the skops artifact; ``OnnxRuntime`` runs the compiled graph a
version carries when it passed its parity check; ``GraphRuntime`` runs an ONNX file
imported as it is (its own tensors in and out). :func:`runtime_for` picks, and the
choice is visible in the version's ``serving`` metadata.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import numpy as np
import pandas as pd

from modelbay.artifacts.inputs import model_input
from modelbay.data.tensors import Feeds, synthetic_feeds
from modelbay.errors import ModelbayError, SchemaError, ValidationError
from modelbay.registry.models import ModelCatalog
from modelbay.registry.records import ModelVersion
from modelbay.settings import usable_cpus

__all__ = [
    "RUNTIMES",
    "GraphRuntime",
    "OnnxRuntime",
    "Outputs",
    "Rows",
    "Runtime",
    "SklearnRuntime",
    "TextRuntime",
    "runtime_for",
    "texts_of",
]


# a float64 block for all-numeric signatures, a graph's input arrays (Feeds), else a frame
Table = np.ndarray | pd.DataFrame
Rows = Table | Feeds


@dataclass
class Outputs:
    predict: np.ndarray  # labels, values or cluster ids, shape (n,); embeddings (n, dim)
    proba: np.ndarray | None = None  # (n, classes), in the signature's class order
    # per-row facts, e.g. text models' tokens; an imported graph's outputs, by name
    extra: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return int(self.predict.shape[0])

    def slice(self, start: int, stop: int) -> Outputs:
        proba = self.proba[start:stop] if self.proba is not None else None
        extra = {k: v[start:stop] for k, v in self.extra.items()} if self.extra else None
        return Outputs(self.predict[start:stop], proba, extra)


class Runtime(ABC):
    """Load a version's artifact, warm it up, predict on validated rows, unload."""

    name: ClassVar[str]
    concurrency: int = 64  # model calls that may run at once (threads allowing)
    # whether a short call may run on the event loop (see Batcher): a call's time must grow
    # with its rows, as a tabular model's does; a text model's grows with its tokens
    inline: ClassVar[bool] = True

    def __init__(self, version: ModelVersion, *, cpus: int | None = None) -> None:
        self.version = version
        self.cpus = cpus or usable_cpus()  # what this process may use for its models
        self.loaded = False

    @property
    def size_bytes(self) -> int:
        return int(self.version.artifact_size)

    @property
    def engine(self) -> str:
        """What runs the model inside this runtime (a text model: torch, onnx, torch-bfloat16)."""
        return self.name

    @abstractmethod
    def load(self, models: ModelCatalog) -> Runtime: ...

    @abstractmethod
    def predict(self, rows: Rows, *, proba: bool = False) -> Outputs: ...

    def warmup(self) -> None:
        """Run one prediction on a typical row, so the first request is not the slow one."""
        self.predict(typical_row(self.version), proba=self.version.task == "classification")

    def unload(self) -> None:
        self.loaded = False

    def _check_loaded(self) -> None:
        if not self.loaded:
            raise ModelbayError(f"runtime for {self.version.ref} is not loaded")


def typical_row(version: ModelVersion) -> pd.DataFrame:
    """A row of medians and most frequent values from the version's reference statistics."""
    stats = version.reference_stats.get("features", {})
    row: dict[str, Any] = {}
    for col in version.signature.inputs:
        s = stats.get(col.name, {})
        if col.kind == "numeric":
            row[col.name] = float(s.get("quantiles", {}).get("0.5", 0.0))
        elif s.get("frequencies"):
            row[col.name] = next(iter(s["frequencies"]))
        else:
            row[col.name] = "" if col.kind == "text" else None
    return version.signature.validate([row])


class SklearnRuntime(Runtime):
    name = "sklearn"

    def load(self, models: ModelCatalog) -> SklearnRuntime:
        self.model_ = models.load_object(self.version)
        self.loaded = True
        return self

    def predict(self, rows: Rows, *, proba: bool = False) -> Outputs:
        self._check_loaded()
        # a table's rows (an imported graph's Feeds go to GraphRuntime): no check, a cast
        rows = model_input(self.model_, cast(Table, rows), self.version.signature.names)
        labels = np.asarray(self.model_.predict(rows))
        probabilities = None
        if proba and self.version.task == "classification":
            probabilities = np.asarray(self.model_.predict_proba(rows), dtype=np.float64)
        return Outputs(labels, probabilities)

    def unload(self) -> None:
        self.model_ = None
        super().unload()


class _OrtRuntime(Runtime):
    """What both ONNX Runtime runtimes share: the thread count and how a session is made."""

    def __init__(
        self, version: ModelVersion, *, threads: int | None = None, cpus: int | None = None
    ) -> None:
        super().__init__(version, cpus=cpus)
        self.threads = threads

    def _session(self, data: bytes) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads or max(1, self.cpus // 2)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


class OnnxRuntime(_OrtRuntime):
    """ONNX Runtime on the compiled graph: one float32 tensor in, labels (+ probabilities) out."""

    name = "onnx"

    @property
    def size_bytes(self) -> int:
        return int(self.version.artifacts["onnx"].size)

    def load(self, models: ModelCatalog) -> OnnxRuntime:
        self.session_ = self._session(models.load_object(self.version, "onnx"))
        outputs = [o.name for o in self.session_.get_outputs()]
        self.label_ = outputs[0]
        self.proba_ = (
            outputs[1] if self.version.task == "classification" and len(outputs) > 1 else None
        )
        self.loaded = True
        return self

    def predict(self, rows: Rows, *, proba: bool = False) -> Outputs:
        self._check_loaded()
        if isinstance(rows, np.ndarray):
            x = rows.astype(np.float32, copy=False)
        else:
            x = cast(pd.DataFrame, rows).to_numpy(dtype=np.float32)
        wanted = [self.label_] + ([self.proba_] if proba and self.proba_ else [])
        result = self.session_.run(wanted, {"input": x})
        labels = np.asarray(result[0]).ravel()
        if self.version.task == "regression":
            labels = labels.astype(np.float64)
        return Outputs(labels, np.asarray(result[1], dtype=np.float64) if len(result) > 1 else None)

    def unload(self) -> None:
        self.session_ = None
        super().unload()


class GraphRuntime(_OrtRuntime):
    """An ONNX graph imported as it is: its own inputs and outputs, of any rank and type.

    The rows are :class:`Feeds` (checked by ``data.tensors``); every output comes back in
    ``Outputs.extra`` by name. ``predict`` is what the version's task makes of the output
    the signature names: a classifier's label is the argmax over that output's last axis
    (logits or probabilities alike), mapped to the classes; a regressor's value is that
    output, one per row; any other graph's ``predict`` is that output as it is.
    """

    name = "onnx"

    def load(self, models: ModelCatalog) -> GraphRuntime:
        self.session_ = self._session(models.load_object(self.version))
        self.outputs_ = [o.name for o in self.session_.get_outputs()]
        classes = self.version.signature.output.classes
        self.classes_ = np.asarray(classes) if classes else None
        self.loaded = True
        return self

    def warmup(self) -> None:
        self.predict(synthetic_feeds(self.version.signature.tensor_inputs))

    def predict(self, rows: Rows, *, proba: bool = False) -> Outputs:
        self._check_loaded()
        if not isinstance(rows, Feeds):
            raise self.version.signature.not_tabular()
        try:
            results = self.session_.run(None, rows.arrays)
        except Exception as exc:  # ONNX Runtime's own types: the graph refused these inputs
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            raise SchemaError(
                f"the model could not run on these inputs ({type(exc).__name__}: {first})"
            ) from exc
        tensors = dict(zip(self.outputs_, (np.asarray(r) for r in results), strict=True))
        return Outputs(self._predicted(tensors), None, tensors)

    def _predicted(self, tensors: dict[str, np.ndarray]) -> np.ndarray:
        out = self.version.signature.output
        values = tensors[out.name]
        if out.task == "classification":
            index = np.argmax(values.reshape(len(values), -1), axis=1)
            return self.classes_[index] if self.classes_ is not None else index
        if out.task == "regression":
            return values.reshape(len(values)).astype(np.float64)
        return values

    def unload(self) -> None:
        self.session_ = None
        super().unload()


class TextRuntime(Runtime):
    """A transformer bundle (torch or ONNX Runtime inside): texts in, embeddings or labels out.

    torch runs one call at a time on every core (one OpenMP team, on the process's torch
    thread) while the batcher fills the next batch. ONNX Runtime runs one call per core,
    each on one thread: under a server's load a two-thread pool kept stalling on
    whichever of its threads the event loop had preempted. The encoder sorts each
    call's texts by token count so that padding stays small.
    """

    name = "transformers"
    concurrency = 1
    inline = False  # a batch of long texts can take 100x one of as many short ones

    def __init__(
        self, version: ModelVersion, *, threads: int | None = None, cpus: int | None = None
    ) -> None:
        super().__init__(version, cpus=cpus)
        self.threads = threads

    def load(self, models: ModelCatalog) -> TextRuntime:
        from modelbay.text.encoder import TextModel

        bundle = models.load_object(self.version)
        cores = self.cpus
        threads, self.concurrency = (1, cores) if bundle.manifest.engine == "onnx" else (cores, 1)
        self.model_ = TextModel(bundle, threads=self.threads or threads).load()
        self.loaded = True
        return self

    @property
    def engine(self) -> str:
        return self.model_.engine if self.loaded else ""

    def warmup(self) -> None:
        self.predict(pd.DataFrame({self.version.signature.names[0]: ["warm up"] * 8}))

    def predict(self, rows: Rows, *, proba: bool = False) -> Outputs:
        self._check_loaded()
        texts = texts_of(rows)
        result = self.model_.run(texts)
        extra = {"tokens": result.tokens, "truncated": result.truncated}
        if self.version.task == "embeddings":
            return Outputs(result.values, None, extra)
        classes = np.asarray(self.version.signature.output.classes or [], dtype=object)
        labels = classes[np.argmax(result.values, axis=1)]
        return Outputs(labels, result.values.astype(np.float64) if proba else None, extra)

    def unload(self) -> None:
        if getattr(self, "model_", None) is not None:
            self.model_.unload()
        super().unload()


def texts_of(rows: Rows) -> list[str]:
    """The text column of validated rows (a text model's signature has exactly one)."""
    if isinstance(rows, pd.DataFrame):
        return [str(v) for v in rows.iloc[:, 0].tolist()]
    return [v if isinstance(v, str) else str(v) for v in np.asarray(rows, dtype=object).ravel()]


RUNTIMES: dict[str, type[Runtime]] = {
    "sklearn": SklearnRuntime,
    "onnx": OnnxRuntime,
    "transformers": TextRuntime,
}


def runtime_for(
    version: ModelVersion, preferred: str | None = None, *, cpus: int | None = None
) -> Runtime:
    """The ONNX runtime when the version carries a graph that passed parity, else scikit-learn.

    ``preferred`` (a deployment's ``runtime`` setting) forces one where it is possible;
    ``cpus``: the CPUs this process may use for its models (default: every usable one).
    """
    if version.flavor == "transformers":
        if preferred not in (None, "transformers"):
            raise ValidationError(
                f"{version.ref} is a transformer model; it runs on the transformers runtime "
                "(its engine, torch or ONNX, is chosen by `modelbay optimize`)"
            )
        return TextRuntime(version, cpus=cpus)
    if version.flavor == "onnx":  # an imported graph: nothing else can run it
        if preferred not in (None, "onnx"):
            raise ValidationError(f"{version.ref} is an imported ONNX graph; it runs on onnx")
        return GraphRuntime(version, cpus=cpus)
    if preferred is not None and preferred not in RUNTIMES:
        raise ValidationError(f"runtime {preferred!r} is not one of: {', '.join(RUNTIMES)}")
    if preferred == "onnx" and "onnx" not in version.artifacts:
        reason = version.serving.get("reason", "it was not compiled")
        raise ValidationError(f"{version.ref} has no ONNX graph: {reason}")
    name = preferred or ("onnx" if "onnx" in version.artifacts else "sklearn")
    return RUNTIMES[name](version, cpus=cpus)
