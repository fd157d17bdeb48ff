"""Models, their immutable versions and movable aliases; atomic registration."""

from __future__ import annotations

import platform
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from modelbay.artifacts.formats import get_format
from modelbay.data.signature import Signature
from modelbay.errors import ConflictError, NotFoundError, ValidationError
from modelbay.registry import usage
from modelbay.registry.audit import AuditLog
from modelbay.registry.db import Database, bump_generation
from modelbay.registry.exports import write_archive, write_export
from modelbay.registry.lifecycle import VersionLifecycle
from modelbay.registry.records import Artifact, Model, ModelVersion
from modelbay.registry.refs import ModelRef, check_alias, check_name
from modelbay.registry.store import ArtifactStore, PutResult
from modelbay.registry.tables import (
    AliasRow,
    ArchivedVersionRow,
    ModelRow,
    VersionArtifactRow,
    VersionRow,
    utcnow,
)

__all__ = ["Draft", "ModelCatalog", "library_versions"]

CHAMPION = usage.CHAMPION
_LIBRARIES = ("modelbay", "scikit-learn", "numpy", "pandas", "skops", "scipy")


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for lib in _LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            pass
    return out


@dataclass
class Draft:
    """A version being registered: fill it inside ``ModelCatalog.register``'s block."""

    name: str
    signature: Signature | None = None
    task: str = ""
    algorithm: str = ""
    flavor: str = "sklearn"
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    reference_stats: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    aliases: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    artifact: PutResult | None = None
    artifact_format: str = ""
    extras: dict[str, tuple[PutResult, str, dict[str, Any]]] = field(default_factory=dict)
    serving: dict[str, Any] = field(default_factory=dict)
    version: ModelVersion | None = None  # set once the block exits and the row is committed
    _store: ArtifactStore | None = field(default=None, repr=False)

    def save_model(self, obj: Any, format: str = "skops") -> PutResult:
        """Serialize ``obj`` and write it, durably, to the artifact store."""
        fmt = get_format(format)
        t0 = time.perf_counter()
        data = fmt.dumps(obj)
        self.timings["serialize_s"] = time.perf_counter() - t0
        return self.save_bytes(data, format)

    def save_bytes(self, data: bytes, format: str) -> PutResult:
        assert self._store is not None
        if self.artifact is not None:
            raise ValidationError("a version holds one model artifact; it was saved already")
        self.artifact = self._store.put(data)
        self.artifact_format = format
        self.timings.update(self.artifact.timings)
        return self.artifact

    def add_artifact(
        self, role: str, data: bytes, format: str, info: dict[str, Any] | None = None
    ) -> PutResult:
        """Store a further artifact of this version under ``role`` (e.g. ``onnx``)."""
        assert self._store is not None
        get_format(format)
        if role == "model" or role in self.extras:
            raise ValidationError(f"this version has a {role!r} artifact already")
        put = self._store.put(data)
        self.extras[role] = (put, format, dict(info or {}))
        return put

    def written(self) -> list[PutResult]:
        return [a for a in [self.artifact, *(e[0] for e in self.extras.values())] if a]


def _version_record(
    row: VersionRow,
    model: str,
    aliases: tuple[str, ...],
    extras: list[VersionArtifactRow] | None = None,
    archived: bool = False,
) -> ModelVersion:
    artifacts = {
        "model": Artifact("model", row.artifact_digest, row.artifact_format, row.artifact_size)
    }
    for a in extras or []:
        artifacts[a.role] = Artifact(a.role, a.digest, a.format, a.size, dict(a.info))
    return ModelVersion(
        id=row.id,
        model=model,
        version=row.version,
        task=row.task,
        flavor=row.flavor,
        algorithm=row.algorithm,
        signature=Signature.from_dict(row.signature),
        metrics=row.metrics,
        params=row.params,
        lineage=row.lineage,
        reference_stats=row.reference_stats,
        artifact_digest=row.artifact_digest,
        artifact_format=row.artifact_format,
        artifact_size=row.artifact_size,
        description=row.description,
        created_at=row.created_at,
        aliases=aliases,
        artifacts=artifacts,
        serving=dict(row.serving or {}),
        archived=archived,
    )


