"""People's names: the names people are shown by in stored text, per platform user id.

Adapters that write names into messages (Slack's "Kai: lunch at noon?") record each name
here when they resolve it; `feedback export` replaces them with pseudonyms. A database
upgraded to this revision knows no names yet: a person's name is recorded the next time a
bot process resolves it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person_names",
        sa.Column("platform", sa.String(32), primary_key=True),
        sa.Column("person", sa.String(255), primary_key=True),
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("person_names")
