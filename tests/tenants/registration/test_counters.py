"""The counters kept as rows change equal counting the rows: after a
submission, its chunks, a revoke, check-ins and a deregistration, and a
sweep; an order's counts split ready_for_user into active and inactive
exactly as the device list's SQL does, the day the window starts included."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from tenants import db, outcomes
from tenants.models import Order, Registration, Relationship, utcnow
from tenants.registration import counters, devices, orders, revocation
from tenants.scoping import Scope, scoped, unscoped
from tests.factories import (
    assert_counters_exact,
    device,
    new_tenant,
    order_of,
    partner_with_customer,
    process,
    registrations,
    submit,
    unique,
)

pytestmark = pytest.mark.usefixtures("settings")


def counted(order_pk: uuid.UUID, now: datetime) -> dict:
    """An order's counts as counting its rows says (what order_counts read before counters)."""
    state = outcomes.effective_state_sql(now)
    with unscoped("test: count an order's rows"), db.transaction() as session:
        rows = session.execute(
            select(state, Registration.error_code, func.count())
            .where(Registration.order_pk == order_pk)
            .group_by(state, Registration.error_code)
        ).all()
    by_state: dict[str, int] = {}
    by_error: dict[str, int] = {}
    for shown, error_code, n in rows:
        by_state[shown] = by_state.get(shown, 0) + n
        if error_code:
            by_error[error_code] = by_error.get(error_code, 0) + n
    return {"by_state": by_state, "by_error_code": by_error}


def kept(tenant, order_pk: uuid.UUID, now: datetime | None = None) -> dict:
    with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
        if now is None:
            return orders.order_counts(session, order_pk)
        return counters.order_counts(session, [order_pk], now)[order_pk].as_dict()


def test_an_order_counts_every_outcome_of_its_chunks():
    partner, tenant = partner_with_customer()
    other = new_tenant()
    elsewhere, held, twice = unique("SN"), unique("SN"), unique("SN")
    process(submit(other, [device(elsewhere)]))
    process(submit(tenant, [device(held)], partner))
    rows = [device() for _ in range(5)]
    rows += [device(elsewhere), device(held), device(twice), device(twice)]
    rows += [{"hardware_hash": "junk"}]
    result = submit(tenant, rows, partner, chunk_size=3)
    order_pk = result.order.id

    assert_counters_exact([tenant.id, other.id])
    assert kept(tenant, order_pk) == counted(order_pk, utcnow())
    process(result)

    assert_counters_exact([tenant.id, other.id])
    counts = kept(tenant, order_pk)
    assert counts == counted(order_pk, utcnow())
    assert counts["by_state"] == {outcomes.READY: 6, outcomes.FAILED: 4}
    assert counts["by_error_code"] == {
        outcomes.CLAIMED_ELSEWHERE: 1,
        outcomes.ALREADY_REGISTERED: 1,
        outcomes.DUPLICATE_IN_ORDER: 1,
        outcomes.HARDWARE_HASH_INVALID: 1,
    }
    assert order_of(order_pk).status == orders.COMPLETED_WITH_ERRORS


def test_a_revoke_moves_the_queued_rows_and_closes_their_orders():
    partner, tenant = partner_with_customer()
    done = submit(tenant, [device() for _ in range(3)], partner)
    process(done)
    queued = [
        submit(tenant, [device() for _ in range(4)], partner).order.id,
        submit(tenant, [device(), {"hardware_hash": "junk"}], partner).order.id,
    ]
    with unscoped("test: find the relationship"), db.transaction() as session:
        relationship_id = session.scalars(
            select(Relationship.id).where(
                Relationship.partner_id == partner.id, Relationship.tenant_id == tenant.id
            )
        ).one()

    with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
        revocation.change_relationship(session, relationship_id, "revoke", unique("req"))

    assert_counters_exact([tenant.id])
    assert [order_of(pk).status for pk in queued] == [orders.FAILED, orders.FAILED]
    assert kept(tenant, queued[1]) == {
        "by_state": {outcomes.FAILED: 2},
        "by_error_code": {outcomes.RELATIONSHIP_REVOKED: 1, outcomes.HARDWARE_HASH_INVALID: 1},
    }
    assert kept(tenant, done.order.id)["by_state"] == {outcomes.READY: 3}


def check_in(tenant, device_id, seen_at: datetime) -> None:
    with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
        devices.check_in(session, device_id, seen_at=seen_at, user=None, request_id=unique("req"))


def deregister(tenant, device_id) -> None:
    with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
        devices.deregister(session, device_id, unique("req"))


