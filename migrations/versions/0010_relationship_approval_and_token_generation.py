"""relationship approval time, requests for any tenant ID, client token generation

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 10:00:00

- ``relationships.approved_at``: when the customer approved; a partner sees
  the customer's name only from then on. Carried over: active relationships
  were approved when decided; revoked ones were if the audit trail says so.
- ``relationships.tenant_id`` loses its foreign key: a request for an ID that
  is no tenant is stored like any other, so the answer tells nothing.
- ``api_clients.token_generation``: rotating a client's secret moves it on,
  and tokens minted for an earlier generation stop working at once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Names SQLite's batch mode gives the unnamed foreign keys of 0001, so they can be dropped.
_NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def _relationships_tenant_fk() -> str:
    if op.get_bind().dialect.name == "postgresql":
        inspector = sa.inspect(op.get_bind())
        for fk in inspector.get_foreign_keys("relationships"):
            if fk["constrained_columns"] == ["tenant_id"]:
                return fk["name"]
        raise RuntimeError("relationships.tenant_id has no foreign key to drop")
    return "fk_relationships_tenant_id_tenants"


def upgrade() -> None:
    with op.batch_alter_table("api_clients") as batch_op:
        batch_op.add_column(
            sa.Column("token_generation", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("relationships", naming_convention=_NAMING) as batch_op:
        batch_op.add_column(sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(_relationships_tenant_fk(), type_="foreignkey")
    _backfill_approved_at()


def _backfill_approved_at() -> None:
    relationships = sa.table(
        "relationships",
        sa.column("id", sa.Uuid()),
        sa.column("status", sa.String()),
        sa.column("decided_at", sa.DateTime(timezone=True)),
        sa.column("requested_at", sa.DateTime(timezone=True)),
        sa.column("approved_at", sa.DateTime(timezone=True)),
    )
    events = sa.table(
        "audit_events",
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("action", sa.String()),
        sa.column("object_id", sa.String()),
    )
    connection = op.get_bind()
    # Active: approved when last decided.
    connection.execute(
        relationships.update()
        .where(relationships.c.status == "active")
        .values(
            approved_at=sa.func.coalesce(relationships.c.decided_at, relationships.c.requested_at)
        )
    )
    # Revoked (or asked again after a revoke): approved at the last approval the trail records.
    approvals = dict(
        connection.execute(
            sa.select(events.c.object_id, sa.func.max(events.c.at))
            .where(events.c.action == "relationship.active")
            .group_by(events.c.object_id)
        ).all()
    )
    for relationship_id in connection.execute(
        sa.select(relationships.c.id).where(relationships.c.status != "active")
    ).scalars():
        approved = approvals.get(str(relationship_id))
        if approved is not None:
            connection.execute(
                relationships.update()
                .where(relationships.c.id == relationship_id)
                .values(approved_at=approved)
            )


def downgrade() -> None:
    connection = op.get_bind()
    # Requests for IDs that are no tenant cannot keep a foreign key: drop them.
    connection.execute(
        sa.text("DELETE FROM relationships WHERE tenant_id NOT IN (SELECT id FROM tenants)")
    )
    with op.batch_alter_table("relationships") as batch_op:
        batch_op.drop_column("approved_at")
        batch_op.create_foreign_key(
            "fk_relationships_tenant_id_tenants", "tenants", ["tenant_id"], ["id"]
        )
    with op.batch_alter_table("api_clients") as batch_op:
        batch_op.drop_column("token_generation")
