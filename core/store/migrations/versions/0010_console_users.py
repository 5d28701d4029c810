"""Console users, their sessions, and login attempts (the web console's access).

users: a name, a role (admin or viewer) and a scrypt hash (core.passwords), never the
password. web_sessions: a signed-in browser, by the SHA-256 of its cookie's token (a
stolen table opens no session), with its CSRF token and expiry. login_attempts: every try,
for the rate limit (bots.web.access). Indexes for the console's date-bucketed reads.

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


def downgrade() -> None:
    op.drop_index("ix_vote_events_created_at", "vote_events")
    op.drop_table("login_attempts")
    op.drop_table("web_sessions")
    op.drop_table("users")
