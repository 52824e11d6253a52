"""consent reference and portrait identity distance

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 00:41:23.006463
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reference_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("reference_type", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("reference_embedding", sa.JSON(), nullable=True))

    with op.batch_alter_table("portraits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("identity_distance", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("portraits", schema=None) as batch_op:
        batch_op.drop_column("identity_distance")

    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_column("reference_embedding")
        batch_op.drop_column("reference_type")
        batch_op.drop_column("reference_sha256")
