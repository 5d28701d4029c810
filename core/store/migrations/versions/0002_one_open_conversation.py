"""At most one conversation in progress per chat.

Two messages arriving at once in a chat with none in progress could each start one; the
partial unique index makes the second insert a no-op (ON CONFLICT DO NOTHING) instead.
Where duplicates already exist, all but the newest are closed first.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OPEN = sa.text("closed_at IS NULL")


def upgrade() -> None:
    op.execute(
        """
        UPDATE conversations SET closed_at = created_at
        WHERE closed_at IS NULL AND id NOT IN (
            SELECT max(id) FROM conversations WHERE closed_at IS NULL
            GROUP BY platform, chat_key
        )
        """
    )
    op.create_index(
        "uq_conversations_open",
        "conversations",
        ["platform", "chat_key"],
        unique=True,
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )


def downgrade() -> None:
    op.drop_index("uq_conversations_open", "conversations")
