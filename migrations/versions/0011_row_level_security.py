"""row-level security on the tenant-owned tables (PostgreSQL)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 09:00:00

A backstop under the ORM's tenant filter (tenants/scoping.py), for what
bypasses it: raw SQL, COPY, a filter someone forgot.

- The role ``partner_api_app`` (NOLOGIN), created when missing: the service
  takes it on every connection (``SET ROLE``, tenants/db.py), so its queries
  are subject to row security even when it logs in as a superuser or as the
  tables' owner. It may read and write every table, nothing more (no DDL).
  When the migrating user is not a superuser, it is made a member so it may
  take the role (docs/deployment.md).
- On ``relationships``, ``orders`` and ``registrations``: ROW LEVEL SECURITY
  enabled and forced (the owner too), and one policy for every command: a
  row is visible and writable when its ``tenant_id`` is the transaction's
  ``partner_api.tenant_id``, or its ``partner_id`` is
  ``partner_api.partner_id``, or ``partner_api.scope`` is ``unscoped``. With
  none of them set, nothing is.

Nothing on SQLite. The downgrade takes the policies and the grants away but
keeps the role: roles belong to the whole server, and another database may
use it.
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ROLE = "partner_api_app"
TABLES = ("relationships", "orders", "registrations")
POLICY = "tenant_scope"

# Each setting is read once per statement (a scalar subquery becomes an
# InitPlan), not once per row.
_PREDICATE = (
    "(SELECT current_setting('partner_api.scope', true)) = 'unscoped'"
    " OR tenant_id = (SELECT nullif(current_setting('partner_api.tenant_id', true), '')::uuid)"
    " OR partner_id = (SELECT nullif(current_setting('partner_api.partner_id', true), '')::uuid)"
)

_CREATE_ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
        BEGIN
            CREATE ROLE {ROLE} NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- another database's migration created it meanwhile
        END;
    END IF;
    IF NOT pg_has_role(current_user, '{ROLE}', 'MEMBER') THEN
        BEGIN
            EXECUTE format('GRANT {ROLE} TO %I', current_user);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE WARNING 'cannot make % a member of {ROLE}', current_user
                USING HINT = 'The service must be able to SET ROLE {ROLE}: '
                             'GRANT {ROLE} TO <its login role> (docs/deployment.md).';
        END;
    END IF;
END
$$
"""

_TABLE_RIGHTS = "SELECT, INSERT, UPDATE, DELETE"


def _schema() -> str:
    bind = op.get_bind()
    name = bind.exec_driver_sql("SELECT current_schema()").scalar_one()
    return bind.dialect.identifier_preparer.quote(name)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    schema = _schema()
    op.execute(_CREATE_ROLE)
    op.execute(f"GRANT USAGE ON SCHEMA {schema} TO {ROLE}")
    op.execute(f"GRANT {_TABLE_RIGHTS} ON ALL TABLES IN SCHEMA {schema} TO {ROLE}")
    op.execute(f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {ROLE}")
    # Tables and sequences later migrations create get the same rights.
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT {_TABLE_RIGHTS} ON TABLES TO {ROLE}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {ROLE}"
    )
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {POLICY} ON {table} USING ({_PREDICATE}) WITH CHECK ({_PREDICATE})"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    schema = _schema()
    for table in TABLES:
        op.execute(f"DROP POLICY IF EXISTS {POLICY} ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE {_TABLE_RIGHTS} ON TABLES FROM {ROLE}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE USAGE, SELECT ON SEQUENCES FROM {ROLE}"
    )
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA {schema} FROM {ROLE}")
