"""bulk actions on a tenant's devices

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-10 09:00:00

``bulk_actions``: one action on many devices of a tenant (deregister, set
the group tag), with its progress; ``bulk_action_items``: each device of it
and what the action did to it (tenants/registration/bulk.py). Both are
tenant-owned: on PostgreSQL under the same row-level security policy as
the registrations (migration 0011). New tables, so no data to carry.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TABLES = ("bulk_actions", "bulk_action_items")
POLICY = "tenant_scope"
# As in 0011: each setting read once per statement.
_PREDICATE = (
    "(SELECT current_setting('partner_api.scope', true)) = 'unscoped'"
    " OR tenant_id = (SELECT nullif(current_setting('partner_api.tenant_id', true), '')::uuid)"
    " OR partner_id = (SELECT nullif(current_setting('partner_api.partner_id', true), '')::uuid)"
)


def _owner_columns() -> list[sa.Column]:
    return [
        sa.Column("tenant_id", sa.Uuid(), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("partner_id", sa.Uuid(), sa.ForeignKey("partners.id"), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "bulk_actions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        *_owner_columns(),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("group_tag", sa.String(length=200), nullable=True),
        sa.Column("selection_filter", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_bulk_actions_tenant_id", "bulk_actions", ["tenant_id"])
    op.create_index("ix_bulk_actions_partner_id", "bulk_actions", ["partner_id"])
    op.create_index(
        "ix_bulk_actions_tenant_created", "bulk_actions", ["tenant_id", "created_at", "id"]
    )
    op.create_table(
        "bulk_action_items",
        sa.Column("bulk_action_id", sa.Uuid(), sa.ForeignKey("bulk_actions.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        *_owner_columns(),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("serial_number", sa.String(length=200), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("bulk_action_id", "position"),
    )
    op.create_index("ix_bulk_action_items_tenant_id", "bulk_action_items", ["tenant_id"])
    op.create_index("ix_bulk_action_items_partner_id", "bulk_action_items", ["partner_id"])
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY {POLICY} ON {table} USING ({_PREDICATE}) WITH CHECK ({_PREDICATE})"
            )


def downgrade() -> None:
    op.drop_table("bulk_action_items")
    op.drop_table("bulk_actions")
