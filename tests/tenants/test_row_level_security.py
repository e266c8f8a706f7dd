"""Row-level security on PostgreSQL: the backstop under the ORM's tenant filter.

Raw SQL, a raw psycopg cursor and COPY pass the ORM scoping by
(tenants/scoping.py); the policies of migration 0011 hold them to the same
scope, on the real database, as the service's own role."""

from __future__ import annotations

import os
import uuid

import pytest
from alembic import command
from sqlalchemy import make_url, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tenants import db
from tenants.access import organisations
from tenants.migrate import alembic_config, upgrade
from tenants.models import Order, Registration, utcnow
from tenants.registration.orders import RegistrationWriter
from tenants.scoping import Scope, scoped, unscoped

pytestmark = pytest.mark.skipif(
    not os.environ["DATABASE_URL"].startswith("postgresql"),
    reason="row-level security is PostgreSQL's; on SQLite the ORM's tenant filter is the only one",
)

TABLES = ("relationships", "orders", "registrations")


class Two:
    """Tenant A, with an order placed by partner P (an active relationship),
    and tenant B, with an order of its own; two rows in each order."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.partner = organisations.create_partner(f"RLS partner {tag}").id
        self.a = organisations.create_tenant(f"RLS A {tag}").id
        self.b = organisations.create_tenant(f"RLS B {tag}").id
        organisations.activate_relationship(self.partner, self.a)
        self.a_order = self._order(Scope.partner(self.partner), self.a, self.partner)
        self.b_order = self._order(Scope.tenant(self.b), self.b, None)

    @staticmethod
    def _order(scope: Scope, tenant_id: uuid.UUID, partner_id: uuid.UUID | None) -> uuid.UUID:
        with scoped(scope), db.transaction() as session:
            order = Order(tenant_id=tenant_id, partner_id=partner_id, request_id="rls-test")
            session.add(order)
            session.flush()
            for index in range(2):
                session.add(
                    Registration(
                        tenant_id=tenant_id,
                        partner_id=partner_id,
                        order_pk=order.id,
                        line_index=index,
                        line=index + 2,
                        serial_number=f"RLS-{index}",
                        request_id="rls-test",
                    )
                )
        return order.id


@pytest.fixture
def two(settings) -> Two:
    return Two()


def _tenants_seen(session, table: str) -> set[uuid.UUID]:
    return set(session.scalars(text(f"SELECT DISTINCT tenant_id FROM {table}")).all())


def _count(connection, table: str) -> int:
    return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_the_service_queries_as_its_own_role_under_row_security(two):
    with db.transaction() as session:
        assert session.scalar(text("SELECT current_user")) == db.APP_ROLE
        for table in TABLES:
            assert session.scalar(text(f"SELECT row_security_active('{table}')")) is True


def test_raw_sql_outside_any_scope_sees_no_tenants_rows(two):
    with unscoped("test: the rows exist"), db.transaction() as session:
        assert all(_count(session, table) > 0 for table in TABLES)
    with db.transaction() as session:
        for table in TABLES:
            assert _count(session, table) == 0, table
    with db.engine().connect() as connection:
        for table in TABLES:
            assert _count(connection, table) == 0, table


def test_a_raw_psycopg_cursor_and_copy_outside_any_scope_see_nothing(two):
    raw = db.engine().raw_connection()
    try:
        with raw.driver_connection.cursor() as cursor:
            for table in TABLES:
                cursor.execute(f"SELECT count(*) FROM {table}")
                assert cursor.fetchone() == (0,), table
                with cursor.copy(f"COPY {table} TO STDOUT") as copy:
                    assert list(copy.rows()) == [], table
            # Nor may rows be copied in: PostgreSQL refuses COPY FROM under row security.
            with pytest.raises(Exception, match="row-level security"):  # noqa: PT011
                with cursor.copy("COPY orders (id) FROM STDIN") as copy:
                    copy.write_row((uuid.uuid4(),))
    finally:
        raw.rollback()
        raw.close()


def test_raw_sql_in_a_tenants_scope_sees_only_that_tenants_rows(two):
    with scoped(Scope.tenant(two.a)), db.transaction() as session:
        for table in TABLES:
            assert _tenants_seen(session, table) == {two.a}, table
        assert (
            session.scalar(
                text("SELECT count(*) FROM registrations WHERE order_pk = :o"), {"o": two.b_order}
            )
            == 0
        )
        # COPY on the session's own connection, as the order ingest uses it.
        with db.driver_connection(session).cursor() as cursor:
            with cursor.copy("COPY (SELECT tenant_id FROM registrations) TO STDOUT") as copy:
                seen = {uuid.UUID(row[0]) for row in copy.rows()}
        assert seen == {two.a}


def test_a_partners_scope_sees_only_the_partners_rows(two):
    with scoped(Scope.partner(two.partner)), db.transaction() as session:
        rows = session.execute(text("SELECT tenant_id, partner_id FROM orders")).all()
    assert rows == [(two.a, two.partner)]


def test_unscoped_sees_every_tenant(two):
    with unscoped("test: read across tenants"), db.transaction() as session:
        for table in ("orders", "registrations"):
            assert {two.a, two.b} <= _tenants_seen(session, table)


def test_writing_another_tenants_rows_in_a_scope_is_refused(two):
    insert = text(
        "INSERT INTO orders (id, tenant_id, request_id, status, source_format, row_count, "
        "created_at) VALUES (:id, :tenant, 'rls-test', 'accepted', 'json', 0, now())"
    )
    with pytest.raises(DBAPIError, match="row-level security"):
        with scoped(Scope.tenant(two.a)), db.transaction() as session:
            session.execute(insert, {"id": uuid.uuid4(), "tenant": two.b})
    with pytest.raises(DBAPIError, match="row-level security"):
        with scoped(Scope.tenant(two.a)), db.transaction() as session:
            session.execute(
                text("UPDATE orders SET tenant_id = :b WHERE id = :o"),
                {"b": two.b, "o": two.a_order},
            )
    # Another tenant's row is not there to change.
    with scoped(Scope.tenant(two.a)), db.transaction() as session:
        changed = session.execute(
            text("UPDATE orders SET status = 'failed' WHERE id = :o"), {"o": two.b_order}
        )
        assert db.affected_rows(changed) == 0
        session.execute(insert, {"id": uuid.uuid4(), "tenant": two.a})  # its own: allowed


def test_the_copy_ingest_refuses_a_row_of_another_tenant(two):
    now = utcnow()

    def row(tenant_id: uuid.UUID, index: int) -> dict:
        return {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "order_pk": two.b_order,
            "line_index": 100 + index,
            "line": 1,
            "state": "registration_pending",
            "request_id": "rls-test",
            "created_at": now,
            "updated_at": now,
        }

    with pytest.raises(DBAPIError, match="row-level security"):
        with scoped(Scope.tenant(two.a)), db.transaction() as session:
            with RegistrationWriter(session) as writer:
                writer.write(row(two.b, 0))
    # The same writer, in B's scope, writes B's rows.
    with scoped(Scope.tenant(two.b)), db.transaction() as session:
        with RegistrationWriter(session) as writer:
            writer.write(row(two.b, 1))
        count = select(Registration.id).where(Registration.order_pk == two.b_order)
        assert len(session.scalars(count).all()) == 3


def test_the_scope_ends_with_its_transaction_and_its_block(two):
    with db.engine().connect() as connection:
        with scoped(Scope.tenant(two.a)):
            assert _count(connection, "orders") > 0
            connection.commit()
        # Same connection, next transaction, no scope.
        assert _count(connection, "orders") == 0
        connection.rollback()
        with scoped(Scope.tenant(two.a)):
            assert _count(connection, "orders") > 0
        # Same transaction, after the scope's block.
        assert _count(connection, "orders") == 0
        connection.rollback()


def test_maintenance_may_run_as_the_login_user_for_one_transaction(two):
    with db.transaction() as session:
        db.as_login_role(session)
        assert session.scalar(text("SELECT current_user")) == session.scalar(
            text("SELECT session_user")
        )
    with db.transaction() as session:
        assert session.scalar(text("SELECT current_user")) == db.APP_ROLE


SCHEMA = "migration_0011_test"


@pytest.fixture
def scratch_url(settings):
    engine = db.make_engine(settings.database_url)
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    url = settings.database_url
    yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{SCHEMA}"
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    engine.dispose()


def _security(url: str) -> dict[str, tuple[bool, bool, int, bool]]:
    """Per table: RLS enabled, forced, how many policies, and whether the role may read it."""
    engine = db.make_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
                "(SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid), "
                "has_table_privilege(:role, c.oid, 'SELECT') "
                "FROM pg_class c WHERE c.relnamespace = CAST(:schema AS regnamespace) "
                "AND c.relname = ANY(:tables)"
            ),
            {"role": db.APP_ROLE, "schema": SCHEMA, "tables": list(TABLES)},
        ).all()
    engine.dispose()
    return {row[0]: tuple(row[1:]) for row in rows}


def test_the_migration_goes_up_down_and_up_again(scratch_url):
    upgrade(scratch_url, "head")
    assert _security(scratch_url) == dict.fromkeys(TABLES, (True, True, 1, True))
    command.downgrade(alembic_config(scratch_url), "0010")
    assert _security(scratch_url) == dict.fromkeys(TABLES, (False, False, 0, False))
    upgrade(scratch_url, "head")
    assert _security(scratch_url) == dict.fromkeys(TABLES, (True, True, 1, True))


@pytest.fixture
def owner_url(settings):
    """A user that is no superuser and owns the tables, as docs/deployment.md
    sets one up: a member of the service's role, owning a schema of its own."""
    login = f"partner_api_rls_{uuid.uuid4().hex[:8]}"
    schema = f"{login}_schema"
    admin = db.make_engine(settings.database_url)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE ROLE {login} LOGIN"))
        connection.execute(text(f"GRANT {db.APP_ROLE} TO {login}"))
        connection.execute(text(f"CREATE SCHEMA {schema} AUTHORIZATION {login}"))
    url = make_url(settings.database_url).set(
        username=login, password=None, query={"options": f"-csearch_path={schema}"}
    )
    yield url.render_as_string(hide_password=False)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        connection.execute(text(f"DROP OWNED BY {login}"))
        connection.execute(text(f"DROP ROLE {login}"))
    admin.dispose()


