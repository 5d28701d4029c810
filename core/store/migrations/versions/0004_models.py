"""The model registry: registered models, and the history of promotions.

`models` holds every model that can serve (its folder, parent, training data, settings and
metrics); `promotions` every promote and rollback, newest last. The newest row names the
model gpu workers serve; version NULL there means REPLYLOOP_MODEL. A database upgraded to
this revision has no promotion: its workers go on serving REPLYLOOP_MODEL.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.String(128), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("parent", sa.String(128), nullable=True),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "promotions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.String(128), sa.ForeignKey("models.version"), nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("promoted_at", TZ, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("promotions")
    op.drop_table("models")
