"""counters kept as rows change: order counts, check-in days, tenant totals

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 09:00:00

Lists, order polling, support and /metrics read these instead of counting
registrations (tenants/registration/counters.py):

- ``order_counts``: an order's rows by stored state and error code ('' none);
- ``order_check_ins``: an order's ready_for_user rows by the UTC day of their
  last check-in (days since 1970-01-01), which splits them into active and
  inactive at read time;
- ``registration_totals`` and ``order_totals``: a tenant's rows by state and
  error code, and its orders by status, per submitting partner
  (``partner_key``: the partner, or the nil UUID for the tenant's own);
- ``ix_registrations_order_seen``: an order's checked-in rows by last
  check-in, for the one day that straddles the active window's start.

Every counter is filled from the rows stored before, exactly.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

NO_PARTNER = uuid.UUID(int=0)


def _owner_columns() -> list[sa.Column]:
    return [
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "order_counts",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=False),
        *_owner_columns(),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"]),
        sa.PrimaryKeyConstraint("order_id", "state", "error_code"),
    )
    op.create_table(
        "order_check_ins",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("seen_day", sa.Integer(), nullable=False),
        *_owner_columns(),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"]),
        sa.PrimaryKeyConstraint("order_id", "seen_day"),
    )
    op.create_table(
        "registration_totals",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("partner_key", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"]),
        sa.PrimaryKeyConstraint("tenant_id", "partner_key", "state", "error_code"),
    )
    op.create_table(
        "order_totals",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("partner_key", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"]),
        sa.PrimaryKeyConstraint("tenant_id", "partner_key", "status"),
    )
    with op.batch_alter_table("registrations") as batch_op:
        batch_op.create_index(
            "ix_registrations_order_seen",
            ["order_pk", "last_seen_at"],
            postgresql_where=sa.text("last_seen_at IS NOT NULL"),
            sqlite_where=sa.text("last_seen_at IS NOT NULL"),
        )
    _backfill()


def _seen_day(column: sa.ColumnElement) -> sa.ColumnElement[int]:
    """The UTC day of a timestamp, in days since 1970-01-01."""
    if op.get_bind().dialect.name == "postgresql":
        return sa.cast(sa.func.floor(sa.extract("epoch", column) / 86400), sa.Integer)
    # SQLite stores naive UTC text; '%s' is its Unix time.
    return sa.cast(sa.func.strftime("%s", column), sa.Integer) // 86400


def _backfill() -> None:
    connection = op.get_bind()
    meta = sa.MetaData()
    tables = {
        name: sa.Table(name, meta, autoload_with=connection)
        for name in (
            "orders",
            "registrations",
            "order_counts",
            "order_check_ins",
            "registration_totals",
            "order_totals",
        )
    }
    orders, rows = tables["orders"], tables["registrations"]
    no_partner = sa.literal(NO_PARTNER, sa.Uuid())
    # Written out, not a parameter: the same expression is grouped by.
    error_code = sa.func.coalesce(rows.c.error_code, sa.literal_column("''"))

    # An order's counters carry the order's tenant and partner.
    connection.execute(
        tables["order_counts"]
        .insert()
        .from_select(
            ["order_id", "tenant_id", "partner_id", "state", "error_code", "count"],
            sa.select(
                orders.c.id,
                orders.c.tenant_id,
                orders.c.partner_id,
                rows.c.state,
                error_code,
                sa.func.count(),
            )
            .select_from(rows.join(orders, orders.c.id == rows.c.order_pk))
            .group_by(
                orders.c.id, orders.c.tenant_id, orders.c.partner_id, rows.c.state, error_code
            ),
        )
    )
    day = _seen_day(rows.c.last_seen_at)
    connection.execute(
        tables["order_check_ins"]
        .insert()
        .from_select(
            ["order_id", "tenant_id", "partner_id", "seen_day", "count"],
            sa.select(orders.c.id, orders.c.tenant_id, orders.c.partner_id, day, sa.func.count())
            .select_from(rows.join(orders, orders.c.id == rows.c.order_pk))
            .where(rows.c.state == "ready_for_user", rows.c.last_seen_at.is_not(None))
            .group_by(orders.c.id, orders.c.tenant_id, orders.c.partner_id, day),
        )
    )
    partner_key = sa.func.coalesce(rows.c.partner_id, no_partner)
    connection.execute(
        tables["registration_totals"]
        .insert()
        .from_select(
            ["tenant_id", "partner_key", "partner_id", "state", "error_code", "count"],
            sa.select(
                rows.c.tenant_id,
                partner_key,
                rows.c.partner_id,
                rows.c.state,
                error_code,
                sa.func.count(),
            ).group_by(rows.c.tenant_id, rows.c.partner_id, rows.c.state, error_code),
        )
    )
    order_partner_key = sa.func.coalesce(orders.c.partner_id, no_partner)
    connection.execute(
        tables["order_totals"]
        .insert()
        .from_select(
            ["tenant_id", "partner_key", "partner_id", "status", "count"],
            sa.select(
                orders.c.tenant_id,
                order_partner_key,
                orders.c.partner_id,
                orders.c.status,
                sa.func.count(),
            ).group_by(orders.c.tenant_id, orders.c.partner_id, orders.c.status),
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("registrations") as batch_op:
        batch_op.drop_index("ix_registrations_order_seen")
    op.drop_table("order_totals")
    op.drop_table("registration_totals")
    op.drop_table("order_check_ins")
    op.drop_table("order_counts")
