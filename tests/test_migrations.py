"""Migrations carry existing data: relationships approved before
``approved_at`` existed keep showing their customer's name to the partner;
the counters of 0012 start from the rows stored before it."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from tenants.db import make_engine
from tenants.migrate import alembic_config, upgrade


@pytest.fixture
def database_url():
    """A database of its own: a temporary SQLite file, or the test PostgreSQL
    database's schema dropped afterwards (the session's tests rebuild theirs)."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if url.startswith("postgresql"):
        pytest.skip("runs on SQLite: the PostgreSQL test database holds the session's schema")
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{folder}/migrations.sqlite3"


def test_0010_carries_approvals_over(database_url):
    upgrade(database_url, "0006")
    engine = make_engine(database_url)
    partner, tenant = uuid.uuid4().hex, uuid.uuid4().hex  # as SQLite stores UUIDs
    active, revoked_after_approval, revoked_pending, pending = (uuid.uuid4().hex for _ in range(4))
    decided = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    approved = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)
    metadata = sa.MetaData()
    metadata.reflect(engine)
    tables = metadata.tables
    with engine.begin() as connection:
        connection.execute(
            tables["partners"].insert(), {"id": partner, "name": "P", "created_at": decided}
        )
        connection.execute(
            tables["tenants"].insert(), {"id": tenant, "name": "T", "created_at": decided}
        )
        for i, (relationship_id, status) in enumerate(
            (
                (active, "active"),
                (revoked_after_approval, "revoked"),
                (revoked_pending, "revoked"),
                (pending, "pending"),
            )
        ):
            # One partner-tenant pair per row: each gets a partner of its own.
            owner = partner if i == 0 else uuid.uuid4().hex
            if i:
                connection.execute(
                    tables["partners"].insert(),
                    {"id": owner, "name": f"P{i}", "created_at": decided},
                )
            connection.execute(
                tables["relationships"].insert(),
                {
                    "id": relationship_id,
                    "partner_id": owner,
                    "tenant_id": tenant,
                    "status": status,
                    "requested_at": approved,
                    "decided_at": None if status == "pending" else decided,
                },
            )
        connection.execute(
            tables["audit_events"].insert(),
            {
                "at": approved,
                "actor": "tenant",
                "action": "relationship.active",
                "object_type": "relationship",
                "object_id": str(uuid.UUID(revoked_after_approval)),
            },
        )
    engine.dispose()

    upgrade(database_url, "0010")

    engine = make_engine(database_url)
    with engine.connect() as connection:
        rows = dict(connection.execute(sa.text("SELECT id, approved_at FROM relationships")).all())
    engine.dispose()
    by_id = {uuid.UUID(str(k)).hex: v for k, v in rows.items()}
    assert by_id[active] is not None
    assert by_id[revoked_after_approval] is not None
    assert by_id[revoked_pending] is None
    assert by_id[pending] is None

    # And back down, and up again.
    command.downgrade(alembic_config(database_url), "0006")
    upgrade(database_url, "0010")


