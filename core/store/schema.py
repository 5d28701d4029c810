"""Tables. Changing one means a new Alembic revision in core/store/migrations/versions."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    false,
    text,
)

metadata = MetaData()

conversations = Table(
    "conversations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", String(32), nullable=False),
    Column("chat_key", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=True),  # set by a reset
    Index("ix_conversations_open", "platform", "chat_key", "closed_at"),
    # At most one conversation in progress per chat (migration 0002).
    Index(
        "uq_conversations_open",
        "platform",
        "chat_key",
        unique=True,
        postgresql_where=text("closed_at IS NULL"),
        sqlite_where=text("closed_at IS NULL"),
    ),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("conversation_id", ForeignKey("conversations.id"), nullable=False, index=True),
    Column("author", String(255), nullable=False),
    Column("text", Text, nullable=False),
    Column("platform_message_id", String(255), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # False for a message the bot only read, or whose reply failed for good (migration 0003)
    Column("awaits_reply", Boolean, nullable=False, server_default=false()),
)

turns = Table(
    "turns",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("conversation_id", ForeignKey("conversations.id"), nullable=False, index=True),
    Column("message_id", ForeignKey("messages.id"), nullable=False, index=True),
    # Makes generation idempotent: a redelivered task finds its Turn instead of making another.
    Column("request_key", String(64), nullable=False, unique=True),
    Column("prompt", JSON, nullable=False),
    Column("completion", Text, nullable=False),
    Column("model_version", String(128), nullable=False, index=True),
    Column("settings", JSON, nullable=False),
    Column("timings", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("platform_message_id", String(255), nullable=True, index=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
)

# Every vote action, in order: up -> down -> retracted are three rows.
vote_events = Table(
    "vote_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("turn_id", ForeignKey("turns.id"), nullable=False, index=True),
    Column("rater", String(255), nullable=False),
    Column("value", SmallInteger, nullable=False),
    Column("source", String(32), nullable=False),
    Column("reasons", JSON, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# The vote that stands per (turn, rater): the latest event.
votes = Table(
    "votes",
    metadata,
    Column("turn_id", ForeignKey("turns.id"), primary_key=True),
    Column("rater", String(255), primary_key=True),
    Column("value", SmallInteger, nullable=False),
    Column("reasons", JSON, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
