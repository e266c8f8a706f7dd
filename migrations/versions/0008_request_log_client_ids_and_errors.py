"""request log: the caller's own request ID, and the exception behind a 5xx

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 22:00:00

Existing rows keep their request IDs as they are (before this revision a
caller's sane X-Request-ID was used as the request ID itself); they simply
have no client request ID and no recorded exception.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("request_log") as batch:
        batch.add_column(sa.Column("client_request_id", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("error", sa.JSON(), nullable=True))
    op.create_index(
        "ix_request_log_client_request_id",
        "request_log",
        [sa.text("lower(client_request_id)")],
    )


def downgrade() -> None:
    op.drop_index("ix_request_log_client_request_id", table_name="request_log")
    with op.batch_alter_table("request_log") as batch:
        batch.drop_column("error")
        batch.drop_column("client_request_id")
