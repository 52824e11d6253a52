"""erased subjects: the ids an erasure removed, so their partner still reads its own log entries

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-06 03:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erased_subjects",
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("partner_id", sa.String(length=32), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_erased_subjects_partner_id_partners"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_erased_subjects")),
    )
    with op.batch_alter_table("erased_subjects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_erased_subjects_partner_id"), ["partner_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("erased_subjects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erased_subjects_partner_id"))
    op.drop_table("erased_subjects")
