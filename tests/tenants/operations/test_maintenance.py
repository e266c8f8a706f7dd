"""The sweep: the database says which chunks of which orders still have
pending rows, which of them are overdue, and which orders can be closed."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from tenants import db
from tenants.models import IdempotencyKey, Order, utcnow
from tenants.operations import idempotency, maintenance
from tenants.operations.maintenance import UnfinishedOrder
from tenants.registration import processing
from tenants.scoping import unscoped
from tests.factories import assert_counters_exact, devices, new_tenant, order_of, submit

pytestmark = pytest.mark.usefixtures("settings")

DEADLINE = timedelta(minutes=5)


def handed_out_ago(order_pk: uuid.UUID, age: timedelta | None) -> None:
    """As if the order's chunks had been enqueued ``age`` ago (None: never)."""
    with unscoped("test: age an order"), db.transaction() as session:
        session.execute(
            update(Order)
            .where(Order.id == order_pk)
            .values(enqueued_at=None if age is None else utcnow() - age)
            .execution_options(synchronize_session=False)
        )


def sweep(deadline: timedelta = DEADLINE, chunk_size: int = 2) -> maintenance.SweepResult:
    with db.transaction() as session:
        return maintenance.sweep(session, deadline=deadline, chunk_size=chunk_size)


def swept(result: maintenance.SweepResult, order_pk: uuid.UUID) -> UnfinishedOrder | None:
    """What the sweep says of one order (other tests' orders are in the database too)."""
    return next((u for u in result.unfinished if u.order_pk == order_pk), None)


def order_with_pending_rows(count: int = 5):
    """An order of ``count`` rows, the fourth failed at submission, the rest pending."""
    rows = devices(count)
    rows[3] = {"hardware_hash": "junk"}
    return submit(new_tenant(), rows, chunk_size=2).order


def test_the_chunks_with_pending_rows_are_listed():
    order = order_with_pending_rows()
    handed_out_ago(order.id, timedelta(minutes=1))

    unfinished = swept(sweep(), order.id)

    # Rows 0-2 and 4 are pending: chunks 0, 1 and 2 of size 2.
    assert unfinished == UnfinishedOrder(
        order.id,
        order.request_id,
        [(0, 2), (2, 4), (4, 5)],
        tenant_id=order.tenant_id,
        partner_id=None,
        past_deadline=False,
    )


def test_only_the_chunks_still_pending_are_listed_in_the_sweeps_chunk_size():
    order = order_with_pending_rows()
    processing.register_chunk(order.id, 0, 2)
    handed_out_ago(order.id, timedelta(minutes=1))

    assert swept(sweep(chunk_size=2), order.id).chunks == [(2, 4), (4, 5)]
    assert swept(sweep(chunk_size=3), order.id).chunks == [(0, 3), (3, 5)]
    assert swept(sweep(chunk_size=10), order.id).chunks == [(0, 5)]


def test_an_order_enqueued_a_moment_ago_is_left_alone_unless_the_deadline_is_shorter():
    order = order_with_pending_rows()  # enqueued_at: now

    assert swept(sweep(), order.id) is None
    handed_out_ago(order.id, maintenance.JUST_ENQUEUED - timedelta(seconds=2))
    assert swept(sweep(), order.id) is None
    # The grace is never longer than the deadline itself.
    assert swept(sweep(deadline=timedelta(seconds=1)), order.id).past_deadline is True


def test_an_overdue_order_is_flagged_and_marked_handed_out_again():
    order = order_with_pending_rows()
    handed_out_ago(order.id, timedelta(minutes=10))
    before = utcnow()

    unfinished = swept(sweep(), order.id)

    assert unfinished.past_deadline is True
    assert order_of(order.id).enqueued_at >= before
    # Handed out just now: the next sweep leaves it alone again.
    assert swept(sweep(), order.id) is None


def test_an_order_that_never_reached_the_queue_is_overdue_at_once():
    order = order_with_pending_rows()
    with db.transaction() as session:
        maintenance.mark_not_enqueued(session, order.id)
    assert order_of(order.id).enqueued_at is None

    unfinished = swept(sweep(deadline=timedelta(hours=1)), order.id)

    assert unfinished.past_deadline is True
    assert order_of(order.id).enqueued_at is not None


def test_an_order_with_no_pending_row_is_closed_once_overdue():
    tenant = new_tenant()
    order = submit(tenant, [{"hardware_hash": "junk"}] * 2).order
    handed_out_ago(order.id, timedelta(minutes=1))

    result = sweep()
    assert swept(result, order.id) is None
    assert order_of(order.id).completed_at is None  # the worker may still close it

    handed_out_ago(order.id, timedelta(minutes=10))
    result = sweep()

    assert result.finalized >= 1
    closed = order_of(order.id)
    assert (closed.status, closed.completed_at is not None) == ("failed", True)
    assert_counters_exact([tenant.id])


def test_a_sweep_purges_expired_idempotency_keys():
    principal = f"partner:{uuid.uuid4()}"
    with db.transaction() as session:
        for key, ttl in (("expired", timedelta(seconds=-1)), ("live", timedelta(hours=24))):
            idempotency.remember(
                session,
                principal,
                key,
                "fingerprint",
                idempotency.StoredResponse(202, "{}", None),
                request_id="req",
                ttl=ttl,
            )

    assert sweep().keys_purged >= 1

    with db.transaction() as session:
        assert session.get(IdempotencyKey, (principal, "expired")) is None
        assert session.get(IdempotencyKey, (principal, "live")) is not None
