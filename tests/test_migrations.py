"""Migrations carry existing data: relationships approved before
``approved_at`` existed keep showing their customer's name to the partner."""

from __future__ import annotations

import os
import tempfile
import uuid
from datetime import UTC, datetime

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