@pytest.fixture
def any_database_url():
    """A database of its own on either backend: a temporary SQLite file, or on
    PostgreSQL a schema of its own in the test database, dropped afterwards."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/migrations.sqlite3"
        return
    schema = f"migrations_{uuid.uuid4().hex[:12]}"
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def test_0012_counts_the_rows_stored_before_it_exactly(any_database_url):
    from tenants.registration.counters import seen_day

    url = any_database_url
    upgrade(url, "0010")
    engine = make_engine(url)
    metadata = sa.MetaData()
    metadata.reflect(engine)
    tables = metadata.tables
    now = datetime.now(UTC)
    partner, tenant, other_tenant = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    # (tenant, partner, status, rows: (state, error code, last seen))
    orders = [
        (
            tenant,
            partner,
            "completed_with_errors",
            [("ready_for_user", None, None)] * 3
            + [("ready_for_user", None, now), ("ready_for_user", None, now - timedelta(days=9))]
            + [("deregistered", None, now - timedelta(days=1))]
            + [("registration_failed", "device_claimed_by_another_organization", None)] * 2
            + [("registration_failed", "hardware_hash_invalid", None)],
        ),
        (tenant, None, "processing", [("registration_pending", None, None)] * 4),
        (tenant, partner, "completed", [("ready_for_user", None, now)] * 2),
        (other_tenant, None, "failed", [("registration_failed", "device_not_found", None)]),
        (other_tenant, None, "accepted", []),
    ]
    expected_counts, expected_seen, expected_totals, expected_statuses = (
        Counter(),
        Counter(),
        Counter(),
        Counter(),
    )
    with engine.begin() as connection:
        connection.execute(
            tables["partners"].insert(), {"id": partner.hex, "name": "P", "created_at": now}
        )
        for tenant_id in (tenant, other_tenant):
            connection.execute(
                tables["tenants"].insert(), {"id": tenant_id.hex, "name": "T", "created_at": now}
            )
        for tenant_id, partner_id, status, rows in orders:
            order_id = uuid.uuid4()
            connection.execute(
                tables["orders"].insert(),
                {
                    "id": order_id.hex,
                    "tenant_id": tenant_id.hex,
                    "partner_id": partner_id.hex if partner_id else None,
                    "request_id": "r",
                    "status": status,
                    "source_format": "json",
                    "row_count": len(rows),
                    "created_at": now,
                },
            )
            partner_key = partner_id or uuid.UUID(int=0)
            expected_statuses[tenant_id, partner_key, status] += 1
            for index, (state, error_code, seen) in enumerate(rows):
                connection.execute(
                    tables["registrations"].insert(),
                    {
                        "id": uuid.uuid4().hex,
                        "tenant_id": tenant_id.hex,
                        "partner_id": partner_id.hex if partner_id else None,
                        "order_pk": order_id.hex,
                        "request_id": "r",
                        "line_index": index,
                        "line": index + 2,
                        "state": state,
                        "error_code": error_code,
                        "last_seen_at": seen,
                        "created_at": now,
                        "updated_at": now,
                    },
                )
                expected_counts[order_id, state, error_code or ""] += 1
                expected_totals[tenant_id, partner_key, state, error_code or ""] += 1
                if state == "ready_for_user" and seen is not None:
                    expected_seen[order_id, seen_day(seen)] += 1
    engine.dispose()

    upgrade(url)

    def key(value) -> uuid.UUID:
        return uuid.UUID(str(value))

    engine = make_engine(url)
    with engine.connect() as connection:
        counts = {
            (key(o), s, e): n
            for o, s, e, n in connection.execute(
                sa.text("SELECT order_id, state, error_code, count FROM order_counts")
            )
        }
        seen = {
            (key(o), d): n
            for o, d, n in connection.execute(
                sa.text("SELECT order_id, seen_day, count FROM order_check_ins")
            )
        }
        totals = {
            (key(t), key(p), s, e): n
            for t, p, s, e, n in connection.execute(
                sa.text(
                    "SELECT tenant_id, partner_key, state, error_code, count "
                    "FROM registration_totals"
                )
            )
        }
        statuses = {
            (key(t), key(p), s): n
            for t, p, s, n in connection.execute(
                sa.text("SELECT tenant_id, partner_key, status, count FROM order_totals")
            )
        }
    engine.dispose()
    assert counts == dict(expected_counts)
    assert seen == dict(expected_seen)
    assert totals == dict(expected_totals)
    assert statuses == dict(expected_statuses)

    # And back down, and up again.
    command.downgrade(alembic_config(url), "0010")
    upgrade(url)


def test_0017_counts_the_days_of_the_rows_stored_before_it(any_database_url):
    from tenants.registration.counters import seen_day

    url = any_database_url
    upgrade(url, "0016")
    engine = make_engine(url)
    metadata = sa.MetaData()
    metadata.reflect(engine, only=("partners", "tenants", "orders", "registrations"))
    tables = metadata.tables
    now = datetime.now(UTC)
    earlier = now - timedelta(days=3)
    partner, tenant, order = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    # (state, error code, registered, updated, last seen)
    rows = [
        ("ready_for_user", None, earlier, earlier, now),
        ("ready_for_user", None, earlier, earlier, None),
        ("deregistered", None, now, now, earlier),  # seen, but no longer ready
        ("registration_failed", "device_not_found", None, earlier, None),
        ("registration_pending", None, None, now, None),
    ]
    with engine.begin() as connection:
        connection.execute(
            tables["partners"].insert(), {"id": partner.hex, "name": "P", "created_at": now}
        )
        connection.execute(
            tables["tenants"].insert(), {"id": tenant.hex, "name": "T", "created_at": now}
        )
        connection.execute(
            tables["orders"].insert(),
            {
                "id": order.hex,
                "tenant_id": tenant.hex,
                "partner_id": partner.hex,
                "request_id": "r",
                "status": "processing",
                "source_format": "json",
                "row_count": len(rows),
                "created_at": now,
            },
        )
        for index, (state, error_code, registered, updated, seen) in enumerate(rows):
            connection.execute(
                tables["registrations"].insert(),
                {
                    "id": uuid.uuid4().hex,
                    "tenant_id": tenant.hex,
                    "partner_id": partner.hex,
                    "order_pk": order.hex,
                    "request_id": "r",
                    "line_index": index,
                    "line": index + 2,
                    "state": state,
                    "error_code": error_code,
                    "registered_at": registered,
                    "last_seen_at": seen,
                    "created_at": earlier,
                    "updated_at": updated,
                },
            )
    engine.dispose()

    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as connection:
        days = {
            (uuid.UUID(str(t)), uuid.UUID(str(p)), kind, day, code): n
            for t, p, kind, day, code, n in connection.execute(
                sa.text(
                    "SELECT tenant_id, partner_key, kind, day, error_code, count FROM daily_totals"
                )
            )
        }
    engine.dispose()
    key = (tenant, partner)
    assert days == {
        (*key, "registered", seen_day(earlier), ""): 2,
        (*key, "registered", seen_day(now), ""): 1,
        (*key, "failed", seen_day(earlier), "device_not_found"): 1,
        (*key, "seen", seen_day(now), ""): 1,
    }
    command.downgrade(alembic_config(url), "0016")
    upgrade(url)
