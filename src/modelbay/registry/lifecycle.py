"""Archiving and deleting versions and models: the half of the model catalog that retires.

An archived version is kept (lineage, audit, reports over its logged requests) but never
served: resolution passes it by, aliases never point at it, servers refuse it. A deleted
version or model is gone with the artifacts nothing else refers to. Both are refused while
an alias or a deployment needs the version (see :mod:`modelbay.registry.usage`).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from modelbay.errors import ConflictError, ValidationError
from modelbay.registry import usage
from modelbay.registry.audit import AuditLog, actor
from modelbay.registry.db import Database, bump_generation
from modelbay.registry.records import ModelVersion
from modelbay.registry.refs import ModelRef
from modelbay.registry.tables import (
    AliasRow,
    ArchivedVersionRow,
    ModelRow,
    TrainingRunRow,
    VersionArtifactRow,
    VersionRow,
)

__all__ = ["VersionLifecycle"]


class VersionLifecycle:
    """``archive``, ``unarchive`` and ``delete`` of :class:`~modelbay.registry.models.ModelCatalog`,
    over the catalog's database, audit log and lookups."""

    _db: Database
    _audit: AuditLog

    def _model_row(self, s: Session, name: str) -> ModelRow:
        raise NotImplementedError  # the catalog's: NotFoundError naming the models there are

    def get(self, ref: str | ModelRef) -> ModelVersion:
        raise NotImplementedError

    def _discard(self, *digests: str) -> int:
        raise NotImplementedError

    def _version_row(
        self, s: Session, ref: str | ModelRef, doing: str
    ) -> tuple[ModelRow, VersionRow]:
        r = ModelRef.parse(ref)
        if r.version is None:
            raise ValidationError(
                f"{doing} names one version by number, like '{r.name}:1' (not {str(r)!r})"
            )
        model = self._model_row(s, r.name)
        row = s.scalars(
            select(VersionRow).where(
                VersionRow.model_id == model.id, VersionRow.version == r.version
            )
        ).first()
        if row is None:
            self.get(r)  # raises with the versions there are
        assert row is not None
        return model, row

    @staticmethod
    def _refuse_if_needed(s: Session, model: ModelRow, row: VersionRow, doing: str) -> None:
        needs = usage.version_needs(s, model.name, row)
        if not needs:
            return
        hints = []
        if any(n.startswith("alias ") for n in needs):
            hints.append(
                f"move the alias to another version (`modelbay alias set {model.name} ALIAS N`)"
            )
        if any(n.startswith("deployment ") for n in needs):
            hints.append(
                f"point the deployment at another version (`modelbay deploy NAME --model "
                f"{model.name}:N`) or undeploy it"
            )
        raise ConflictError(
            f"cannot {doing} {model.name}:{row.version}: {', '.join(needs)} need"
            f"{'s' if len(needs) == 1 else ''} it; {', or '.join(hints)}"
        )

    def archive(self, ref: str | ModelRef) -> ModelVersion:
        """Keep a version for lineage and audit, never to be served again (``name:N``).

        Refused while an alias points at it or a deployment serves it."""
        with self._audit.action("version.archive", str(ref)), self._db.session() as s:
            model, row = self._version_row(s, ref, "archive")
            self._refuse_if_needed(s, model, row, "archive")
            if s.get(ArchivedVersionRow, row.id) is None:
                s.add(ArchivedVersionRow(version_id=row.id, actor=actor()[:160]))
            bump_generation(s)
        return self.get(ref)

    def unarchive(self, ref: str | ModelRef) -> ModelVersion:
        """Make an archived version servable again (a version not archived stays as it is)."""
        with self._audit.action("version.unarchive", str(ref)), self._db.session() as s:
            _, row = self._version_row(s, ref, "unarchive")
            mark = s.get(ArchivedVersionRow, row.id)
            if mark is not None:
                s.delete(mark)
            bump_generation(s)
        return self.get(ref)

    def delete(self, ref: str | ModelRef) -> int:
        """Delete one version (``wine:2``) or a model with all its versions (``wine``), and
        the artifacts nothing else refers to; returns how many artifacts were freed.

        A version is refused while an alias or a deployment needs it, a model while any
        deployment serves it. Training runs that made a deleted version keep their record
        (without the link). Call it when no registration of the same content is in flight:
        a blob is shared by content, and is freed once no row refers to it."""
        r = ModelRef.parse(ref)
        if r.alias is not None:
            raise ValidationError(
                f"delete a version ('{r.name}:1') or a whole model ('{r.name}'), not an alias "
                f"reference; to remove the alias use `modelbay alias delete {r.name} {r.alias}`"
            )
        action = "model.delete" if r.version is None else "version.delete"
        with self._audit.action(action, str(r)) as note:
            with self._db.session() as s:
                if r.version is None:
                    model = self._model_row(s, r.name)
                    users = usage.model_deployments(s, r.name)
                    if users:
                        raise ConflictError(
                            f"cannot delete model {r.name!r}: deployment {', '.join(users)} "
                            f"serve{'s' if len(users) == 1 else ''} it; undeploy first"
                        )
                    rows = list(
                        s.scalars(select(VersionRow).where(VersionRow.model_id == model.id))
                    )
                    for a in s.scalars(select(AliasRow).where(AliasRow.model_id == model.id)):
                        s.delete(a)
                else:
                    model, row = self._version_row(s, r, "delete")
                    self._refuse_if_needed(s, model, row, "delete")
                    rows = [row]
                digests = self._delete_versions(s, rows)
                if r.version is None:
                    s.delete(model)
                bump_generation(s)
            freed = self._discard(*digests)
            note["detail"] = (
                f"versions {', '.join(str(v.version) for v in rows) or 'none'}; "
                f"{freed} artifact(s) freed"
            )
        return freed

    @staticmethod
    def _delete_versions(s: Session, rows: list[VersionRow]) -> set[str]:
        """Delete version rows with their artifacts rows and marks; the digests they held."""
        ids = [r.id for r in rows]
        if not ids:
            return set()
        digests = {r.artifact_digest for r in rows}
        s.execute(
            update(TrainingRunRow).where(TrainingRunRow.version_id.in_(ids)).values(version_id=None)
        )
        for extra in s.scalars(
            select(VersionArtifactRow).where(VersionArtifactRow.version_id.in_(ids))
        ):
            digests.add(extra.digest)
            s.delete(extra)
        for mark in s.scalars(
            select(ArchivedVersionRow).where(ArchivedVersionRow.version_id.in_(ids))
        ):
            s.delete(mark)
        s.flush()
        for r in rows:
            s.delete(r)
        s.flush()
        return digests