class ModelCatalog(VersionLifecycle):
    """Models, versions and aliases: registration, lookups, aliases, exports (archive and
    delete come from :class:`VersionLifecycle`)."""

    def __init__(self, db: Database, store: ArtifactStore, audit: AuditLog | None = None) -> None:
        self._db = db
        self._store = store
        self._audit = audit or AuditLog(db)

    # -- registration -------------------------------------------------------------------
    @contextmanager
    def register(self, name: str) -> Iterator[Draft]:
        """Stage a version; commit it only if the block succeeds.

        The artifact is durable before the database row is written. If the block or the
        commit fails, nothing is registered and an artifact this draft wrote is removed.
        Aliases named on the draft move in the same transaction as the insert.
        """
        check_name(name)
        draft = Draft(name=name, _store=self._store)
        with self._audit.action("register", name) as note:
            yield from self._staged(draft)
            assert draft.version is not None
            note["detail"] = f"version {draft.version.version}" + (
                f", aliases {', '.join(draft.aliases)}" if draft.aliases else ""
            )

    def _staged(self, draft: Draft) -> Iterator[Draft]:
        try:
            yield draft
            for alias in draft.aliases:
                check_alias(alias)
            if draft.artifact is None or draft.signature is None:
                raise ValidationError("a version needs a saved model artifact and a signature")
            t0 = time.perf_counter()
            draft.version = self._commit(draft)
            draft.timings["db_s"] = time.perf_counter() - t0
        except BaseException:
            for put in draft.written():
                if put.created:
                    self._discard(put.digest)
            raise

    def _commit(self, draft: Draft) -> ModelVersion:
        assert draft.artifact is not None and draft.signature is not None
        lineage = {**draft.lineage, "libraries": library_versions()}
        for attempt in range(5):
            try:
                with self._db.session() as s:
                    model = self._get_or_create_model(s, draft.name)
                    current = s.scalar(
                        select(func.max(VersionRow.version)).where(VersionRow.model_id == model.id)
                    )
                    model.top_version = max(current or 0, model.top_version or 0) + 1
                    row = VersionRow(
                        model_id=model.id,
                        version=model.top_version,
                        task=draft.task,
                        flavor=draft.flavor,
                        algorithm=draft.algorithm,
                        artifact_digest=draft.artifact.digest,
                        artifact_format=draft.artifact_format,
                        artifact_size=draft.artifact.size,
                        signature=draft.signature.to_dict(),
                        metrics=draft.metrics,
                        params=draft.params,
                        lineage=lineage,
                        reference_stats=draft.reference_stats,
                        description=draft.description,
                        serving=draft.serving,
                    )
                    s.add(row)
                    s.flush()
                    for role, (put, fmt, info) in draft.extras.items():
                        s.add(
                            VersionArtifactRow(
                                version_id=row.id,
                                role=role,
                                digest=put.digest,
                                format=fmt,
                                size=put.size,
                                info=info,
                            )
                        )
                    bump_generation(s)
                    aliases = list(dict.fromkeys(draft.aliases))
                    has_champion = s.get(AliasRow, (model.id, CHAMPION)) is not None
                    if not has_champion and CHAMPION not in aliases:
                        aliases.append(CHAMPION)  # a model's first version is its champion
                    for alias in aliases:
                        self._move_alias(s, model.id, alias, row.id)
                    return _version_record(
                        row, draft.name, tuple(sorted(aliases)), self._artifacts(s, row)
                    )
            except ConflictError:
                if attempt == 4:
                    raise
                time.sleep(0.01 * (attempt + 1))  # a concurrent registration took the number
        raise AssertionError("unreachable")

    def _get_or_create_model(self, s: Session, name: str) -> ModelRow:
        model = s.scalars(select(ModelRow).where(ModelRow.name == name)).first()
        if model is None:
            model = ModelRow(name=name, description="")
            s.add(model)
            s.flush()
        return model

    def _discard(self, *digests: str) -> int:
        """Delete those artifacts nothing refers to any more; returns how many went.

        Run after the rows that referred to them are committed: a crash in between leaves
        only blobs nothing refers to, which ``gc`` removes."""
        with self._db.session() as s:
            free = usage.unreferenced(s, digests)
        for digest in free:
            self._store.delete(digest)
        return len(free)

    # -- lookups --------------------------------------------------------------------------
    def _model_row(self, s: Session, name: str) -> ModelRow:
        model = s.scalars(select(ModelRow).where(ModelRow.name == name)).first()
        if model is None:
            names = s.scalars(select(ModelRow.name).order_by(ModelRow.name)).all()
            raise NotFoundError(
                f"model {name!r} does not exist",
                names=names,
                label="models",
                empty="; train one with `modelbay train`",
            )
        return model

    def _aliases_of(self, s: Session, model_id: int) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for a in s.scalars(select(AliasRow).where(AliasRow.model_id == model_id)):
            out.setdefault(a.version_id, []).append(a.name)
        return out

    def get(self, ref: str | ModelRef) -> ModelVersion:
        """Resolve ``name``, ``name@alias``, ``name@latest`` or ``name:N`` to a version."""
        r = ModelRef.parse(ref)
        with self._db.session() as s:
            model = self._model_row(s, r.name)
            q = select(VersionRow).where(VersionRow.model_id == model.id)
            row: VersionRow | None
            if r.version is not None:
                row = s.scalars(q.where(VersionRow.version == r.version)).first()
                if row is None:
                    top = s.scalar(
                        select(func.max(VersionRow.version)).where(VersionRow.model_id == model.id)
                    )
                    raise NotFoundError(
                        f"model {r.name!r} has no version {r.version}; versions are 1 to {top}"
                    )
            elif r.alias and r.alias != "latest":
                alias = s.get(AliasRow, (model.id, r.alias))
                if alias is None:
                    names = sorted(
                        a.name
                        for a in s.scalars(select(AliasRow).where(AliasRow.model_id == model.id))
                    )
                    raise NotFoundError(
                        f"model {r.name!r} has no alias {r.alias!r}; "
                        f"its aliases: {', '.join(names) or 'none'}"
                    )
                row = s.get(VersionRow, alias.version_id)
            else:
                row = usage.default_version(s, model.id, champion=r.alias != "latest")
                if row is None:
                    numbers = sorted(s.scalars(q.with_only_columns(VersionRow.version)))
                    raise NotFoundError(
                        f"every version of model {r.name!r} is archived "
                        f"({', '.join(map(str, numbers))}): unarchive one or name it, "
                        f"like '{r.name}:{numbers[-1]}'"
                        if numbers
                        else f"model {r.name!r} has no versions yet"
                    )
            assert row is not None
            aliases = tuple(sorted(self._aliases_of(s, model.id).get(row.id, [])))
            archived = s.get(ArchivedVersionRow, row.id) is not None
            return _version_record(row, model.name, aliases, self._artifacts(s, row), archived)

    def servable(self, ref: str | ModelRef) -> ModelVersion:
        """:meth:`get`, refusing an archived version: what every serving path resolves."""
        version = self.get(ref)
        if version.archived:
            raise NotFoundError(
                f"{version.ref} is archived: it is kept for lineage and never served; "
                f"unarchive it (`modelbay models unarchive {version.ref}`) or serve another"
            )
        return version

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first (archived ones marked), in three
        statements however many there are (the model, its aliases, its versions joined to
        their further artifacts and archive marks)."""
        check_name(name)
        with self._db.session() as s:
            model = self._model_row(s, name)
            aliases = self._aliases_of(s, model.id)
            rows = s.execute(
                select(VersionRow, VersionArtifactRow, ArchivedVersionRow.version_id)
                .outerjoin(VersionArtifactRow, VersionArtifactRow.version_id == VersionRow.id)
                .outerjoin(ArchivedVersionRow, ArchivedVersionRow.version_id == VersionRow.id)
                .where(VersionRow.model_id == model.id)
                .order_by(VersionRow.version, VersionArtifactRow.role)
            )
            versions: dict[int, tuple[VersionRow, list[VersionArtifactRow], bool]] = {}
            for row, extra, archived in rows:
                _, extras, _ = versions.setdefault(row.id, (row, [], archived is not None))
                if extra is not None:
                    extras.append(extra)
            return [
                _version_record(r, name, tuple(sorted(aliases.get(r.id, []))), extras, archived)
                for r, extras, archived in versions.values()
            ]

    def aliases(self, name: str) -> dict[str, int]:
        """A model's aliases and the version number each points at, by alias."""
        check_name(name)
        with self._db.session() as s:
            model = self._model_row(s, name)
            found = s.execute(
                select(AliasRow.name, VersionRow.version)
                .join(VersionRow, VersionRow.id == AliasRow.version_id)
                .where(AliasRow.model_id == model.id)
                .order_by(AliasRow.name)
            )
            return {alias: number for alias, number in found}

    # -- aliases --------------------------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: int | str) -> ModelVersion:
        """Point ``name@alias`` at a version (a number, or a reference like ``@challenger``)."""
        with self._audit.action("alias.set", f"{name}@{alias}") as note:
            check_alias(alias)
            target = self.get(
                f"{name}:{version}"
                if isinstance(version, int) or str(version).isdigit()
                else f"{name}{version}"
            )
            if target.archived:
                raise ConflictError(
                    f"{target.ref} is archived and an alias never points at an archived "
                    f"version: unarchive it first (`modelbay models unarchive {target.ref}`)"
                )
            with self._db.session() as s:
                model = self._model_row(s, name)
                self._move_alias(s, model.id, alias, target.id)
            note["detail"] = f"version {target.version}"
        return self.get(f"{name}@{alias}")

    def delete_alias(self, name: str, alias: str, *, force: bool = False) -> list[str]:
        """Remove an alias. Refused while a deployment serves ``name@alias`` (it would answer
        404 at once) unless ``force``; returns the deployments that the removal broke."""
        with self._audit.action("alias.delete", f"{name}@{alias}") as note:
            broken = self._delete_alias(name, alias, force)
            if broken:
                note["detail"] = f"forced: deployments {', '.join(broken)} have no target"
        return broken

    def _delete_alias(self, name: str, alias: str, force: bool) -> list[str]:
        check_alias(alias)
        with self._db.session() as s:
            model = self._model_row(s, name)
            row = s.get(AliasRow, (model.id, alias))
            if row is None:
                names = sorted(self._aliases_of_names(s, model.id))
                raise NotFoundError(
                    f"model {name!r} has no alias {alias!r}; its aliases: {', '.join(names) or 'none'}"
                )
            followers = usage.alias_followers(s, name, alias)
            if followers and not force:
                raise ConflictError(
                    f"alias {name}@{alias} is served by deployment {', '.join(followers)}: "
                    f"move it to another version instead (`modelbay alias set {name} {alias} N`), "
                    "undeploy first, or force it (`--force`; the deployments then answer 404 until the "
                    "alias is set again)"
                )
            s.delete(row)
            bump_generation(s)
            return followers

    @staticmethod
    def _aliases_of_names(s: Session, model_id: int) -> list[str]:
        return list(s.scalars(select(AliasRow.name).where(AliasRow.model_id == model_id)))

    @staticmethod
    def _move_alias(s: Session, model_id: int, alias: str, version_id: int) -> None:
        bump_generation(s)
        row = s.get(AliasRow, (model_id, alias))
        if row is None:
            s.add(AliasRow(model_id=model_id, name=alias, version_id=version_id))
        else:
            row.version_id = version_id
            row.updated_at = utcnow()
        s.flush()

    # -- artifacts ------------------------------------------------------------------------
    @staticmethod
    def _artifacts(s: Session, row: VersionRow) -> list[VersionArtifactRow]:
        return list(
            s.scalars(select(VersionArtifactRow).where(VersionArtifactRow.version_id == row.id))
        )

    def load_object(self, version: ModelVersion, role: str = "model") -> Any:
        """Open, verify and deserialize one of a version's artifacts (by default the model)."""
        artifact = version.artifacts.get(role)
        if artifact is None:
            raise NotFoundError(f"{version.ref} has no {role!r} artifact")
        return get_format(artifact.format).loads(self._store.get(artifact.digest))

    # -- exports --------------------------------------------------------------------------
    def export(self, ref: str | ModelRef, target: str | Path) -> Path:
        """Write a version as a plain folder: its artifacts (skops, ONNX or the Hugging Face
        directory, never a pickle), signature.json and metadata.json, and a manifest with
        every file's sha256 (:mod:`modelbay.registry.exports`). ``Bay.import_model`` reads
        it back. ``target`` must not exist, or be empty; a failed export leaves nothing."""
        version = self.get(ref)
        with self._audit.action("export", version.ref) as note:
            out = write_export(
                version, lambda a: self._store.get(a.digest), Path(target), library_versions()
            )
            note["detail"] = f"{version.artifact_format} to {out}"
        return out

    def export_archive(self, ref: str | ModelRef, out: IO[bytes]) -> ModelVersion:
        """The export of ``ref`` as a tar written to ``out``, under one folder ``name-N/``."""
        version = self.get(ref)
        with tempfile.TemporaryDirectory(prefix="modelbay-export-") as tmp:
            folder = self.export(version.ref, Path(tmp) / "export")
            write_archive(folder, out, f"{version.model}-{version.version}")
        return version

    def referenced_digests(self) -> set[str]:
        with self._db.session() as s:
            return set(s.scalars(select(VersionRow.artifact_digest)).all()) | set(
                s.scalars(select(VersionArtifactRow.digest)).all()
            )

    def list(self) -> list[Model]:
        """Every model by name, with its aliases (by name) and latest version, in one
        statement: a row per alias, the models joined to their newest version numbers."""
        latest = (
            select(VersionRow.model_id, func.max(VersionRow.version).label("latest"))
            .group_by(VersionRow.model_id)
            .subquery()
        )
        target = aliased(VersionRow)
        query = (
            select(ModelRow, latest.c.latest, AliasRow.name, target.version)
            .outerjoin(latest, latest.c.model_id == ModelRow.id)
            .outerjoin(AliasRow, AliasRow.model_id == ModelRow.id)
            .outerjoin(target, target.id == AliasRow.version_id)
            .order_by(ModelRow.name)
        )
        with self._db.session() as s:
            models: dict[int, tuple[ModelRow, int | None, dict[str, int]]] = {}
            for m, top, alias, number in s.execute(query):
                _, _, aliases = models.setdefault(m.id, (m, top, {}))
                if alias is not None:
                    aliases[alias] = number
            return [
                Model(
                    id=m.id,
                    name=m.name,
                    description=m.description,
                    created_at=m.created_at,
                    aliases=dict(sorted(aliases.items())),  # one order on every backend
                    latest_version=top,
                )
                for m, top, aliases in models.values()
            ]
