"""bulk actions on a tenant's devices; daily totals for the overview

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-10 09:00:00

- ``bulk_actions``: one action on many devices of a tenant (deregister, set
  the group tag), with its progress; ``bulk_action_items``: each device of
  it and what the action did to it (tenants/registration/bulk.py). Both are
  tenant-owned: on PostgreSQL under the same row-level security policy as
  the registrations (migration 0011).
- ``daily_totals``: a counter kept as rows change
  (tenants/registration/counters.py): per tenant, submitting partner and
  UTC day, rows registered, rows failed (by error code) and ready rows by
  their last check-in; filled from the rows stored before, as
  ``counters.recount`` counts them.
- ``ix_registrations_tenant_seen``: a tenant's checked-in rows by last
  check-in, for the one day that straddles the active window's start.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TABLES = ("bulk_actions", "bulk_action_items")
NO_PARTNER = uuid.UUID(int=0)
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
    op.create_index(
        "ix_bulk_actions_unfinished",
        "bulk_actions",
        ["created_at"],
        postgresql_where=sa.text("completed_at IS NULL"),
        sqlite_where=sa.text("completed_at IS NULL"),
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
    op.create_table(
        "daily_totals",
        sa.Column("tenant_id", sa.Uuid(), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("partner_key", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=False),
        sa.Column("partner_id", sa.Uuid(), sa.ForeignKey("partners.id"), nullable=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "partner_key", "kind", "day", "error_code"),
    )
    op.create_index("ix_daily_totals_partner_day", "daily_totals", ["partner_id", "day"])
    with op.batch_alter_table("registrations") as batch_op:
        batch_op.create_index(
            "ix_registrations_tenant_seen",
            ["tenant_id", "last_seen_at"],
            postgresql_where=sa.text("last_seen_at IS NOT NULL"),
            sqlite_where=sa.text("last_seen_at IS NOT NULL"),
        )
    _backfill_days()
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY {POLICY} ON {table} USING ({_PREDICATE}) WITH CHECK ({_PREDICATE})"
            )


def _day(column: sa.ColumnElement) -> sa.ColumnElement[int]:
    """The UTC day of a timestamp, in days since 1970-01-01 (as in 0012)."""
    if op.get_bind().dialect.name == "postgresql":
        return sa.cast(sa.func.floor(sa.extract("epoch", column) / 86400), sa.Integer)
    return sa.cast(sa.func.strftime("%s", column), sa.Integer) // 86400


def _backfill_days() -> None:
    connection = op.get_bind()
    # The columns this needs, as they are at this revision (no reflection).
    rows = sa.table(
        "registrations",
        sa.column("tenant_id", sa.Uuid()),
        sa.column("partner_id", sa.Uuid()),
        sa.column("state", sa.String()),
        sa.column("error_code", sa.String()),
        sa.column("registered_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
        sa.column("last_seen_at", sa.DateTime(timezone=True)),
    )
    totals = sa.table(
        "daily_totals",
        *(
            sa.column(name)
            for name in ("tenant_id", "partner_key", "partner_id", "kind", "day", "error_code")
        ),
        sa.column("count"),
    )
    partner_key = sa.func.coalesce(rows.c.partner_id, sa.literal(NO_PARTNER, sa.Uuid()))
    # No error code: a constant, which PostgreSQL refuses in GROUP BY.
    none = sa.literal_column("''")
    for kind, column, error_code, condition in (
        ("registered", rows.c.registered_at, none, None),
        (
            "failed",
            rows.c.updated_at,
            sa.func.coalesce(rows.c.error_code, none),
            rows.c.state == "registration_failed",
        ),
        ("seen", rows.c.last_seen_at, none, rows.c.state == "ready_for_user"),
    ):
        day = _day(column)
        stmt = (
            sa.select(
                rows.c.tenant_id,
                partner_key,
                rows.c.partner_id,
                sa.literal(kind),
                day,
                error_code,
                sa.func.count(),
            )
            .where(column.is_not(None))
            .group_by(
                rows.c.tenant_id,
                rows.c.partner_id,
                day,
                *([] if error_code is none else [error_code]),
            )
        )
        if condition is not None:
            stmt = stmt.where(condition)
        connection.execute(
            totals.insert().from_select(
                ["tenant_id", "partner_key", "partner_id", "kind", "day", "error_code", "count"],
                stmt,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("registrations") as batch_op:
        batch_op.drop_index("ix_registrations_tenant_seen")
    op.drop_table("daily_totals")
    op.drop_table("bulk_action_items")
    op.drop_table("bulk_actions")
