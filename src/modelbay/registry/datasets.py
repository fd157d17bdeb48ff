"""Datasets: stored once per content fingerprint, sealed in the artifact store."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from modelbay.data.schema import TableSchema, infer_schema
from modelbay.data.tables import (
    TableSource,
    fingerprint,
    from_parquet_bytes,
    read_table,
    to_parquet_bytes,
)
from modelbay.errors import ConflictError, NotFoundError
from modelbay.registry.db import Database
from modelbay.registry.records import Dataset
from modelbay.registry.refs import check_name
from modelbay.registry.store import ArtifactStore
from modelbay.registry.tables import DatasetRow

__all__ = ["DatasetCatalog"]

_FP_PREFIX = re.compile(r"^[0-9a-f]{8,64}$")


def _record(row: DatasetRow) -> Dataset:
    return Dataset(
        id=row.id,
        name=row.name,
        fingerprint=row.fingerprint,
        n_rows=row.n_rows,
        n_columns=row.n_columns,
        schema=TableSchema.from_dict(row.schema),
        format=row.format,
        source=row.source,
        created_at=row.created_at,
        artifact_digest=row.artifact_digest,
    )


class DatasetCatalog:
    def __init__(self, db: Database, store: ArtifactStore) -> None:
        self._db = db
        self._store = store

    def add(
        self, source: TableSource, name: str | None = None, *, format: str | None = None
    ) -> Dataset:
        """Read and store a table; the same content added again returns the stored dataset."""
        df = read_table(source, format=format)
        origin = "DataFrame" if isinstance(source, pd.DataFrame) else str(Path(source).resolve())
        if name is None:
            name = Path(str(source)).stem if not isinstance(source, pd.DataFrame) else "dataset"
            name = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "dataset"
        check_name(name, "dataset name")
        fp = fingerprint(df)
        existing = self._by_fingerprint(fp)
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
                return _record(row)
        except ConflictError:
            found = self._by_fingerprint(fp)  # a concurrent writer stored the same content
            if found is None:
                raise
            return found

    def _by_fingerprint(self, fp: str) -> Dataset | None:
        with self._db.session() as s:
            row = s.scalars(select(DatasetRow).where(DatasetRow.fingerprint == fp)).first()
            return _record(row) if row else None

    def get(self, ref: str | int | Dataset) -> Dataset:
        """By id, by name (the newest of that name), or by a fingerprint prefix (8+ hex)."""
        if isinstance(ref, Dataset):
            return ref
        with self._db.session() as s:
            q = select(DatasetRow)
            if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
                rows = s.scalars(q.where(DatasetRow.id == int(ref))).all()
            else:
                name, _, fp = str(ref).partition("#")
                rows = s.scalars(
                    q.where(DatasetRow.name == name).order_by(DatasetRow.id.desc())
                ).all()
                if fp:
                    rows = [r for r in rows if r.fingerprint.startswith(fp)]
                if not rows and _FP_PREFIX.match(str(ref)):
                    rows = s.scalars(q.where(DatasetRow.fingerprint.startswith(str(ref)))).all()
            if not rows:
                names = sorted(set(s.scalars(select(DatasetRow.name)).all()))
                hint = (
                    f"; datasets: {', '.join(names[:20])}"
                    if names
                    else "; add one with `modelbay data add`"
                )
                raise NotFoundError(f"dataset {ref!r} does not exist{hint}")
            return _record(rows[0])

    def list(self) -> list[Dataset]:
        with self._db.session() as s:
            return [_record(r) for r in s.scalars(select(DatasetRow).order_by(DatasetRow.id))]

    def load(self, ref: str | int | Dataset) -> pd.DataFrame:
        """The stored table, checked against its sealed checksum."""
        ds = self.get(ref)
        return from_parquet_bytes(self._store.get(ds.artifact_digest))
