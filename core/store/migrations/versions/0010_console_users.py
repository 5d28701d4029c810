"""Console users, their sessions, and login attempts (the web console's access).

users: a name, a role (admin or viewer) and a scrypt hash (core.passwords), never the
password. web_sessions: a signed-in browser, by the SHA-256 of its cookie's token (a
stolen table opens no session), with its CSRF token and expiry. login_attempts: every try,
for the rate limit (replyloop.console.access). turn_tallies, day_tallies, day_counts and
rollup_marks: the console's figures, kept from the votes and messages (core.store.rollups;
empty here, built on the console's first look).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
    )
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("at", TZ, nullable=False, index=True),
    )
    op.create_index("ix_vote_events_created_at", "vote_events", ["created_at"])
    op.create_table(
        "turn_tallies",
        sa.Column("turn_id", sa.Integer, primary_key=True),
        sa.Column("up", sa.Integer, nullable=False),
        sa.Column("down", sa.Integer, nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
    )
    worst = [sa.text("(down - up) DESC"), sa.text("down DESC"), sa.text("turn_id DESC")]
    op.create_index("ix_turn_tallies_worst", "turn_tallies", worst)
    # the worst of one platform, or of one version: the same order within it
    op.create_index("ix_turn_tallies_platform_worst", "turn_tallies", ["platform", *worst])
    op.create_index("ix_turn_tallies_version_worst", "turn_tallies", ["model_version", *worst])
    op.create_table(
        "day_tallies",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("model_version", sa.String(128), primary_key=True),
        sa.Column("platform", sa.String(32), primary_key=True),
        sa.Column("up", sa.Integer, nullable=False),
        sa.Column("down", sa.Integer, nullable=False),
    )
    op.create_table(
        "day_counts",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("what", sa.String(16), primary_key=True),
        sa.Column("platform", sa.String(32), primary_key=True),
        sa.Column("n", sa.Integer, nullable=False),
    )
    op.create_table(
        "rollup_marks",
        sa.Column("source", sa.String(32), primary_key=True),
        sa.Column("last_id", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("rollup_marks", "day_counts", "day_tallies", "turn_tallies"):
        op.drop_table(table)
    op.drop_index("ix_vote_events_created_at", "vote_events")
    op.drop_table("login_attempts")
    op.drop_table("web_sessions")
    op.drop_table("users")
