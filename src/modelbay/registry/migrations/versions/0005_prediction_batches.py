"""The prediction log, a row per flushed batch: ``prediction_log`` becomes
``prediction_batches``, its rows carried over.

A database row per logged request cost the log's writer 4-9 us of each request's time
(the driver's work per row, and building each row's parameters in Python); a row per
flushed batch, its fields as arrays, costs about 1.5 us.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from datetime import UTC
from typing import Any

import numpy as np
import orjson
import sqlalchemy as sa
from alembic import op

from modelbay.registry.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

GROUP = 2000  # old rows in one new batch row at most

_old = sa.table(
    "prediction_log",
    sa.column("id", sa.Integer()),
    sa.column("request_id", sa.String()),
    sa.column("at", UTCDateTime()),
    sa.column("deployment", sa.String()),
    sa.column("model", sa.String()),
    sa.column("version", sa.Integer()),
    sa.column("actor", sa.String()),
    sa.column("latency_ms", sa.Float()),
    sa.column("rows", sa.Integer()),
    sa.column("inputs", sa.JSON()),
    sa.column("inputs_f64", sa.LargeBinary()),
    sa.column("outputs", sa.JSON()),
)


def upgrade() -> None:
    batches = op.create_table(
        "prediction_batches",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("deployment", sa.String(128), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("first_at", UTCDateTime(), nullable=False),
        sa.Column("last_at", UTCDateTime(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("request_ids", sa.Text(), nullable=False),
        sa.Column("actors", sa.Text(), nullable=False),
        sa.Column("at", sa.LargeBinary(), nullable=False),
        sa.Column("latency_ms", sa.LargeBinary(), nullable=False),
        sa.Column("rows", sa.LargeBinary(), nullable=False),
        sa.Column("logged", sa.LargeBinary(), nullable=False),
        sa.Column("inputs", sa.Text(), nullable=True),
        sa.Column("inputs_f64", sa.LargeBinary(), nullable=True),
        sa.Column("outputs", sa.Text(), nullable=False),
    )
    op.create_index("ix_prediction_batches_window", "prediction_batches", ["deployment", "last_at"])
    conn = op.get_bind()
    group: list[Any] = []
    last = -1
    while True:  # pages by id: no cursor stays open while the batches are written
        page = list(
            conn.execute(sa.select(_old).where(_old.c.id > last).order_by(_old.c.id).limit(GROUP))
        )
        if not page:
            break
        last = page[-1].id
        for row in page:
            if group and (
                len(group) >= GROUP
                or (row.deployment, row.model, row.version)
                != (group[0].deployment, group[0].model, group[0].version)
            ):
                conn.execute(sa.insert(batches), [_batch(group)])
                group = []
            group.append(row)
    if group:
        conn.execute(sa.insert(batches), [_batch(group)])
    op.drop_table("prediction_log")


def _batch(rows: list[Any]) -> dict[str, Any]:
    """One batch row of old rows of one deployment and version, in the layout
    ``monitor.predlog.batch_row`` writes."""
    times = [r.at.astimezone(UTC) for r in rows]
    blocks = [r.inputs_f64 for r in rows]
    return {
        "deployment": rows[0].deployment,
        "model": rows[0].model,
        "version": rows[0].version,
        "first_at": min(times),
        "last_at": max(times),
        "entries": len(rows),
        "request_ids": orjson.dumps([r.request_id for r in rows]).decode(),
        "actors": orjson.dumps([r.actor for r in rows]).decode(),
        "at": np.array([t.timestamp() for t in times], dtype="<f8").tobytes(),
        "latency_ms": np.array([r.latency_ms for r in rows], dtype="<f8").tobytes(),
        "rows": np.array([r.rows for r in rows], dtype="<i8").tobytes(),
        "logged": np.array([len(r.outputs) for r in rows], dtype="<i8").tobytes(),
        "inputs": None
        if all(b is not None for b in blocks)
        else orjson.dumps([v for r in rows for v in _values(r)]).decode(),
        "inputs_f64": b"".join(blocks) if all(b is not None for b in blocks) else None,
        "outputs": orjson.dumps([v for r in rows for v in r.outputs]).decode(),
    }


def _values(row: Any) -> list[Any]:
    if row.inputs_f64 is None:
        return list(row.inputs or [])
    flat = np.frombuffer(row.inputs_f64, dtype="<f8")
    block = flat.reshape(max(1, len(row.outputs)), -1).tolist()
    return [[None if v != v else v for v in r] for r in block]


def downgrade() -> None:
    """Back to the empty table of 0004 (the batches' requests are not carried back)."""
    op.drop_index("ix_prediction_batches_window", table_name="prediction_batches")
    op.drop_table("prediction_batches")
    op.create_table(
        "prediction_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("deployment", sa.String(128), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(160), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=True),
        sa.Column("inputs_f64", sa.LargeBinary(), nullable=True),
        sa.Column("outputs", sa.JSON(), nullable=False),
    )
