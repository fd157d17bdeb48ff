"""Lifecycle: several names per dataset, version numbers never reused, archived versions.

``dataset_names`` lets one stored table (one content fingerprint, one sealed artifact)
carry every name a user gave it: ``data add leads.csv --name leads`` on content stored
already as ``crm-export`` adds the name ``leads`` instead of answering with the old one.
Each dataset's current name is carried over.

``models.top_version`` is the highest version number a model ever gave out, so the number
of a deleted version is never given to another (prediction logs and drift results name
versions by number).

``archived_versions`` marks versions kept for lineage and audit but never served. A
version row is immutable (a trigger refuses updates), so the mark is a row of its own.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from modelbay.registry.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("top_version", sa.Integer(), nullable=False, server_default="0"))
    op.execute(
        "UPDATE models SET top_version = (SELECT COALESCE(MAX(v.version), 0) "
        "FROM model_versions v WHERE v.model_id = models.id)"
    )
    op.create_table(
        "dataset_names",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column(
            "dataset_id",
            sa.Integer(),
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_dataset_names_dataset_id", "dataset_names", ["dataset_id"])
    op.execute(
        "INSERT INTO dataset_names (name, dataset_id, created_at) "
        "SELECT name, id, created_at FROM datasets"
    )
    op.create_table(
        "archived_versions",
        sa.Column(
            "version_id",
            sa.Integer(),
            sa.ForeignKey("model_versions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("archived_at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(160), nullable=False),
    )


def downgrade() -> None:
    """Back to 0005: one name per dataset (its first), and no archive marks."""
    op.drop_table("archived_versions")
    op.drop_index("ix_dataset_names_dataset_id", table_name="dataset_names")
    op.drop_table("dataset_names")
    # native on PostgreSQL and SQLite 3.35+; a batch rebuild of ``models`` would trip the
    # foreign keys of its versions and aliases
    op.execute("ALTER TABLE models DROP COLUMN top_version")
