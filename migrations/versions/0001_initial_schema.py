"""initial schema

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-23 00:15:01.076985
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "partners",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "request_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("principal_kind", sa.String(length=16), nullable=True),
        sa.Column("principal_id", sa.String(length=100), nullable=True),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("path", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("request_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_log_request_id"), ["request_id"], unique=False)

    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "api_clients",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=255), nullable=False),
        sa.Column("principal_kind", sa.String(length=16), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("supplier_id", sa.String(length=100), nullable=True),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_id"),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("order_id", sa.String(length=200), nullable=True),
        sa.Column("purchase_id", sa.String(length=200), nullable=True),
        sa.Column("group_tag", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("source_format", sa.String(length=32), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_partner_id"), ["partner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_request_id"), ["request_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "relationships",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("partner_id", "tenant_id"),
    )
    with op.batch_alter_table("relationships", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_relationships_partner_id"), ["partner_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_relationships_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "registrations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("order_pk", sa.Uuid(), nullable=False),
        sa.Column("line_index", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=True),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("manufacturer", sa.String(length=200), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("serial_number", sa.String(length=200), nullable=True),
        sa.Column("product_key_id", sa.String(length=32), nullable=True),
        sa.Column("group_tag", sa.String(length=200), nullable=True),
        sa.Column("assigned_user", sa.String(length=320), nullable=True),
        sa.Column("hardware_hash", sa.LargeBinary(), nullable=True),
        sa.Column("hardware_hash_length", sa.Integer(), nullable=True),
        sa.Column("hardware_hash_text", sa.Text(), nullable=True),
        sa.Column("identity_key", sa.String(length=420), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_user", sa.String(length=320), nullable=True),
        sa.Column("deregistered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("updated_request_id", sa.String(length=128), nullable=True),
        sa.Column("support_reference", sa.String(length=64), nullable=True),
        sa.Column("internal_error", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_pk"],
            ["orders.id"],
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_pk", "line_index"),
    )
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_registrations_partner_id"), ["partner_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_registrations_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(
            "ix_registrations_tenant_serial", ["tenant_id", "serial_number"], unique=False
        )
        batch_op.create_index("ix_registrations_tenant_state", ["tenant_id", "state"], unique=False)

    op.create_table(
        "device_claims",
        sa.Column("identity_key", sa.String(length=420), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("registration_id", sa.Uuid(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["registrations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("identity_key"),
        sa.UniqueConstraint("registration_id"),
    )
    with op.batch_alter_table("device_claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_claims_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("device_claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_claims_tenant_id"))

    op.drop_table("device_claims")
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.drop_index("ix_registrations_tenant_state")
        batch_op.drop_index("ix_registrations_tenant_serial")
        batch_op.drop_index(batch_op.f("ix_registrations_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_registrations_partner_id"))

    op.drop_table("registrations")
    with op.batch_alter_table("relationships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_relationships_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_relationships_partner_id"))

    op.drop_table("relationships")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_orders_request_id"))
        batch_op.drop_index(batch_op.f("ix_orders_partner_id"))

    op.drop_table("orders")
    op.drop_table("api_clients")
    op.drop_table("tenants")
    with op.batch_alter_table("request_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_log_request_id"))

    op.drop_table("request_log")
    op.drop_table("partners")
