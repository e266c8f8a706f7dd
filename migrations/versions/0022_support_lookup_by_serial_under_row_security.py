"""support's lookup by serial number under row-level security

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-20 09:30:00

Support's device lookup matches the serial number part of identity keys
(``tenants.models.identity_serial``). Under PostgreSQL's row-level
security, a condition may become an index condition only if every function
in it is leakproof (it cannot reveal its argument through an error), and
``split_part`` is not declared so: the lookup walked the whole table,
300 ms at a million registrations. The expression is now a function of our
own, ``identity_serial(text)``, declared LEAKPROOF (``split_part`` with a
constant field number never raises), in PL/pgSQL so that the planner keeps
it whole rather than inlining ``split_part`` back; both indexes on it are
rebuilt.

Declaring a function leakproof takes a superuser. A deployment that
migrates as another role gets the same function without the declaration:
lookups stay right but walk the table, and the upgrade says so
(docs/deployment.md).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_FUNCTION = """
CREATE OR REPLACE FUNCTION identity_serial(identity_key text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE {leakproof} AS $$
BEGIN
    RETURN split_part(identity_key, chr(31), 2);
END
$$
"""


def _rebuild_indexes(expression: str) -> None:
    op.drop_index("ix_registrations_identity_serial_created", table_name="registrations")
    op.create_index(
        "ix_registrations_identity_serial_created",
        "registrations",
        [sa.text(expression), "created_at", "id"],
    )
    op.drop_index("ix_device_claims_identity_serial", table_name="device_claims")
    op.create_index("ix_device_claims_identity_serial", "device_claims", [sa.text(expression)])


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    superuser = bind.execute(
        sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    ).scalar()
    op.execute(_FUNCTION.format(leakproof="LEAKPROOF" if superuser else ""))
    if not superuser:
        logging.getLogger("alembic").warning(
            "identity_serial(text) is not declared LEAKPROOF (that takes a superuser): "
            "support's lookup by serial number reads the whole registrations table until "
            "a superuser runs ALTER FUNCTION identity_serial(text) LEAKPROOF "
            "(docs/deployment.md)"
        )
    _rebuild_indexes("identity_serial(identity_key)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _rebuild_indexes("split_part(identity_key, chr(31), 2)")
    op.execute("DROP FUNCTION identity_serial(text)")
