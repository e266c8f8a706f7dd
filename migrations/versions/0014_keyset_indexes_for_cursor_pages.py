"""keyset indexes for cursor pages

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-09 09:00:00

Lists that grow without bound are read by cursor: a page is the rows after
a key in the order (sort key, id) (tenants/listing.py). These indexes make
each page an index walk of the page's size, however deep:

- ``ix_orders_tenant_created``, ``ix_orders_partner_created``: a tenant's
  or a partner's orders, newest first;
- ``ix_registrations_tenant_state_created`` and
  ``ix_registrations_tenant_error_created``: the device list filtered by
  state or error code (replacing (tenant_id, state));
- ``ix_registrations_tenant_serial_id``: the device list sorted or filtered
  by serial number (replacing (tenant_id, serial_number));
- ``ix_registrations_order_state_line``: an order's rows of one state, in
  submission order (replacing (order_pk, state)).
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_orders_tenant_created", "orders", ["tenant_id", "created_at", "id"])
    op.create_index("ix_orders_partner_created", "orders", ["partner_id", "created_at", "id"])
    op.create_index(
        "ix_registrations_tenant_state_created",
        "registrations",
        ["tenant_id", "state", "created_at", "id"],
    )
    op.create_index(
        "ix_registrations_tenant_error_created",
        "registrations",
        ["tenant_id", "error_code", "created_at", "id"],
    )
    op.create_index(
        "ix_registrations_tenant_serial_id", "registrations", ["tenant_id", "serial_number", "id"]
    )
    op.create_index(
        "ix_registrations_order_state_line", "registrations", ["order_pk", "state", "line_index"]
    )
    op.drop_index("ix_registrations_tenant_state", table_name="registrations")
    op.drop_index("ix_registrations_tenant_serial", table_name="registrations")
    op.drop_index("ix_registrations_order_state", table_name="registrations")


def downgrade() -> None:
    op.create_index("ix_registrations_order_state", "registrations", ["order_pk", "state"])
    op.create_index(
        "ix_registrations_tenant_serial", "registrations", ["tenant_id", "serial_number"]
    )
    op.create_index("ix_registrations_tenant_state", "registrations", ["tenant_id", "state"])
    op.drop_index("ix_registrations_order_state_line", table_name="registrations")
    op.drop_index("ix_registrations_tenant_serial_id", table_name="registrations")
    op.drop_index("ix_registrations_tenant_error_created", table_name="registrations")
    op.drop_index("ix_registrations_tenant_state_created", table_name="registrations")
    op.drop_index("ix_orders_partner_created", table_name="orders")
    op.drop_index("ix_orders_tenant_created", table_name="orders")
