"""The data plane: protocol-free inference calls that the REST and gRPC faces share."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, cast

import numpy as np
import pandas as pd

from modelbay.data.signature import Signature
from modelbay.errors import LimitExceeded, SchemaError
from modelbay.registry.records import ModelVersion
from modelbay.serve.batcher import BatchInfo
from modelbay.serve.codec import (
    InferRequest,
    Tensor,
    graph_output_tensors,
    output_tensors,
    rows_from_tensors,
)
from modelbay.serve.manager import DeploymentManager, Served
from modelbay.serve.params import flag
from modelbay.serve.runtimes import Outputs, Rows

__all__ = ["DataPlane", "PlaneHooks", "Prediction"]

_KIND_DATATYPE = {"numeric": "FP64", "boolean": "BOOL"}
_PLATFORMS = {"onnx": "onnxruntime_onnx", "sklearn": "sklearn", "transformers": "transformers"}
PARALLEL_DECODE_ROWS = 2_000
_NOTHING: dict[str, dict[str, int]] = {}  # shared, never written: no novelty found


@dataclass
class Prediction:
    served: Served
    outputs: Outputs
    batch: BatchInfo
    request_id: str = ""
    rows: Rows | None = None  # the validated rows the model saw
    # values training never saw, by kind and column (data.unseen): {} when none
    novel: dict[str, dict[str, int]] = field(default_factory=dict)


class PlaneHooks:
    """What the data plane tells an observer (metrics, the prediction log); no-ops here.

    ``begin`` is called when a request for ``name`` starts; ``end`` when it is answered
    (``prediction``) or failed (``error``), with ``seconds`` spent in the data plane.
    Hooks run on the event loop: they must not block.
    """

    def begin(self, name: str) -> None:
        return None

    def end(
        self,
        name: str,
        prediction: Prediction | None,
        error: BaseException | None,
        seconds: float,
    ) -> None:
        return None


def _version() -> str:
    try:
        return metadata.version("modelbay")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"


class DataPlane:
    def __init__(
        self,
        manager: DeploymentManager,
        *,
        max_rows: int = 100_000,
        max_elements: int = 10_000_000,
        max_text_inputs: int = 2048,
        max_text_chars: int = 100_000,
        hooks: PlaneHooks | None = None,
    ) -> None:
        self.max_text_inputs = max_text_inputs
        self.max_text_chars = max_text_chars
        self.manager = manager
        self.hooks = hooks or PlaneHooks()
        self.max_rows = max_rows
        self.max_elements = max_elements
        self._id_prefix = secrets.token_hex(4)  # request ids: unique per process, cheap to make
        self._ids = itertools.count(1)

    # -- health and metadata -------------------------------------------------------------
    def server_metadata(self) -> dict[str, Any]:
        return {"name": "modelbay", "version": _version(), "extensions": ["binary_tensor_data"]}

    async def ready(self) -> bool:
        try:
            await asyncio.to_thread(self.manager.db.generation)
        except Exception:
            return False
        return True

    async def model_ready(self, name: str, version: int | None = None) -> bool:
        served = await self.manager.get(name, version)
        return served.runtime.loaded

    async def model_metadata(self, name: str, version: int | None = None) -> dict[str, Any]:
        served = await self.manager.get(name, version)
        v = served.version
        out = v.signature.output
        if v.signature.tensor_inputs:
            inputs, outputs = _graph_metadata(v.signature)
        else:
            inputs, outputs = _table_metadata(v.signature)
        versions = [
            str(x.version) for x in await asyncio.to_thread(self.manager.models.versions, v.model)
        ]
        return {
            "name": name,
            "versions": versions,
            "platform": _PLATFORMS.get(served.runtime.name, served.runtime.name),
            "inputs": inputs,
            "outputs": outputs,
            "parameters": {
                "model": v.ref,
                "served_version": str(v.version),
                "runtime": served.runtime.name,
                "runtime_reason": _runtime_reason(v, served.runtime.name),
                "engine": served.runtime.engine,
                "task": v.task,
                "target": out.name,
                "classes": ",".join(str(c) for c in out.classes or []),
                "max_batch": served.deployment.max_batch,
                "max_wait_ms": served.deployment.max_wait_ms,
            },
        }

    # -- inference -----------------------------------------------------------------------
    async def predict_frame(
        self,
        name: str,
        rows: Any,
        *,
        version: int | None = None,
        proba: bool = False,
        request_id: str | None = None,
        validated: bool = False,
    ) -> Prediction:
        """Validate rows (DataFrame, records, or tensors) and predict through the batcher.

        ``validated``: the caller has checked the rows already (texts, by :meth:`embed`).
        """
        started = time.perf_counter()
        self.hooks.begin(name)
        try:
            result = await self._predict(name, rows, version, proba, validated)
        except BaseException as exc:
            self.hooks.end(name, None, exc, time.perf_counter() - started)
            raise
        result.request_id = request_id or self.new_request_id()
        self.hooks.end(name, result, None, time.perf_counter() - started)
        return result

    def new_request_id(self) -> str:
        return f"{self._id_prefix}-{next(self._ids):x}"

    async def _predict(
        self, name: str, rows: Any, version: int | None, proba: bool, validated: bool = False
    ) -> Prediction:
        served = await self.manager.get(name, version)
        if proba and served.version.signature.tensor_inputs:
            proba = False  # an imported graph answers its own outputs (asked for by name)
        elif proba and served.version.task != "classification":
            raise SchemaError(
                f"{served.version.ref} is {_a(served.version.task)} model; "
                "probabilities come only from classifiers"
            )
        signature = served.version.signature
        tensors = isinstance(rows, list) and bool(rows) and isinstance(rows[0], Tensor)

        def decode() -> tuple[Rows, dict[str, dict[str, int]]]:
            if tensors:
                frame = rows_from_tensors(rows, signature)
            elif signature.all_numeric and isinstance(rows, list) and rows:
                block = signature.block_from_records(rows)
                frame = block if block is not None else signature.validate(rows)
            else:
                frame = signature.validate(rows)
            if isinstance(frame, np.ndarray) or not signature.novelty.active:
                return frame, _NOTHING  # numbers only: nothing a model could not have seen
            # a frame: Feeds come only from a graph, whose signature has no columns to check
            return frame, signature.novelty.count(cast(pd.DataFrame, frame))

        if validated:
            outputs, info = await served.batcher.submit(rows, proba=proba)
            return Prediction(served, outputs, info, rows=rows)
        size = rows[0].shape[0] if tensors and rows[0].shape else _length(rows)
        self._check_size(size, rows if tensors else [])
        # large bodies are checked off the event loop, small ones inline (cheaper than a hop)
        frame, novel = await asyncio.to_thread(decode) if size > PARALLEL_DECODE_ROWS else decode()
        outputs, info = await served.batcher.submit(frame, proba=proba)
        return Prediction(served, outputs, info, rows=frame, novel=novel)

    async def infer(
        self, name: str, request: InferRequest, version: int | None = None
    ) -> tuple[dict[str, Any], list[Tensor]]:
        params = request.parameters
        proba = "predict_proba" in request.outputs or (
            "probabilities" in params and flag("probabilities", params["probabilities"])
        )
        result = await self.predict_frame(
            name, request.inputs, version=version, proba=proba, request_id=request.id
        )
        signature = result.served.version.signature
        if signature.tensor_inputs:
            tensors = graph_output_tensors(result.outputs, request.outputs, signature)
        else:
            predict_name = "embedding" if result.served.version.task == "embeddings" else "predict"
            tensors = output_tensors(result.outputs, request.outputs, proba, predict_name)
        answered: dict[str, Any] = {  # the request's come back (a client sees what was read)
            **params,  # and ours win
            "batch_size": result.batch.rows,
            "batch_requests": result.batch.requests,
            "runtime": result.served.runtime.name,
        }
        if result.novel:  # values training never saw: unseen_categories.COLUMN: n, ...
            answered.update(_flat(result.novel))
        doc = {
            "model_name": name,
            "model_version": str(result.served.version.version),
            "id": result.request_id,
            "parameters": answered,
        }
        return doc, tensors

    async def embed(self, name: str, texts: list[str], *, task: str = "embeddings") -> Prediction:
        """Run texts through a text model (the OpenAI-style routes); ``task`` must match it."""
        if not texts:
            raise SchemaError("'input' is empty: send a string or a non-empty list of strings")
        if len(texts) > self.max_text_inputs:
            raise LimitExceeded(
                f"{len(texts)} inputs in one request is over the limit of {self.max_text_inputs}: "
                "split the request (MODELBAY_MAX_TEXT_INPUTS sets the limit)"
            )
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise SchemaError(
                    f"input[{i}] is {type(text).__name__}, not a string: send text "
                    "(token arrays are not taken)"
                )
            if not text.strip():
                raise SchemaError(f"input[{i}] is an empty string: there is nothing to embed")
            if len(text) > self.max_text_chars:
                raise LimitExceeded(
                    f"input[{i}] has {len(text)} characters, over the limit of "
                    f"{self.max_text_chars} (MODELBAY_MAX_TEXT_CHARS); split the text"
                )
        served = await self.manager.get(name)
        v = served.version
        if v.task != task:
            raise SchemaError(
                f"model {name!r} ({v.ref}) is {_a(v.task)} model, not {_a(task)} model"
                + (
                    f"; ask /v2/models/{name}/infer for its labels"
                    if v.task == "classification"
                    else ""
                )
            )
        # checked above: one column of non-empty strings, no DataFrame on this hot path
        column = np.asarray(texts, dtype=object).reshape(-1, 1)
        result = await self.predict_frame(name, column, validated=True)
        extra = result.outputs.extra or {}
        if not served.deployment.config.get("truncate", True) and extra["truncated"].any():
            first = int(extra["truncated"].argmax())
            raise LimitExceeded(
                f"input[{first}] is longer than the model's limit of "
                f"{v.signature.extra.get('max_tokens')} tokens, and deployment {name!r} refuses "
                "long inputs (deploy with truncation on to cut them instead)"
            )
        return result

    def _check_size(self, size: int, tensors: list[Tensor]) -> None:
        if size > self.max_rows:
            raise LimitExceeded(
                f"{size} rows in one request is over the limit of {self.max_rows}: "
                "split the request (MODELBAY_MAX_ROWS sets the limit)"
            )
        for t in tensors:
            if t.data.size > self.max_elements:
                raise LimitExceeded(
                    f"input {t.name!r} has {t.data.size} elements, over the limit of "
                    f"{self.max_elements} (MODELBAY_MAX_TENSOR_ELEMENTS)"
                )


def _flat(novel: dict[str, dict[str, int]]) -> dict[str, int]:
    """``{"unseen_categories": {"plan": 2}}`` as ``{"unseen_categories.plan": 2}``: a v2
    parameter holds a bool, a number or a string (the REST spec's ``$parameter``, gRPC's
    ``InferParameter``), not an object."""
    return {
        f"{kind}.{column}": n for kind, columns in novel.items() for column, n in columns.items()
    }


def _runtime_reason(version: ModelVersion, runtime: str) -> str:
    """Why ``runtime`` serves ``version``: the version's own reason, or the deployment's choice."""
    if runtime == version.runtime:
        return version.runtime_reason
    return f"the deployment asks for {runtime} (the version alone: {version.runtime})"


def _a(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def _length(rows: Any) -> int:
    if isinstance(rows, pd.DataFrame):
        return len(rows)
    return len(rows) if isinstance(rows, list) else 1


Metadata = list[dict[str, Any]]


def _table_metadata(signature: Signature) -> tuple[Metadata, Metadata]:
    """A table's v2 tensors: a column each in, ``predict`` (and probabilities) out."""
    out = signature.output
    outputs: Metadata = [
        {"name": "predict", "datatype": _label_datatype(out.task, out.classes), "shape": [-1]}
    ]
    if out.task == "embeddings":
        dim = int(signature.extra.get("dim", -1))
        outputs = [{"name": "embedding", "datatype": "FP32", "shape": [-1, dim]}]
    if out.task == "classification":
        outputs.append(
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(out.classes or [])]}
        )
    inputs = [
        {"name": c.name, "datatype": _KIND_DATATYPE.get(c.kind, "BYTES"), "shape": [-1]}
        for c in signature.inputs
    ]
    return inputs, outputs


def _graph_metadata(signature: Signature) -> tuple[Metadata, Metadata]:
    """An imported graph's v2 tensors: its own, and ``predict`` when its task derives one."""
    inputs = [
        {"name": t.name, "datatype": t.datatype, "shape": t.shape} for t in signature.tensor_inputs
    ]
    outputs = [
        {"name": t.name, "datatype": t.datatype, "shape": t.shape} for t in signature.tensor_outputs
    ]
    out = signature.output
    if out.task in ("classification", "regression") and "predict" not in {
        t.name for t in signature.tensor_outputs
    }:
        outputs.append(
            {"name": "predict", "datatype": _label_datatype(out.task, out.classes), "shape": [-1]}
        )
    return inputs, outputs


def _label_datatype(task: str, classes: list[Any] | None) -> str:
    if task == "regression":
        return "FP64"
    if task == "clustering":
        return "INT64"
    if classes and all(isinstance(c, bool) for c in classes):
        return "BOOL"
    if classes and all(isinstance(c, int) for c in classes):
        return "INT64"
    return "BYTES"
