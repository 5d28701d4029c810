"""Messages by time, for the sweeper.

The sweeper (bots.sweeper) looks every few seconds for messages of the last hours still
waiting for their reply, and must not read the whole table to find them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_messages_created_at", "messages", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_created_at", table_name="messages")
