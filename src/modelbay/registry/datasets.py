"""Datasets: stored once per content fingerprint, sealed in the artifact store, by name.

A dataset is one table content (one fingerprint, one sealed artifact) and carries every
name it was added under: adding ``leads.csv`` as ``leads`` when the same rows are stored
already as ``crm-export`` gives that dataset the name ``leads`` too, so ``leads`` resolves.
A name may also be on two datasets (``leads`` added again after the file changed): then
the name alone is ambiguous and is refused with the candidates listed; ``leads#<fingerprint
prefix>`` or the id names one. Deleting by a name removes that name; the dataset (and its
artifact, when nothing else refers to it) goes with its last name, or at once by id.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from modelbay.data.schema import TableSchema, infer_schema
from modelbay.data.tables import (
    TableSource,
    fingerprint,
    from_parquet_bytes,
    read_table,
    to_parquet_bytes,
)
from modelbay.errors import ConflictError, NotFoundError, ValidationError
from modelbay.registry import usage
from modelbay.registry.audit import AuditLog
from modelbay.registry.db import Database
from modelbay.registry.records import Dataset
from modelbay.registry.refs import check_name
from modelbay.registry.store import ArtifactStore
from modelbay.registry.tables import DatasetNameRow, DatasetRow, TrainingRunRow

__all__ = ["DatasetCatalog"]

_FP_PREFIX = re.compile(r"^[0-9a-f]{8,64}$")


def _record(row: DatasetRow, name: str | None = None, names: tuple[str, ...] = ()) -> Dataset:
    return Dataset(
        id=row.id,
        name=name or row.name,
        fingerprint=row.fingerprint,
        n_rows=row.n_rows,
        n_columns=row.n_columns,
        schema=TableSchema.from_dict(row.schema),
        format=row.format,
        source=row.source,
        created_at=row.created_at,
        artifact_digest=row.artifact_digest,
        names=names or (name or row.name,),
    )


def _names(s: Session, dataset_id: int) -> tuple[str, ...]:
    query = select(DatasetNameRow.name).where(DatasetNameRow.dataset_id == dataset_id)
    return tuple(sorted(s.scalars(query)))


def _describe(s: Session, rows: list[DatasetRow], name: str) -> str:
    return "; ".join(
        f"{name}#{r.fingerprint[:12]} (id {r.id}, {r.n_rows} rows, added "
        f"{r.created_at:%Y-%m-%d %H:%M}, from {r.source})"
        for r in rows
    )


class DatasetCatalog:
    def __init__(self, db: Database, store: ArtifactStore, audit: AuditLog | None = None) -> None:
        self._db = db
        self._store = store
        self._audit = audit or AuditLog(db)

    def add(
        self, source: TableSource, name: str | None = None, *, format: str | None = None
    ) -> Dataset:
        """Read and store a table under ``name``. Content stored already is not stored again:
        the stored dataset gets the name too, so the name resolves to it."""
        df = read_table(source, format=format)
        origin = "DataFrame" if isinstance(source, pd.DataFrame) else str(Path(source).resolve())
        if name is None:
            name = Path(str(source)).stem if not isinstance(source, pd.DataFrame) else "dataset"
            name = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "dataset"
        check_name(name, "dataset name")
        fp = fingerprint(df)
        existing = self._named(fp, name)
        if existing is not None:
            return existing
        schema = infer_schema(df)
        put = self._store.put(to_parquet_bytes(df))
        try:
            with self._db.session() as s:
                row = DatasetRow(
                    name=name,
                    fingerprint=fp,
                    artifact_digest=put.digest,
                    format="parquet",
                    n_rows=int(df.shape[0]),
                    n_columns=int(df.shape[1]),
                    schema=schema.to_dict(),
                    source=origin,
                )
                s.add(row)
                s.flush()
                s.add(DatasetNameRow(name=name, dataset_id=row.id))
                s.flush()
                return _record(row)
        except ConflictError:
            found = self._named(fp, name)  # a concurrent writer stored the same content
            if found is None:
                raise
            return found

    def _named(self, fp: str, name: str) -> Dataset | None:
        """The dataset of this content, now carrying ``name`` too; None if not stored."""
        with self._db.session() as s:
            row = s.scalars(select(DatasetRow).where(DatasetRow.fingerprint == fp)).first()
            if row is None:
                return None
            if s.get(DatasetNameRow, (name, row.id)) is None:
                s.add(DatasetNameRow(name=name, dataset_id=row.id))
                s.flush()
            return _record(row, name, _names(s, row.id))

    def get(self, ref: str | int | Dataset) -> Dataset:
        """By id, by name (``leads``; refused with the candidates if two datasets carry it),
        by ``name#<fingerprint prefix>``, or by a fingerprint prefix (8+ hex)."""
        if isinstance(ref, Dataset):
            return ref
        with self._db.session() as s:
            row, name = self._resolve(s, ref)
            return _record(row, name, _names(s, row.id))

    def _resolve(self, s: Session, ref: str | int) -> tuple[DatasetRow, str | None]:
        """The one dataset ``ref`` names, and the name it was named by."""
        q = select(DatasetRow)
        name: str | None = None
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            rows = list(s.scalars(q.where(DatasetRow.id == int(ref))))
        else:
            name, _, fp = str(ref).partition("#")
            rows = list(
                s.scalars(
                    q.join(DatasetNameRow, DatasetNameRow.dataset_id == DatasetRow.id)
                    .where(DatasetNameRow.name == name)
                    .order_by(DatasetRow.id)
                )
            )
            if fp:
                rows = [r for r in rows if r.fingerprint.startswith(fp)]
            if not rows and not fp and _FP_PREFIX.match(str(ref)):
                rows = list(s.scalars(q.where(DatasetRow.fingerprint.startswith(str(ref)))))
                name = None
        if not rows:
            names = sorted(set(s.scalars(select(DatasetNameRow.name))))
            hint = (
                f"; datasets: {', '.join(names[:20])}"
                if names
                else "; add one with `modelbay data add`"
            )
            raise NotFoundError(f"dataset {ref!r} does not exist{hint}")
        if len(rows) > 1:
            label = name or str(ref)
            raise ValidationError(
                f"dataset {str(ref)!r} is ambiguous: {len(rows)} datasets match: "
                f"{_describe(s, rows, label)}; name one exactly as "
                f"'{label}#<fingerprint prefix>' or by its id"
            )
        return rows[0], name

    def candidates(self, name: str) -> list[Dataset]:
        """Every dataset carrying ``name``, oldest first (more than one: the name alone is
        ambiguous)."""
        with self._db.session() as s:
            rows = s.scalars(
                select(DatasetRow)
                .join(DatasetNameRow, DatasetNameRow.dataset_id == DatasetRow.id)
                .where(DatasetNameRow.name == name)
                .order_by(DatasetRow.id)
            )
            return [_record(r, name, _names(s, r.id)) for r in rows]

    def list(self) -> list[Dataset]:
        """Every dataset, oldest first, each with all its names."""
        with self._db.session() as s:
            names: dict[int, list[str]] = {}
            for n in s.scalars(select(DatasetNameRow).order_by(DatasetNameRow.name)):
                names.setdefault(n.dataset_id, []).append(n.name)
            return [
                _record(r, names=tuple(names.get(r.id, [r.name])))
                for r in s.scalars(select(DatasetRow).order_by(DatasetRow.id))
            ]

    def delete(self, ref: str | int) -> Dataset | None:
        """Remove a name (``leads``, ``leads#ab12``), or a dataset with all its names (by id
        or fingerprint). A dataset goes with its last name, and its artifact with it when
        no version or other dataset refers to it. Returns the dataset if it is gone, or
        None if it lives on under other names. Training runs keep their record of it."""
        with self._audit.action("dataset.delete", str(ref)) as note:
            with self._db.session() as s:
                row, name = self._resolve(s, ref)
                record = _record(row, name, _names(s, row.id))
                if name is not None:
                    s.delete(s.get(DatasetNameRow, (name, row.id)))
                    s.flush()
                left = _names(s, row.id) if name is not None else ()
                if left:
                    if row.name == name:
                        row.name = left[0]  # the dataset's first name, for old readers
                    note["detail"] = f"name {name} removed; still named {', '.join(left)}"
                    return None
                for n in s.scalars(
                    select(DatasetNameRow).where(DatasetNameRow.dataset_id == row.id)
                ):
                    s.delete(n)
                s.execute(
                    update(TrainingRunRow)
                    .where(TrainingRunRow.dataset_id == row.id)
                    .values(dataset_id=None)
                )
                s.flush()
                s.delete(row)
            with self._db.session() as s:
                free = usage.unreferenced(s, [record.artifact_digest])
            for digest in free:
                self._store.delete(digest)
            note["detail"] = f"{record.ref} (id {record.id}); {len(free)} artifact(s) freed"
            return record

    def load(self, ref: str | int | Dataset) -> pd.DataFrame:
        """The stored table, checked against its sealed checksum."""
        ds = self.get(ref)
        return from_parquet_bytes(self._store.get(ds.artifact_digest))
