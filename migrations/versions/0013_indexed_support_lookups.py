"""indexed support lookups: rows by the request that changed them, an order's
failed rows, devices by normalised serial number

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-10 09:00:00

Support's trace of a request ID and its device lookup read a handful of index
entries instead of scanning registrations:

- ``ix_registrations_updated_request`` (updated_request_id, order_pk,
  line_index): the rows a request changed outside the orders it created, as
  key ranges, in order;
- ``ix_registrations_order_failed`` (order_pk, line_index) over failed rows
  only: an order's first failed rows in submission order;
- ``ix_registrations_identity_serial``: the serial number part of the
  identity key (``tenants.models.identity_serial``), which the lookup by
  serial number compares for equality.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _serial_expression() -> str:
    if op.get_bind().dialect.name == "postgresql":
        return "split_part(identity_key, chr(31), 2)"
    return "substr(identity_key, instr(identity_key, char(31)) + 1)"


def upgrade() -> None:
    op.create_index(
        "ix_registrations_updated_request",
        "registrations",
        ["updated_request_id", "order_pk", "line_index"],
    )
    op.create_index(
        "ix_registrations_order_failed",
        "registrations",
        ["order_pk", "line_index"],
        postgresql_where=sa.text("error_code IS NOT NULL"),
        sqlite_where=sa.text("error_code IS NOT NULL"),
    )
    op.create_index(
        "ix_registrations_identity_serial",
        "registrations",
        [sa.text(_serial_expression())],
    )


def downgrade() -> None:
    op.drop_index("ix_registrations_identity_serial", table_name="registrations")
    op.drop_index("ix_registrations_order_failed", table_name="registrations")
    op.drop_index("ix_registrations_updated_request", table_name="registrations")