def test_check_ins_split_the_ready_rows_as_the_rows_say_on_every_side_of_the_window():
    tenant = new_tenant()
    result = submit(tenant, [device() for _ in range(9)] + [{"hardware_hash": "junk"}])
    process(result)
    order_pk = result.order.id
    rows = registrations(order_pk)
    # Read as of a moment whose window starts at noon of a day in the past,
    # so that check-ins fall on both sides of the start on that very day.
    start = (utcnow() - timedelta(days=30)).replace(hour=12, minute=0, second=0, microsecond=0)
    then = start + outcomes.ACTIVE_WINDOW
    seen = {
        1: [start + timedelta(hours=1)],  # the window's first day, inside
        2: [start - timedelta(hours=1)],  # the window's first day, outside
        3: [start],  # exactly at the start: active
        4: [start - timedelta(days=2)],
        5: [start + timedelta(days=2)],
        # Checked in again later, and an older report arriving late (kept the latest).
        6: [start - timedelta(days=3), start + timedelta(hours=2), start - timedelta(days=5)],
        7: [start + timedelta(days=1)],  # then deregistered below
        8: [utcnow()],
    }
    for index, times in seen.items():
        for seen_at in times:
            check_in(tenant, rows[index].id, seen_at)
    deregister(tenant, rows[7].id)
    deregister(tenant, rows[0].id)  # never checked in

    assert_counters_exact([tenant.id])
    for now in (then, utcnow()):
        assert kept(tenant, order_pk, now) == counted(order_pk, now)
    assert kept(tenant, order_pk, then)["by_state"] == {
        outcomes.ACTIVE: 5,  # rows 1, 3, 5, 6, and 8 (seen after `then`)
        outcomes.INACTIVE: 2,  # rows 2, 4
        outcomes.DEREGISTERED: 2,
        outcomes.FAILED: 1,
    }
    assert kept(tenant, order_pk)["by_state"] == {
        outcomes.ACTIVE: 1,
        outcomes.INACTIVE: 6,
        outcomes.DEREGISTERED: 2,
        outcomes.FAILED: 1,
    }


def test_a_deregistration_sent_twice_moves_the_counts_once():
    tenant = new_tenant()
    result = submit(tenant, [device(), device()])
    process(result)
    first = registrations(result.order.id)[0]
    check_in(tenant, first.id, utcnow())

    deregister(tenant, first.id)
    deregister(tenant, first.id)

    assert_counters_exact([tenant.id])
    assert kept(tenant, result.order.id)["by_state"] == {
        outcomes.READY: 1,
        outcomes.DEREGISTERED: 1,
    }


def test_a_failed_transaction_leaves_the_counters_as_they_were():
    tenant = new_tenant()
    result = submit(tenant, [device()])
    with pytest.raises(RuntimeError):
        with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
            order = session.get(Order, result.order.id)
            counters.rows_moved(session, order, 1, (outcomes.PENDING, None), (outcomes.READY, None))
            counters.flush(session)  # written, then rolled back with the transaction
            raise RuntimeError("the transaction fails after its counters were written")
    with pytest.raises(RuntimeError):
        with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
            order = session.get(Order, result.order.id)
            counters.order_status_changed(session, order, orders.ACCEPTED, orders.FAILED)
            raise RuntimeError("the transaction fails before its counters were written")

    assert_counters_exact([tenant.id])
    assert kept(tenant, result.order.id)["by_state"] == {outcomes.PENDING: 1}


def test_each_scope_reads_its_own_totals():
    partner, tenant = partner_with_customer()
    process(submit(tenant, [device(), {"hardware_hash": "junk"}], partner))
    process(submit(tenant, [device()]))

    with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
        rows = counters.registration_totals(session)
        statuses = counters.order_totals(session)
    assert rows == [
        (outcomes.READY, None, 2),
        (outcomes.FAILED, outcomes.HARDWARE_HASH_INVALID, 1),
    ]
    assert statuses == [(orders.COMPLETED, 1), (orders.COMPLETED_WITH_ERRORS, 1)]
    with scoped(Scope.partner(partner.id)), db.transaction() as session:
        assert counters.order_totals(session) == [(orders.COMPLETED_WITH_ERRORS, 1)]
    with unscoped("test: one of the tenant's orders"), db.transaction() as session:
        order_pk = session.scalars(select(Order.id).where(Order.tenant_id == tenant.id)).first()
    with scoped(Scope.tenant(new_tenant().id)), db.transaction() as session:
        assert counters.registration_totals(session) == []
        assert counters.order_counts(session, [order_pk]) == {order_pk: counters.Counts()}


def test_a_recount_puts_the_counters_back_to_what_the_rows_say():
    partner, tenant = partner_with_customer()
    result = submit(tenant, [device(), device(), {"hardware_hash": "junk"}], partner)
    process(result)
    process(submit(tenant, [device()]))
    check_in(tenant, registrations(result.order.id)[0].id, utcnow())
    untouched = new_tenant()
    process(submit(untouched, [device()]))
    # Rows written around the service: the counters do not know them.
    with unscoped("test: rows changed in SQL"), db.transaction() as session:
        session.execute(
            update(Registration)
            .where(Registration.order_pk == result.order.id, Registration.line_index == 1)
            .values(state=outcomes.DEREGISTERED)
        )
    with pytest.raises(AssertionError):
        assert_counters_exact([tenant.id])

    with db.transaction() as session:
        counters.recount(session, [tenant.id])

    assert_counters_exact([tenant.id, untouched.id])
