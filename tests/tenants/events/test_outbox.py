"""The outbox: an event is written in its change's transaction, so it rolls
back with it; the feed is scoped like every tenant-owned table, down to
row-level security on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from tenants import db
from tenants.access import organisations, relationships
from tenants.models import Event, utcnow
from tenants.registration import devices, revocation
from tenants.scoping import Scope, scoped, unscoped
from tests.factories import assert_counters_exact, registered_devices


def _events_about(relationship_tenant: uuid.UUID) -> list[str]:
    with unscoped("test: every event of the tenant"), db.transaction() as session:
        return list(
            session.scalars(
                select(Event.type)
                .where(Event.tenant_id == relationship_tenant)
                .order_by(Event.created_at)
            )
        )


def test_an_event_is_written_with_its_change_and_rolls_back_with_it(settings):
    partner = organisations.create_partner("Outbox partner").id
    tenant = organisations.create_tenant("Outbox tenant").id
    with scoped(Scope.partner(partner)), pytest.raises(RuntimeError):
        with db.transaction() as session:
            relationships.request_relationship(session, partner, tenant, "req-rolled-back")
            assert session.scalar(select(func.count()).select_from(Event)) == 1
            raise RuntimeError("the change fails after the event was written")
    assert _events_about(tenant) == []

    with scoped(Scope.partner(partner)), db.transaction() as session:
        relationships.request_relationship(session, partner, tenant, "req-kept")
    assert _events_about(tenant) == ["relationship.requested"]


def test_a_decision_that_changes_nothing_writes_no_event(settings):
    partner = organisations.create_partner("Outbox partner").id
    tenant = organisations.create_tenant("Outbox tenant").id
    with scoped(Scope.partner(partner)), db.transaction() as session:
        relationship = relationships.request_relationship(session, partner, tenant, "req-1")
    for _ in range(2):
        with scoped(Scope.tenant(tenant)), db.transaction() as session:
            revocation.change_relationship(session, relationship.id, "approve", "req-2")
    assert _events_about(tenant) == ["relationship.requested", "relationship.approved"]


@pytest.mark.skipif(
    not os.environ["DATABASE_URL"].startswith("postgresql"),
    reason="row-level security is PostgreSQL's",
)
def test_row_security_holds_raw_sql_on_events_to_the_scope(settings):
    partner = organisations.create_partner("RLS events partner").id
    a = organisations.create_tenant("RLS events A").id
    b = organisations.create_tenant("RLS events B").id
    for tenant in (a, b):
        with scoped(Scope.partner(partner)), db.transaction() as session:
            relationships.request_relationship(session, partner, tenant, "req-rls")
    tables = ("events", "webhook_endpoints", "webhook_deliveries", "webhook_attempts")
    with db.transaction() as session:
        for table in tables:
            assert session.scalar(text(f"SELECT count(*) FROM {table}")) == 0, table
    with scoped(Scope.tenant(a)), db.transaction() as session:
        seen = set(session.scalars(text("SELECT DISTINCT tenant_id FROM events")))
        assert seen == {a}
    with scoped(Scope.partner(partner)), db.transaction() as session:
        assert set(session.scalars(text("SELECT DISTINCT tenant_id FROM events"))) == {a, b}
        assert set(session.scalars(text("SELECT DISTINCT partner_id FROM events"))) == {partner}


def _device_events(tenant_id: uuid.UUID) -> list[tuple[str, str]]:
    """(type, device id) of the tenant's device events, oldest first."""
    with unscoped("test: the tenant's device events"), db.transaction() as session:
        return [
            (event.type, event.data["id"])
            for event in session.scalars(
                select(Event)
                .where(Event.tenant_id == tenant_id, Event.type.like("device.%"))
                .order_by(Event.created_at, Event.id)
            )
        ]


def test_a_device_gone_silent_is_told_inactive_once_until_it_is_seen_again(settings):
    tenant = organisations.create_tenant("Silent devices")
    quiet, recent, long_gone, never_seen = registered_devices(tenant, 4)
    now = utcnow()
    with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
        for device_id, days_ago in ((quiet, 8), (recent, 1), (long_gone, 30)):
            devices.check_in(
                session,
                uuid.UUID(device_id),
                seen_at=now - timedelta(days=days_ago),
                user=None,
                request_id="req-check-in",
            )
    before = _device_events(tenant.id)
    assert before == [("device.active", recent)]  # only its check-in made it active

    # The sweep tells the device whose silence just left the 7-day window;
    # one silent for longer than the sweep looks back was inactive already.
    # (The sweep covers every tenant: other tests' devices may be told too.)
    for _ in range(3):  # once, however often the sweep runs
        with db.transaction() as session:
            devices.record_gone_inactive(session, now)
        assert _device_events(tenant.id) == [*before, ("device.inactive", quiet)]
    with db.transaction() as session:
        assert devices.record_gone_inactive(session, now) == 0  # nothing left untold

    # Seen again, it is active; silent again, a new event tells it.
    with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
        devices.check_in(session, uuid.UUID(quiet), seen_at=now, user=None, request_id="req-back")
    later = now + timedelta(days=7, hours=1)
    with db.transaction() as session:
        assert devices.record_gone_inactive(session, later) >= 2
    events = _device_events(tenant.id)
    assert events[-3] == ("device.active", quiet)
    assert sorted(events[-2:]) == sorted([("device.inactive", quiet), ("device.inactive", recent)])
    assert never_seen not in {device for _, device in events}
    assert_counters_exact([tenant.id])
