"""Deployments: named endpoints over model references, with batching settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from modelbay.errors import ConflictError, ModelbayError, NotFoundError, ValidationError
from modelbay.registry.audit import AuditLog
from modelbay.registry.db import Database, bump_generation
from modelbay.registry.records import DEFAULT_MAX_BATCH, Deployment, DeploymentState
from modelbay.registry.refs import ModelRef, check_name
from modelbay.registry.tables import AlertRuleRow, DeploymentRow, utcnow

if TYPE_CHECKING:
    from modelbay.registry.models import ModelCatalog

__all__ = ["MAX_BATCH_LIMIT", "DeploymentCatalog"]

MAX_BATCH_LIMIT = 100_000


def _record(row: DeploymentRow) -> Deployment:
    return Deployment(
        name=row.name,
        model=row.model,
        max_batch=row.max_batch,
        max_wait_ms=row.max_wait_ms,
        config=dict(row.config or {}),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def check_batching(max_batch: int, max_wait_ms: float) -> None:
    if not 1 <= int(max_batch) <= MAX_BATCH_LIMIT:
        raise ValidationError(f"max_batch must be between 1 and {MAX_BATCH_LIMIT} rows")
    if not 0 <= float(max_wait_ms) <= 10_000:
        raise ValidationError("max_wait_ms must be between 0 and 10000 milliseconds")


class DeploymentCatalog:
    def __init__(
        self, db: Database, audit: AuditLog | None = None, models: ModelCatalog | None = None
    ) -> None:
        self._db = db
        self._audit = audit or AuditLog(db)
        self._models = models  # when given, a deployment must resolve to a servable version

    def put(
        self,
        name: str,
        model: str,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_wait_ms: float = 2.0,
        config: dict[str, Any] | None = None,
    ) -> Deployment:
        """Create or edit a deployment; running servers pick the change up without a restart."""
        with self._audit.action("deploy", name) as note:
            d = self._put(name, model, max_batch, max_wait_ms, config)
            note["detail"] = f"{model}, max batch {d.max_batch}, max wait {d.max_wait_ms} ms"
            return d

    def _put(
        self,
        name: str,
        model: str,
        max_batch: int,
        max_wait_ms: float,
        config: dict[str, Any] | None,
    ) -> Deployment:
        check_name(name, "deployment name")
        ModelRef.parse(model)
        check_batching(max_batch, max_wait_ms)
        if self._models is not None:
            self._models.servable(model)  # refuses what does not resolve, or is archived
        with self._db.session() as s:
            row = s.get(DeploymentRow, name)
            if row is None:
                row = DeploymentRow(
                    name=name,
                    model=model,
                    max_batch=int(max_batch),
                    max_wait_ms=float(max_wait_ms),
                    config=dict(config or {}),
                )
                s.add(row)
            else:
                row.model = model
                row.max_batch = int(max_batch)
                row.max_wait_ms = float(max_wait_ms)
                row.config = dict(config or {})
                row.updated_at = utcnow()
            bump_generation(s)
            s.flush()
            return _record(row)

    def get(self, name: str) -> Deployment:
        with self._db.session() as s:
            row = s.get(DeploymentRow, name)
            if row is None:
                raise NotFoundError(f"deployment {name!r} does not exist")
            return _record(row)

    def find(self, name: str) -> Deployment | None:
        with self._db.session() as s:
            row = s.get(DeploymentRow, name)
            return _record(row) if row else None

    def delete(self, name: str, *, force: bool = False) -> list[str]:
        """Remove a deployment. Refused while alert rules watch it, unless ``force`` (the
        rules stay, and measure nothing until it is deployed again); returns those rules."""
        with self._audit.action("undeploy", name) as note, self._db.session() as s:
            row = s.get(DeploymentRow, name)
            if row is None:
                names = sorted(s.scalars(select(DeploymentRow.name)))
                raise NotFoundError(
                    f"deployment {name!r} does not exist",
                    names=names,
                    label="deployments",
                    empty="; deployments: none",
                )
            rules = sorted(
                s.scalars(select(AlertRuleRow.name).where(AlertRuleRow.deployment == name))
            )
            if rules and not force:
                raise ConflictError(
                    f"deployment {name!r} is watched by alert rule {', '.join(rules)}: delete "
                    f"{'it' if len(rules) == 1 else 'them'} first (`modelbay alerts delete "
                    f"{rules[0]}`) or force it (`--force`)"
                )
            s.delete(row)
            bump_generation(s)
            if rules:
                note["detail"] = f"forced: alert rules {', '.join(rules)} watch nothing now"
            return rules

    def states(self) -> list[DeploymentState]:
        """Every deployment with the version it serves now, or why it serves none (an
        alias removed with force, a version archived or deleted): broken ones are listed,
        never raised."""
        if self._models is None:
            raise ValidationError("deployment states need the registry's model catalog")
        out = []
        for d in self.list():
            try:
                out.append(DeploymentState(d, self._models.servable(d.model)))
            except ModelbayError as exc:
                out.append(DeploymentState(d, None, str(exc)))
        return out

    def list(self) -> list[Deployment]:
        with self._db.session() as s:
            return [
                _record(r) for r in s.scalars(select(DeploymentRow).order_by(DeploymentRow.name))
            ]
