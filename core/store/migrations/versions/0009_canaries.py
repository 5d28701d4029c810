"""Canary promotions: a model tried on a share of conversations beside the promoted one.

Each arm's votes are compared by a sequential test (core.sequential) until it decides.

One row a canary; `running` is True while it runs and NULL once it ended (its unique index
allows one running canary). A database upgraded to this revision has none.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "canaries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.String(128), sa.ForeignKey("models.version"), nullable=False),
        sa.Column("incumbent", sa.String(128), nullable=False),
        sa.Column("share", sa.Integer, nullable=False),
        sa.Column("from_conversation", sa.Integer, nullable=False),
        sa.Column("rule", sa.JSON, nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("running", sa.Boolean, nullable=True, unique=True),
        sa.Column("ended_at", TZ, nullable=True),
        sa.Column("verdict", sa.String(16), nullable=True),
        sa.Column("figures", sa.JSON, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("canaries")
