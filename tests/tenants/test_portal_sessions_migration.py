"""Migration 0009 on a database that has portal users already: their
addresses take the normal form sign-in looks up, without merging two people,
and the sessions table arrives empty. On the test database's backend, in a
database (SQLite) or schema (PostgreSQL) of its own."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from tenants import db
from tenants.migrate import upgrade

SCHEMA = "migration_0009_test"


@pytest.fixture
def scratch_url(settings, tmp_path):
    url = settings.database_url
    if not url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'migration.sqlite3'}"
        return
    engine = db.make_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{SCHEMA}"
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    engine.dispose()


def test_addresses_take_the_normal_form_and_sessions_start_empty(scratch_url):
    upgrade(scratch_url, "0006")
    engine = db.make_engine(scratch_url)
    addresses = {
        "spaced": "  Ann@Example.test ",
        "full-width": "\uff42\uff4f\uff42@example.test",
        "already": "carol@example.test",
        # Two people whose addresses meet in the normal form: neither is merged.
        "taken": "dave@example.test",
        "clash": "ｄave@example.test",
    }
    ids = {name: uuid.uuid4() for name in addresses}
    with engine.begin() as connection:
        for name, email in addresses.items():
            connection.execute(
                text(
                    "INSERT INTO portal_users (id, email, password_hash, principal_kind, "
                    "created_at) VALUES (:id, :email, 'x', 'support', :now)"
                ),
                {
                    "id": ids[name].hex if "sqlite" in scratch_url else ids[name],
                    "email": email,
                    "now": datetime.now(UTC),
                },
            )

    upgrade(scratch_url)

    with engine.connect() as connection:
        stored = dict(connection.execute(text("SELECT email, id FROM portal_users")).all())
        sessions = connection.execute(text("SELECT count(*) FROM portal_sessions")).scalar()
    engine.dispose()
    assert set(stored) == {
        "ann@example.test",
        "bob@example.test",
        "carol@example.test",
        "dave@example.test",
        "ｄave@example.test",
    }
    assert sessions == 0
