"""Training runs: what was asked, every trial, and how it ended.

A run is ``running`` from its start, and its trials are written as they finish (so
``modelbay runs`` shows a search in progress, and an interrupted search keeps what it
did); it ends ``succeeded`` (with the version it registered), ``failed`` (with why) or
``cancelled`` (interrupted: Ctrl-C, a stopped job), each with its trials.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from modelbay.errors import NotFoundError, ValidationError
from modelbay.registry.db import Database
from modelbay.registry.records import TrainingRun
from modelbay.registry.tables import TrainingRunRow, utcnow

__all__ = ["RUN_STATES", "RunLog"]

RUN_STATES = ("running", "succeeded", "failed", "cancelled")


def _record(row: TrainingRunRow) -> TrainingRun:
    return TrainingRun(
        id=row.id,
        dataset_id=row.dataset_id,
        model_name=row.model_name,
        status=row.status,
        config=row.config,
        trials=list(row.trials or []),
        result=dict(row.result or {}),
        error=row.error,
        version_id=row.version_id,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


class RunLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    def start(self, *, dataset_id: int | None, model_name: str, config: dict[str, Any]) -> int:
        with self._db.session() as s:
            row = TrainingRunRow(
                dataset_id=dataset_id,
                model_name=model_name,
                status="running",
                config=config,
                trials=[],
                result={},
                error="",
            )
            s.add(row)
            s.flush()
            return row.id

    def add_trial(self, run_id: int, trial: dict[str, Any]) -> None:
        """Append one finished trial to a running run (one short transaction a trial: a
        trial takes tens of milliseconds at least)."""
        with self._db.session() as s:
            row = s.get(TrainingRunRow, run_id)
            if row is None:
                raise NotFoundError(f"training run {run_id} does not exist")
            row.trials = [*(row.trials or []), trial]  # a new list: JSON columns track assignment

    def finish(
        self,
        run_id: int,
        *,
        status: str,
        trials: list[dict[str, Any]] | None = None,
        result: dict[str, Any] | None = None,
        error: str = "",
        version_id: int | None = None,
    ) -> None:
        """End a run as ``status``; ``trials=None`` keeps the trials recorded so far."""
        if status not in RUN_STATES[1:]:
            raise ValidationError(
                f"a run ends as one of {', '.join(RUN_STATES[1:])}, not {status!r}"
            )
        with self._db.session() as s:
            row = s.get(TrainingRunRow, run_id)
            if row is None:
                raise NotFoundError(f"training run {run_id} does not exist")
            row.status = status
            if trials is not None:
                row.trials = trials
            row.result = result or {}
            row.error = error
            row.version_id = version_id
            row.finished_at = utcnow()

    def get(self, run_id: int) -> TrainingRun:
        with self._db.session() as s:
            row = s.get(TrainingRunRow, run_id)
            if row is None:
                raise NotFoundError(f"training run {run_id} does not exist")
            return _record(row)

    def list(self, *, model_name: str | None = None) -> list[TrainingRun]:
        with self._db.session() as s:
            q = select(TrainingRunRow).order_by(TrainingRunRow.id)
            if model_name:
                q = q.where(TrainingRunRow.model_name == model_name)
            return [_record(r) for r in s.scalars(q)]
