"""device list by serial number, descending

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-20 09:00:00

The device list sorted by serial number puts devices without one last in
either direction (tenants/listing.py ``Keyset``). Ascending, that is the
order of ``ix_registrations_tenant_serial_id``; descending with NULLs last
is no walk of it, backward or forward, so PostgreSQL gets the mirror image.
SQLite (the embedded default, small by nature) sorts without it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index(
        "ix_registrations_tenant_serial_desc",
        "registrations",
        ["tenant_id", sa.text("serial_number DESC NULLS LAST"), sa.text("id DESC")],
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_registrations_tenant_serial_desc", table_name="registrations")
