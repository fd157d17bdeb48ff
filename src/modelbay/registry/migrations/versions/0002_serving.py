"""Serving: artifacts by role per version, deployments, a change counter, runtime metadata.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from modelbay.registry.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_MSG = "version artifacts are immutable: register a new version instead"


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("serving", sa.JSON(), nullable=False, server_default="{}"))
    op.create_table(
        "version_artifacts",
        sa.Column(
            "version_id",
            sa.Integer(),
            sa.ForeignKey("model_versions.id", ondelete="RESTRICT"),
            primary_key=True,
        ),
        sa.Column("role", sa.String(32), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("info", sa.JSON(), nullable=False),
    )
    op.create_index("ix_version_artifacts_digest", "version_artifacts", ["digest"])
    op.create_table(
        "deployments",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("max_batch", sa.Integer(), nullable=False),
        sa.Column("max_wait_ms", sa.Float(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "generation",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO generation (id, value) VALUES (1, 0)")
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "CREATE TRIGGER version_artifacts_immutable BEFORE UPDATE ON version_artifacts "
            f"BEGIN SELECT RAISE(ABORT, '{_MSG}'); END"
        )
    elif dialect == "postgresql":
        op.execute(
            "CREATE TRIGGER version_artifacts_immutable BEFORE UPDATE ON version_artifacts "
            "FOR EACH ROW EXECUTE FUNCTION modelbay_refuse_update()"
        )


def downgrade() -> None:
    op.execute(
        "DROP TRIGGER IF EXISTS version_artifacts_immutable"
        + (" ON version_artifacts" if op.get_bind().dialect.name == "postgresql" else "")
    )
    for table in ("generation", "deployments", "version_artifacts"):
        op.drop_table(table)
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("serving")
