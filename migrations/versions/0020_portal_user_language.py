"""the language a portal user reads the portal in

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-12 09:00:00

- ``portal_users.language``: the language the person chose with the
  portal's switcher (``en``, ``sv``, ``nl``; SPEC section 12), remembered
  across sign-ins and browsers. NULL until they choose: the browser's
  language then.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("portal_users") as batch:
        batch.add_column(sa.Column("language", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("portal_users") as batch:
        batch.drop_column("language")
