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
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),  # 0008
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
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),  # 0010
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

# The model registry (migration 0004): every model that can serve, and how it was made.
models = Table(
    "models",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", String(128), nullable=False, unique=True),  # what Turns record
    Column("kind", String(16), nullable=False),
    Column("path", Text, nullable=False),
    Column("parent", String(128), nullable=True),  # may name an unregistered (built-in) model
    Column("data", JSON, nullable=False),
    Column("settings", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Every promote and rollback, in order; the newest row says what gpu workers serve, and
# version NULL means REPLYLOOP_MODEL (a rollback past the first promotion). The id is the
# row's place in that history, written as the newest id + 1: two writers at once collide
# on it and the second tries again on the new history (core.store.registry).
promotions = Table(
    "promotions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", ForeignKey("models.version"), nullable=True),
    Column("action", String(16), nullable=False),  # promote | rollback
    Column("promoted_at", DateTime(timezone=True), nullable=False),
)

# The names people are shown by in stored text (migration 0005): what an export replaces
# with pseudonyms. Every name a person was ever seen with stays, so an export made after a
# rename still finds the old one in older messages.
person_names = Table(
    "person_names",
    metadata,
    Column("platform", String(32), primary_key=True),
    Column("person", String(255), primary_key=True),  # the platform's user id
    Column("name", Text, primary_key=True),
    Column("seen_at", DateTime(timezone=True), nullable=False),
)

# Votes on a reply not yet stored as delivered (migration 0006), by the platform's id of
# the rated message: recorded as votes when a reply with that id is marked delivered.
kept_votes = Table(
    "kept_votes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", String(32), nullable=False),
    Column("posted_as", String(255), nullable=False),
    Column("rater", String(255), nullable=False),
    Column("value", SmallInteger, nullable=False),
    Column("source", String(32), nullable=False),
    Column("reasons", JSON, nullable=True),
    Column("acted_at", DateTime(timezone=True), nullable=False),
    Index("ix_kept_votes_posted_as", "posted_as"),
)

# Who `replyloop forget` erased (migration 0007): an HMAC of them under the raters' key
# (core.anonymize.forgotten_hash), when, and how much went; never who in clear.
forgotten_people = Table(
    "forgotten_people",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", String(32), nullable=False),
    Column("person_hash", String(64), nullable=False, index=True),
    Column("forgotten_at", DateTime(timezone=True), nullable=False),
    Column("messages", Integer, nullable=False),
    Column("replies", Integer, nullable=False),
    Column("votes", Integer, nullable=False),
    Column("names", Integer, nullable=False),
    Column("mentions", Integer, nullable=False),
)

# Canary promotions (migration 0009; core.store.canaries): a model tried on a sticky share
# of conversations beside the promoted one, until core.sequential decides: conversations
# from `from_conversation` on (those begun before it keep their model). `running` is True
# while it runs and NULL after (a unique index: one canary at a time).
canaries = Table(
    "canaries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", ForeignKey("models.version"), nullable=False),
    Column("incumbent", String(128), nullable=False),
    Column("share", Integer, nullable=False),
    Column("from_conversation", Integer, nullable=False),
    Column("rule", JSON, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("running", Boolean, nullable=True, unique=True),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("verdict", String(16), nullable=True),
    Column("figures", JSON, nullable=True),
)

# The web console's people (migration 0010; core.store.users): a role and a scrypt hash
# (core.passwords), never a password.
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # admin | viewer
    Column("password_hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# A signed-in browser, by the SHA-256 of its cookie's token: the table alone opens nothing.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# Every sign-in try, for the rate limit (core.store.users.failures).
login_attempts = Table(
    "login_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False),
    Column("address", String(64), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
)

# The console's figures, kept up to date from the facts above (core.store.rollups) so that
# a page reads a few rows, not a million votes. Each can be rebuilt from the facts at any
# time; `rollup_marks` says how far each source table has been read.
turn_tallies = Table(
    "turn_tallies",
    metadata,
    Column("turn_id", Integer, primary_key=True),  # no foreign key: rebuilt, not kept
    Column("up", Integer, nullable=False),
    Column("down", Integer, nullable=False),
    Column("day", String(10), nullable=False),  # the reply's, UTC, YYYY-MM-DD
    Column("model_version", String(128), nullable=False),
    Column("platform", String(32), nullable=False),
    Index(
        "ix_turn_tallies_worst", text("(down - up) DESC"), text("down DESC"), text("turn_id DESC")
    ),
)

day_tallies = Table(
    "day_tallies",
    metadata,
    Column("day", String(10), primary_key=True),
    Column("model_version", String(128), primary_key=True),
    Column("platform", String(32), primary_key=True),
    Column("up", Integer, nullable=False),
    Column("down", Integer, nullable=False),
)

day_counts = Table(
    "day_counts",
    metadata,
    Column("day", String(10), primary_key=True),
    Column("what", String(16), primary_key=True),  # messages | vote_actions
    Column("platform", String(32), primary_key=True),
    Column("n", Integer, nullable=False),
)

rollup_marks = Table(
    "rollup_marks",
    metadata,
    Column("source", String(32), primary_key=True),  # messages | vote_events
    Column("last_id", Integer, nullable=False),
)
