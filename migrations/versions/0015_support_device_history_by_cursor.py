"""support device history by cursor

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-11 09:00:00

Support's device history pages by cursor, oldest first on (created_at, id)
(tenants/listing.py), for each stored form of the serial number:

- ``ix_registrations_identity_serial_created`` (the serial number part of
  the identity key, created_at, id) replaces 0013's
  ``ix_registrations_identity_serial``: the same equality lookup, and each
  page an index walk from the cursor's key on;
- ``ix_device_claims_identity_serial``: who holds a device with that serial
  number now, whatever page of its history is shown.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _serial_expression() -> str:
    # As tenants.models.identity_serial compiles it, so that lookups use the index.
    if op.get_bind().dialect.name == "postgresql":
        return "split_part(identity_key, chr(31), 2)"
    return "substr(identity_key, instr(identity_key, char(31)) + 1)"


def upgrade() -> None:
    op.create_index(
        "ix_registrations_identity_serial_created",
        "registrations",
        [sa.text(_serial_expression()), "created_at", "id"],
    )
    op.drop_index("ix_registrations_identity_serial", table_name="registrations")
    op.create_index(
        "ix_device_claims_identity_serial", "device_claims", [sa.text(_serial_expression())]
    )


def downgrade() -> None:
    op.drop_index("ix_device_claims_identity_serial", table_name="device_claims")
    op.create_index(
        "ix_registrations_identity_serial", "registrations", [sa.text(_serial_expression())]
    )
    op.drop_index("ix_registrations_identity_serial_created", table_name="registrations")
