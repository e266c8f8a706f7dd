"""registration messages in any language

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 06:00:00

``registrations.message_params``: a row's message as it was made -- its
English template and parameters (which field mismatched, which line, how many
bytes) -- so that it is rendered in the reader's language when it is read.
``message`` keeps the English text (search, old clients); rows stored before
have no parameters and show it as stored.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("registrations", sa.Column("message_params", sa.JSON(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite has it since 3.35): batch mode would rebuild
    # the table and lose its expression indexes.
    op.drop_column("registrations", "message_params")
