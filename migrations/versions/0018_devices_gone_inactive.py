"""devices gone inactive

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-13 09:00:00

The sweeper tells ``device.inactive`` when a registered device's last
check-in leaves the active window (tenants/registration/devices.py
``record_gone_inactive``): ``ix_registrations_ready_seen`` holds registered
devices by last check-in across tenants, so that look is a range of the
index, however many devices there are.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_READY_SEEN = "state = 'ready_for_user' AND last_seen_at IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        "ix_registrations_ready_seen",
        "registrations",
        ["last_seen_at"],
        postgresql_where=sa.text(_READY_SEEN),
        sqlite_where=sa.text(_READY_SEEN),
    )


def downgrade() -> None:
    op.drop_index("ix_registrations_ready_seen", table_name="registrations")
