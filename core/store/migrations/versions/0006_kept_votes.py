"""Kept votes: a vote on a reply the store cannot match yet, until it can.

A platform may tell of a vote before the reply it is on is stored as delivered (a Slack
reaction on a reply posted a moment ago, or one posted by an io worker that died before it
marked the reply delivered). The vote is kept here by the platform's id of the rated
message, and recorded as a vote when a reply with that id is marked delivered.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kept_votes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("posted_as", sa.String(255), nullable=False),
        sa.Column("rater", sa.String(255), nullable=False),
        sa.Column("value", sa.SmallInteger, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("reasons", sa.JSON, nullable=True),
        sa.Column("acted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_kept_votes_posted_as", "kept_votes", ["posted_as"])


def downgrade() -> None:
    op.drop_index("ix_kept_votes_posted_as", table_name="kept_votes")
    op.drop_table("kept_votes")
