"""Monitoring: the prediction log, feedback, drift results, alert rules and events.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from modelbay.registry.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
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
    # no index but the primary key: reads find their window by a binary search over ids
    # (monitor.predlog.in_window) and feedback joins through its own primary key; an index
    # cost about 3 us per logged request
    op.create_table(
        "feedback",
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False, index=True),
        sa.Column("truth", sa.JSON(), nullable=False),
    )
    op.create_table(
        "drift_results",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False, index=True),
        sa.Column("deployment", sa.String(128), nullable=False, index=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("window_s", sa.Float(), nullable=False),
        sa.Column("feature", sa.String(200), nullable=False),
        sa.Column("test", sa.String(16), nullable=False),
        sa.Column("statistic", sa.Float(), nullable=False),
        sa.Column("p_value", sa.Float(), nullable=True),
        sa.Column("n_ref", sa.Integer(), nullable=False),
        sa.Column("n_cur", sa.Integer(), nullable=False),
        sa.Column("drifted", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "alert_rules",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("deployment", sa.String(128), nullable=False),
        sa.Column("metric", sa.String(128), nullable=False),
        sa.Column("op", sa.String(4), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("window_s", sa.Float(), nullable=False),
        sa.Column("for_s", sa.Float(), nullable=False),
        sa.Column("webhook", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(128), nullable=False, index=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False, index=True),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    for table in ("alert_events", "alert_rules", "drift_results", "feedback", "prediction_log"):
        op.drop_table(table)
