"""events and webhooks

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-10 09:00:00

The outbox and what sends it (SPEC section 11, tenants/events/):

- ``events``: one row per change, written in the change's transaction;
  indexed for the feeds, newest first, by tenant, by partner, and for support;
- ``webhook_endpoints``: a partner's or a customer's receivers and their
  signing secrets;
- ``webhook_deliveries``: one event to one endpoint, until it succeeds or
  its retries run out; ``webhook_attempts``: each POST and its result.

On PostgreSQL all four are held by row-level security like the other
tenant-owned tables (migration 0011): a row is visible in the scope of its
tenant or its partner, or unscoped. A partner's endpoint has no tenant, so
the tenant column may be NULL here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TABLES = ("events", "webhook_endpoints", "webhook_deliveries", "webhook_attempts")
POLICY = "tenant_scope"
_PREDICATE = (
    "(SELECT current_setting('partner_api.scope', true)) = 'unscoped'"
    " OR tenant_id = (SELECT nullif(current_setting('partner_api.tenant_id', true), '')::uuid)"
    " OR partner_id = (SELECT nullif(current_setting('partner_api.partner_id', true), '')::uuid)"
)


def _owner_columns(tenant_fk: bool = True) -> list[sa.Column]:
    tenant = (
        sa.Column("tenant_id", sa.Uuid(), sa.ForeignKey("tenants.id"), nullable=True)
        if tenant_fk
        else sa.Column("tenant_id", sa.Uuid(), nullable=True)
    )
    return [tenant, sa.Column("partner_id", sa.Uuid(), sa.ForeignKey("partners.id"), nullable=True)]


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.String(40), primary_key=True),
        *_owner_columns(tenant_fk=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_events_tenant_created", "events", ["tenant_id", "created_at", "id"])
    op.create_index("ix_events_partner_created", "events", ["partner_id", "created_at", "id"])
    op.create_index("ix_events_created", "events", ["created_at", "id"])
    op.create_index("ix_events_request_id", "events", ["request_id"])

    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Uuid(), primary_key=True),
        *_owner_columns(),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("previous_secret", sa.String(100), nullable=True),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_webhook_endpoints_tenant_id", "webhook_endpoints", ["tenant_id"])
    op.create_index("ix_webhook_endpoints_partner_id", "webhook_endpoints", ["partner_id"])

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(), primary_key=True),
        *_owner_columns(),
        sa.Column(
            "endpoint_id",
            sa.Uuid(),
            sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event_id", sa.String(40), sa.ForeignKey("events.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_webhook_deliveries_tenant_id", "webhook_deliveries", ["tenant_id"])
    op.create_index("ix_webhook_deliveries_partner_id", "webhook_deliveries", ["partner_id"])
    op.create_index("ix_webhook_deliveries_event_id", "webhook_deliveries", ["event_id"])
    op.create_index(
        "ix_webhook_deliveries_endpoint_created",
        "webhook_deliveries",
        ["endpoint_id", "created_at", "id"],
    )
    op.create_index(
        "ix_webhook_deliveries_pending", "webhook_deliveries", ["status", "next_attempt_at"]
    )

    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        *_owner_columns(),
        sa.Column(
            "delivery_id",
            sa.Uuid(),
            sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
    )
    op.create_index("ix_webhook_attempts_delivery_id", "webhook_attempts", ["delivery_id"])

    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY {POLICY} ON {table} USING ({_PREDICATE}) WITH CHECK ({_PREDICATE})"
            )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
