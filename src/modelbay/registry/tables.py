"""SQLAlchemy tables of the registry. Alembic migrations under ``migrations/`` create them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from modelbay.errors import ConflictError

__all__ = [
    "AlertEventRow",
    "AlertRuleRow",
    "AliasRow",
    "ApiKeyRow",
    "ArchivedVersionRow",
    "AuditRow",
    "Base",
    "DatasetNameRow",
    "DatasetRow",
    "DeploymentRow",
    "DriftRow",
    "FeedbackRow",
    "GenerationRow",
    "KeyUsageRow",
    "MetaRow",
    "ModelRow",
    "PredictionBatchRow",
    "TrainingRunRow",
    "VersionArtifactRow",
    "VersionRow",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UTCDateTime}


class MetaRow(Base):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class DatasetRow(Base):
    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    artifact_digest: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(32))
    n_rows: Mapped[int] = mapped_column(Integer)
    n_columns: Mapped[int] = mapped_column(Integer)
    schema: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DatasetNameRow(Base):
    """One name of a dataset. A dataset (one content fingerprint) carries every name it was
    added under; a name may also be on several datasets (then it alone is ambiguous)."""

    __tablename__ = "dataset_names"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelRow(Base):
    __tablename__ = "models"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # the highest version number ever given: a deleted version's number is never reused
    top_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class VersionRow(Base):
    """One immutable model version. Updates are refused here and by a database trigger."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version", name="uq_model_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="RESTRICT"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    task: Mapped[str] = mapped_column(String(32))
    flavor: Mapped[str] = mapped_column(String(32))
    algorithm: Mapped[str] = mapped_column(String(64))
    artifact_digest: Mapped[str] = mapped_column(String(64))
    artifact_format: Mapped[str] = mapped_column(String(32))
    artifact_size: Mapped[int] = mapped_column(Integer)
    signature: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    lineage: Mapped[dict[str, Any]] = mapped_column(JSON)
    reference_stats: Mapped[dict[str, Any]] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    serving: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")


class VersionArtifactRow(Base):
    """A further artifact of a version, by role (``onnx``: the compiled graph)."""

    __tablename__ = "version_artifacts"
    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="RESTRICT"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), index=True)
    format: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    info: Mapped[dict[str, Any]] = mapped_column(JSON)


class DeploymentRow(Base):
    __tablename__ = "deployments"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    max_batch: Mapped[int] = mapped_column(Integer)
    max_wait_ms: Mapped[float] = mapped_column(Float)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GenerationRow(Base):
    """One counter, bumped by every change a server must notice; servers poll it."""

    __tablename__ = "generation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger)


@event.listens_for(VersionRow, "before_update")
@event.listens_for(VersionArtifactRow, "before_update")
def _refuse_version_update(*_: Any) -> None:
    raise ConflictError("model versions are immutable: register a new version instead")


class ArchivedVersionRow(Base):
    """A version kept for lineage and audit, never served (versions themselves are immutable,
    so the mark is a row of its own)."""

    __tablename__ = "archived_versions"
    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    archived_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(160))


class AliasRow(Base):
    __tablename__ = "aliases"
    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="RESTRICT"), index=True
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrainingRunRow(Base):
    __tablename__ = "training_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id"), index=True)
    model_name: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    trials: Mapped[list[Any]] = mapped_column(JSON, default=list)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiKeyRow(Base):
    """An API key: only a keyed hash (HMAC-SHA256) of the secret is kept."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    hash: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[Any]] = mapped_column(JSON)
    models: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    burst: Mapped[int | None] = mapped_column(Integer, nullable=True)
    quota: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    quota_period: Mapped[str] = mapped_column(String(8), default="month")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class KeyUsageRow(Base):
    """Requests a key made in one period (``2026-11`` or ``2026-11-23``)."""

    __tablename__ = "key_usage"
    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class AuditRow(Base):
    """One management action: who, when, what, on what, and how it ended."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(160))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(300))
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")


class PredictionBatchRow(Base):
    """Logged inference requests of one deployment and version, flushed together: one row
    per flush, a column per field (a database row per request cost the writer 4-9 us of a
    request's time; this costs about 1.5). ``monitor.predlog.logged`` reads them back
    as requests.

    The per-request fields are arrays: ``request_ids`` and ``actors`` as JSON lists, ``at``
    (POSIX seconds), ``latency_ms``, ``rows`` (rows in the request) and ``logged`` (rows
    kept of it) as little-endian float64 / int64 bytes. The logged rows and outputs of all
    the requests follow one another, split by ``logged``: ``inputs_f64`` (a float64 block,
    numeric models) or ``inputs`` (JSON rows of values), and ``outputs`` (JSON)."""

    __tablename__ = "prediction_batches"
    __table_args__ = (Index("ix_prediction_batches_window", "deployment", "last_at"),)
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    deployment: Mapped[str] = mapped_column(String(128))
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    entries: Mapped[int] = mapped_column(Integer)
    request_ids: Mapped[str] = mapped_column(Text)
    actors: Mapped[str] = mapped_column(Text)
    at: Mapped[bytes] = mapped_column(LargeBinary)
    latency_ms: Mapped[bytes] = mapped_column(LargeBinary)
    rows: Mapped[bytes] = mapped_column(LargeBinary)
    logged: Mapped[bytes] = mapped_column(LargeBinary)
    inputs: Mapped[str | None] = mapped_column(Text, nullable=True)
    inputs_f64: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    outputs: Mapped[str] = mapped_column(Text)


class FeedbackRow(Base):
    """Ground truth for a logged request, by request id (one per request; later wins)."""

    __tablename__ = "feedback"
    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    truth: Mapped[list[Any]] = mapped_column(JSON)


class DriftRow(Base):
    """One drift statistic for one feature of a deployment over one window."""

    __tablename__ = "drift_results"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    deployment: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(Integer)
    window_s: Mapped[float] = mapped_column(Float)
    feature: Mapped[str] = mapped_column(String(200))
    test: Mapped[str] = mapped_column(String(16))
    statistic: Mapped[float] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    n_ref: Mapped[int] = mapped_column(Integer)
    n_cur: Mapped[int] = mapped_column(Integer)
    drifted: Mapped[bool] = mapped_column(Boolean)


class AlertRuleRow(Base):
    """A rule over a metric of a deployment, and where it stands."""

    __tablename__ = "alert_rules"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    deployment: Mapped[str] = mapped_column(String(128))
    metric: Mapped[str] = mapped_column(String(128))
    op: Mapped[str] = mapped_column(String(4))
    threshold: Mapped[float] = mapped_column(Float)
    window_s: Mapped[float] = mapped_column(Float)
    for_s: Mapped[float] = mapped_column(Float)
    webhook: Mapped[str] = mapped_column(Text, default="")
    secret: Mapped[str] = mapped_column(String(128), default="")
    state: Mapped[str] = mapped_column(String(16), default="ok")  # ok | pending | firing
    since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertEventRow(Base):
    """A rule that started firing or was resolved, and whether its webhook got it."""

    __tablename__ = "alert_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(128), index=True)
    state: Mapped[str] = mapped_column(String(16))
    value: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str] = mapped_column(Text, default="")
