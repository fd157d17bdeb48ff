"""The audit log: every management action, who did it, on what, and how it ended.

The actor is a context variable: a server sets it to the calling key's name for the
duration of a request (it follows the request into worker threads); a local process
(the CLI, a notebook) is ``local:<user>``. Targets are names and versions only:
keys, secrets and payloads are never written here.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from modelbay.errors import ModelbayError, ValidationError
from modelbay.registry.db import Database
from modelbay.registry.tables import AuditRow

__all__ = ["ACTIONS", "AuditEntry", "AuditLog", "actor", "current_actor"]

# the actions the core records (a test keeps this list in step with the code); denied calls
# are recorded under their route ("POST /api/keys") or gRPC method ("grpc ModelInfer")
ACTIONS = (
    "alert.delete",
    "alert.put",
    "alias.delete",
    "alias.set",
    "dataset.delete",
    "deploy",
    "export",
    "import",
    "key.create",
    "key.revoke",
    "key.rotate",
    "model.delete",
    "optimize",
    "register",
    "train",
    "undeploy",
    "version.archive",
    "version.delete",
    "version.unarchive",
)


def _local_actor() -> str:
    try:
        return f"local:{getpass.getuser()}"
    except Exception:  # no user name in this environment (a container without passwd)
        return "local"


current_actor: ContextVar[str | None] = ContextVar("modelbay_actor", default=None)


def actor() -> str:
    """Who is acting now: the request's key name, else the local user."""
    return current_actor.get() or _local_actor()


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    outcome: str  # ok | error | denied
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "outcome": self.outcome,
            "detail": self.detail,
        }


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(row.id, row.at, row.actor, row.action, row.target, row.outcome, row.detail)


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(
        self,
        action: str,
        target: str,
        outcome: str = "ok",
        detail: str = "",
        who: str | None = None,
    ) -> None:
        with self._db.session() as s:
            s.add(
                AuditRow(
                    actor=(who or actor())[:160],
                    action=action[:64],
                    target=target[:300],
                    outcome=outcome,
                    detail=detail[:2000],
                )
            )

    @contextmanager
    def action(self, action: str, target: str) -> Iterator[dict[str, str]]:
        """Record ``action`` on ``target`` when the block ends: ``ok``, or ``error`` with why.

        The block may add a ``detail`` (``note["detail"] = "version 3"``).
        """
        note: dict[str, str] = {"detail": ""}
        try:
            yield note
        except ModelbayError as exc:
            self.record(action, target, "error", f"{type(exc).__name__}: {exc}")
            raise
        except BaseException as exc:
            self.record(action, target, "error", type(exc).__name__)
            raise
        self.record(action, target, "ok", note["detail"])

    def list(
        self,
        *,
        limit: int = 100,
        action: str | None = None,
        who: str | None = None,
        since: datetime | None = None,
    ) -> list[AuditEntry]:
        """Newest first. An ``action`` that is neither one the core records nor one in the
        log is refused, listing the known ones: a typo is not an empty log."""
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(max(1, min(limit, 10_000)))
        if action:
            self._check_action(action)
            query = query.where(AuditRow.action == action)
        if who:
            query = query.where(AuditRow.actor == who)
        if since is not None:
            query = query.where(AuditRow.at >= since)
        with self._db.session() as s:
            return [_entry(r) for r in s.scalars(query)]

    def actions(self) -> tuple[str, ...]:
        """Every action the core records, and any other the log holds (denied routes)."""
        with self._db.session() as s:
            logged = set(s.scalars(select(AuditRow.action).distinct()))
        return tuple(sorted(set(ACTIONS) | logged))

    def _check_action(self, action: str) -> None:
        if action in ACTIONS:
            return
        known = self.actions()
        if action not in known:
            raise ValidationError(f"no audit action {action!r}; actions are: {', '.join(known)}")
