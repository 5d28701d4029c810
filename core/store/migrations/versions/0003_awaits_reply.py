"""Which messages wait for a reply.

A message the bot only read (a Slack thread's messages from before it was mentioned) never
gets one, nor does one whose reply failed for good; every other message without a reply is
still being answered, and a later message of its conversation waits for it, so replies come
in order even when several gpu workers share the queue. Messages stored before this
revision are taken as settled.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(
            sa.Column("awaits_reply", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("awaits_reply")
