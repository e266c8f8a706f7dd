"""Counters are locked last, so they add no deadlock: a revoke that closes
several orders while another transaction holds one of them (as a chunk's
worker closing that order does) waits for it, instead of holding the
partner's order totals that this other transaction needs next.

Row locks that wait on each other exist only on PostgreSQL (SQLite has one
writer): the test runs when TEST_DATABASE_URL points at PostgreSQL.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from sqlalchemy import select, text

from tenants import db
from tenants.models import NO_PARTNER, Order, Relationship
from tenants.registration import orders, revocation
from tenants.scoping import Scope, scoped, unscoped
from tests.factories import assert_counters_exact, device, partner_with_customer, submit, unique

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith(("postgresql", "postgres://")),
    reason="row locks wait on each other only on PostgreSQL",
)


def _waiting_for_a_lock() -> int:
    with db.engine().connect() as connection:
        # As the login user: the service's role may not see others' wait events.
        connection.execute(text("SET LOCAL ROLE NONE"))
        return connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        )


def test_a_revoke_waits_for_an_order_without_holding_the_totals_its_closer_needs(settings):
    partner, tenant = partner_with_customer()
    queued = sorted(
        submit(tenant, [device() for _ in range(3)], partner).order.id for _ in range(3)
    )
    with unscoped("test: find the relationship"), db.transaction() as session:
        relationship_id = session.scalars(
            select(Relationship.id).where(
                Relationship.partner_id == partner.id, Relationship.tenant_id == tenant.id
            )
        ).one()

    # Another transaction holds the order the revoke closes last. (NO KEY
    # UPDATE: the revoke's new counter rows of that order may still refer to
    # it; what it waits for is closing the order.)
    closer = db.engine().connect()
    closer_transaction = closer.begin()
    with unscoped("test: hold the order as its closer would"):
        closer.execute(text("SET LOCAL lock_timeout = '5s'"))
        closer.execute(
            text("SELECT id FROM orders WHERE id = :id FOR NO KEY UPDATE"), {"id": queued[-1]}
        )

    outcome: list[BaseException | None] = []

    def revoke() -> None:
        try:
            with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
                revocation.change_relationship(session, relationship_id, "revoke", unique("req"))
            outcome.append(None)
        except BaseException as exc:  # reported below
            outcome.append(exc)

    revoking = threading.Thread(target=revoke)
    revoking.start()
    deadline = time.monotonic() + 30
    while not _waiting_for_a_lock():
        assert time.monotonic() < deadline, "the revoke never waited for the held order"
        assert revoking.is_alive(), outcome
        time.sleep(0.05)

    # What the order's closer does next: move the partner's order totals.
    # The revoke has closed the first two orders by now, and must not hold them.
    with unscoped("test: move the totals as the closer would"):
        closer.execute(
            text(
                "UPDATE order_totals SET count = count "
                "WHERE tenant_id = :tenant AND partner_key = :partner"
            ),
            {"tenant": tenant.id, "partner": partner.id or NO_PARTNER},
        )
    closer_transaction.commit()
    closer.close()
    revoking.join(timeout=60)

    assert outcome == [None]
    with unscoped("test: read the orders"), db.transaction() as session:
        statuses = [session.get(Order, pk).status for pk in queued]
    assert statuses == [orders.FAILED] * 3
    assert_counters_exact([tenant.id])