def test_an_owner_that_is_no_superuser_is_held_too(owner_url):
    upgrade(owner_url, "0010")
    owner = db.make_engine(owner_url)
    tenant = uuid.uuid4()
    with owner.begin() as connection:
        connection.execute(
            text("INSERT INTO tenants (id, name, created_at) VALUES (:t, 'T', now())"),
            {"t": tenant},
        )
        connection.execute(
            text(
                "INSERT INTO orders (id, tenant_id, request_id, status, source_format, "
                "row_count, created_at) VALUES (:id, :t, 'r', 'accepted', 'json', 0, now())"
            ),
            {"id": uuid.uuid4(), "t": tenant},
        )
    upgrade(owner_url, "head")
    service = db.make_engine(owner_url, role=db.APP_ROLE)
    try:
        # Row security is forced: the tables' owner sees no row outside a scope either.
        with owner.connect() as connection:
            assert _count(connection, "orders") == 0
        with service.connect() as connection:
            assert connection.execute(text("SELECT current_user")).scalar() == db.APP_ROLE
            assert _count(connection, "orders") == 0
            with scoped(Scope.tenant(tenant)):
                assert _count(connection, "orders") == 1
            connection.rollback()
            with unscoped("test: every tenant"):
                assert _count(connection, "orders") == 1
            connection.rollback()
        with Session(service) as session, session.begin():
            db.as_login_role(session)
            assert session.scalar(text("SELECT current_user")) != db.APP_ROLE
            session.execute(text("ANALYZE orders"))  # only the owner may
    finally:
        owner.dispose()
        service.dispose()
