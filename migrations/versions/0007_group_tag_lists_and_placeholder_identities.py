"""group tag lists per tenant; placeholder serial numbers identified by SMBIOS UUID

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 23:00:00

Devices whose serial number is a firmware placeholder (``SMBIOS_STRING_INDEX_0``,
``Default string``, ...) were identified by (manufacturer, placeholder), so two
virtual machines merged into one. Their identity becomes (manufacturer, SMBIOS
UUID) from the stored hardware hash, in registrations, ownership claims and
the supplier catalog alike; rows without a stored hash or a usable UUID keep
theirs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tenants.ingest.hardware_hash import (
    PLACEHOLDER_SERIALS,
    is_placeholder_serial,
    is_placeholder_uuid,
    smbios_uuid_of,
    uuid_identity_key,
)

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: SQLite's batch mode would copy the table, which the
    # foreign keys of every tenant-owned row forbid.
    op.add_column("tenants", sa.Column("group_tags", sa.Text(), nullable=True))
    connection = op.get_bind()
    _reidentify(connection, "registrations", key_column="id")
    _reidentify(connection, "catalog_devices", key_column="identity_key")


def _placeholder_candidates(table: sa.Table) -> sa.ColumnElement[bool]:
    """A coarse SQL filter; is_placeholder_serial decides each candidate."""
    serial = sa.func.lower(sa.func.trim(table.c.serial_number))
    return sa.and_(
        table.c.hardware_hash.is_not(None),
        sa.or_(
            table.c.serial_number.is_(None),
            serial.in_(sorted(PLACEHOLDER_SERIALS)),
            serial.like("smbios\\_string\\_index\\_%", escape="\\"),
            sa.func.replace(serial, sa.func.substr(serial, 1, 1), "") == "",
        ),
    )


def _reidentify(connection: sa.Connection, name: str, *, key_column: str) -> None:
    columns = [
        "identity_key",
        "manufacturer",
        "serial_number",
        "hardware_hash",
        "hardware_hash_length",
    ]
    if key_column not in columns:
        columns.insert(0, key_column)
    table = sa.table(name, *(sa.column(c) for c in columns))
    key = table.c[key_column]
    rows = connection.execute(
        sa.select(
            key,
            table.c.identity_key,
            table.c.manufacturer,
            table.c.serial_number,
            table.c.hardware_hash,
            table.c.hardware_hash_length,
        ).where(_placeholder_candidates(table))
    ).all()
    claims = sa.table("device_claims", sa.column("identity_key"), sa.column("registration_id"))
    for row_key, old_identity, manufacturer, serial, blob, length in rows:
        if not is_placeholder_serial(serial) or not manufacturer:
            continue
        raw = bytes(blob) + bytes(max(0, (length or 0) - len(blob)))
        smbios_uuid = smbios_uuid_of(raw)
        if is_placeholder_uuid(smbios_uuid):
            continue
        new_identity = uuid_identity_key(manufacturer, smbios_uuid or "")
        if new_identity == old_identity:
            continue
        if name == "catalog_devices":
            _move_identity(connection, table, table.c.identity_key == old_identity, new_identity)
            continue
        connection.execute(table.update().where(key == row_key).values(identity_key=new_identity))
        _move_identity(connection, claims, claims.c.registration_id == row_key, new_identity)


def _move_identity(connection: sa.Connection, table, where, new_identity: str) -> None:
    """Give the row ``where`` selects the new identity, unless a row of the
    same (uniquely keyed) table already holds it."""
    taken = connection.scalar(
        sa.select(sa.func.count()).select_from(table).where(table.c.identity_key == new_identity)
    )
    if not taken:
        connection.execute(table.update().where(where).values(identity_key=new_identity))


def downgrade() -> None:
    op.drop_column("tenants", "group_tags")
