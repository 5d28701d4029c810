"""Conversations, messages, turns, vote events and current votes.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("chat_key", sa.String(255), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("closed_at", TZ, nullable=True),
    )
    op.create_index("ix_conversations_open", "conversations", ["platform", "chat_key", "closed_at"])
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.Integer, sa.ForeignKey("conversations.id"), nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("platform_message_id", sa.String(255), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_messages_conversation_id", "messages", ["conversation_id"])
    op.create_table(
        "turns",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.Integer, sa.ForeignKey("conversations.id"), nullable=False),
        sa.Column("message_id", sa.Integer, sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("request_key", sa.String(64), nullable=False, unique=True),
        sa.Column("prompt", sa.JSON, nullable=False),
        sa.Column("completion", sa.Text, nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("timings", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("platform_message_id", sa.String(255), nullable=True),
        sa.Column("delivered_at", TZ, nullable=True),
    )
    for column in ("conversation_id", "message_id", "model_version", "created_at"):
        op.create_index(f"ix_turns_{column}", "turns", [column])
    op.create_index("ix_turns_platform_message_id", "turns", ["platform_message_id"])
    op.create_table(
        "vote_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("turn_id", sa.Integer, sa.ForeignKey("turns.id"), nullable=False),
        sa.Column("rater", sa.String(255), nullable=False),
        sa.Column("value", sa.SmallInteger, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("reasons", sa.JSON, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_vote_events_turn_id", "vote_events", ["turn_id"])
    op.create_table(
        "votes",
        sa.Column("turn_id", sa.Integer, sa.ForeignKey("turns.id"), primary_key=True),
        sa.Column("rater", sa.String(255), primary_key=True),
        sa.Column("value", sa.SmallInteger, nullable=False),
        sa.Column("reasons", sa.JSON, nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
    )


def downgrade() -> None:
    for table in ("votes", "vote_events", "turns", "messages", "conversations"):
        op.drop_table(table)
