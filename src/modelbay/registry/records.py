"""Plain, immutable records the registry hands out (never live ORM objects)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelbay.data.schema import TableSchema
from modelbay.data.signature import Signature

__all__ = [
    "DEFAULT_MAX_BATCH",
    "Artifact",
    "Dataset",
    "Deployment",
    "DeploymentState",
    "Model",
    "ModelVersion",
    "TrainingRun",
]

# Rows in one merged model call. Large enough that big requests merge too (a 1,000-row
# request used to go alone, one call each: the calls, not the rows, cost the event loop).
DEFAULT_MAX_BATCH = 4096


@dataclass(frozen=True)
class Dataset:
    id: int
    name: str
    fingerprint: str
    n_rows: int
    n_columns: int
    schema: TableSchema
    format: str
    source: str
    created_at: datetime
    artifact_digest: str = field(repr=False, default="")
    names: tuple[str, ...] = ()  # every name this content carries (``name`` is one of them)

    @property
    def ref(self) -> str:
        return f"{self.name}#{self.fingerprint[:12]}"

    def lineage_ref(self) -> dict[str, Any]:
        """How a model version's lineage names the dataset it was trained on."""
        return {"id": self.id, "name": self.name, "fingerprint": self.fingerprint}


@dataclass(frozen=True)
class Model:
    id: int
    name: str
    description: str
    created_at: datetime
    aliases: dict[str, int]  # alias -> version number
    latest_version: int | None


@dataclass(frozen=True)
class Artifact:
    role: str  # model | onnx | ...
    digest: str
    format: str
    size: int
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelVersion:
    id: int
    model: str
    version: int
    task: str
    flavor: str
    algorithm: str
    signature: Signature
    metrics: dict[str, Any]
    params: dict[str, Any]
    lineage: dict[str, Any]
    reference_stats: dict[str, Any] = field(repr=False)
    artifact_digest: str = field(repr=False)
    artifact_format: str = "skops"
    artifact_size: int = 0
    description: str = ""
    created_at: datetime | None = None
    aliases: tuple[str, ...] = ()
    artifacts: dict[str, Artifact] = field(default_factory=dict, repr=False)
    serving: dict[str, Any] = field(default_factory=dict)  # runtime chosen and why
    archived: bool = False  # kept for lineage and audit, never served

    @property
    def ref(self) -> str:
        return f"{self.model}:{self.version}"

    def lineage_ref(self) -> dict[str, Any]:
        """How a derived version's lineage names this one as its parent."""
        return {"model": self.model, "version": self.version, "id": self.id}

    @property
    def runtime(self) -> str:
        """The runtime that serves this version unless a deployment asks for another:
        onnx when it carries a graph that passed its parity check, else its flavor's own."""
        if self.flavor == "transformers":
            return "transformers"
        if "onnx" in self.artifacts:
            return "onnx"
        return str(self.serving.get("runtime") or "sklearn")

    @property
    def runtime_reason(self) -> str:
        """Why :attr:`runtime` serves it, in a line (what the registration recorded)."""
        return runtime_reason(self)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (without the reference statistics, which can be large)."""
        return {
            "ref": self.ref,
            "model": self.model,
            "version": self.version,
            "task": self.task,
            "algorithm": self.algorithm,
            "flavor": self.flavor,
            "aliases": list(self.aliases),
            "metrics": self.metrics,
            "params": self.params,
            "lineage": self.lineage,
            "signature": self.signature.to_dict(),
            "serving": self.serving,
            "runtime": {"name": self.runtime, "reason": self.runtime_reason},
            "artifacts": {
                role: {"sha256": a.digest, "format": a.format, "size": a.size}
                for role, a in self.artifacts.items()
            },
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "archived": self.archived,
        }


@dataclass(frozen=True)
class TrainingRun:
    id: int
    dataset_id: int | None
    model_name: str
    status: str  # running | succeeded | failed | cancelled
    config: dict[str, Any]
    trials: list[dict[str, Any]]
    result: dict[str, Any]
    error: str
    version_id: int | None
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class Deployment:
    """A named endpoint over a model reference, with its batching settings."""

    name: str
    model: str  # a reference: churn, churn@champion, churn:3
    max_batch: int = DEFAULT_MAX_BATCH
    max_wait_ms: float = 2.0
    config: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    explicit: bool = True  # False for the implicit one every model has under its own name


def runtime_reason(version: ModelVersion) -> str:
    """Why ``version.runtime`` serves it: a graph's parity numbers, else the recorded reason."""
    serving = version.serving
    if version.flavor == "transformers":
        engine = serving.get("engine", "torch")
        return f"a transformer bundle, run by {engine} ({serving.get('dtype', 'float32')})"
    if "onnx" in version.artifacts:
        parity = serving.get("parity") or version.artifacts["onnx"].info.get("parity") or {}
        if not parity:
            return "an ONNX graph (imported or compiled without a recorded check)"
        diffs = [
            f"max |\u0394p| {parity['max_proba_diff']:.1e}" if "max_proba_diff" in parity else "",
            f"max relative |\u0394| {parity['max_relative_diff']:.1e}"
            if "max_relative_diff" in parity
            else "",
        ]
        labels = "labels identical" if parity.get("label_agreement", 1.0) == 1.0 else ""
        facts = ", ".join(x for x in (labels, *diffs) if x)
        rows = parity.get("rows_checked")
        return f"parity check passed{f' on {rows} rows' if rows else ''}" + (
            f": {facts}" if facts else ""
        )
    reason = serving.get("reason")
    if reason:
        return str(reason)
    return "no ONNX graph was compiled for it (registered before modelbay recorded why)"


@dataclass(frozen=True)
class DeploymentState:
    """A deployment and what it serves now: ``version``, or ``problem`` when it is broken
    (its alias was removed with force, its version archived or deleted)."""

    deployment: Deployment
    version: ModelVersion | None
    problem: str | None = None

    @property
    def state(self) -> str:
        """``ok``, or ``broken: <why>``."""
        return "ok" if self.problem is None else f"broken: {self.problem}"


def file_lineage(data: bytes) -> dict[str, Any]:
    """The lineage of a version imported from a file: what it was, by digest and size."""
    return {
        "imported": {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)},
        "parent": None,
    }
