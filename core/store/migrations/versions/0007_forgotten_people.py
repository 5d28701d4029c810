"""Forgotten people: the audit record of `replyloop forget`.

Each row says that a person was erased from the store (their messages, the replies that
read them, their votes and names): who, as an HMAC under the raters' key; when; and how
many of each went. Nobody is named in clear, so the record outlives the erasure.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forgotten_people",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("person_hash", sa.String(64), nullable=False),
        sa.Column("forgotten_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("messages", sa.Integer, nullable=False),
        sa.Column("replies", sa.Integer, nullable=False),
        sa.Column("votes", sa.Integer, nullable=False),
        sa.Column("names", sa.Integer, nullable=False),
        sa.Column("mentions", sa.Integer, nullable=False),
    )
    op.create_index("ix_forgotten_people_person_hash", "forgotten_people", ["person_hash"])


def downgrade() -> None:
    op.drop_index("ix_forgotten_people_person_hash", table_name="forgotten_people")
    op.drop_table("forgotten_people")
