"""Orders: what submission stores (rows in line order, the failures it can
decide alone, chunks), what it refuses, and how an order is counted and closed."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from tenants import db, outcomes
from tenants.errors import Forbidden, InputError, NotFound
from tenants.models import AuditEvent, Order
from tenants.registration import orders
from tenants.registration.orders import COMPLETED, COMPLETED_WITH_ERRORS, FAILED
from tenants.scoping import Scope, scoped, unscoped
from tests.factories import (
    UNACCEPTABLE_TAG,
    device,
    devices,
    new_partner,
    new_tenant,
    order_of,
    partner_with_customer,
    process,
    registrations,
    submit,
    unique,
)

pytestmark = pytest.mark.usefixtures("settings")


def orders_of(tenant) -> int:
    with unscoped("test: count a tenant's orders"), db.transaction() as session:
        return session.scalar(select(func.count()).where(Order.tenant_id == tenant.id))


def test_an_order_and_its_rows_are_stored_in_line_order_with_its_chunks():
    partner, tenant = partner_with_customer()
    rows = devices(5)
    rows[3] = {"hardware_hash": "junk"}

    result = submit(tenant, rows, partner, chunk_size=2, order_id="PO-1", group_tag="Sales")

    order = order_of(result.order.id)
    assert (order.status, order.row_count, order.order_id, order.partner_id) == (
        orders.ACCEPTED,
        5,
        "PO-1",
        partner.id,
    )
    assert order.enqueued_at is not None and order.completed_at is None
    assert result.chunks == [(0, 2), (2, 4), (4, 5)]
    stored = registrations(order.id)
    assert [(r.line_index, r.line) for r in stored] == [(n, n + 2) for n in range(5)]
    assert [r.state for r in stored] == [outcomes.PENDING] * 3 + [outcomes.FAILED, outcomes.PENDING]
    assert stored[3].error_code == outcomes.HARDWARE_HASH_INVALID
    assert stored[3].hardware_hash_text == "junk"
    assert {(r.tenant_id, r.partner_id, r.group_tag) for r in stored} == {
        (tenant.id, partner.id, "Sales")
    }
    assert {r.request_id for r in stored} == {order.request_id}


def test_a_submission_is_audited_with_its_row_count():
    tenant = new_tenant()

    result = submit(tenant, devices(3), order_id="PO-7")

    with db.transaction() as session:
        [event] = session.scalars(
            select(AuditEvent).where(AuditEvent.object_id == str(result.order.id))
        ).all()
    assert (event.action, event.tenant_id, event.detail) == (
        "order.submitted",
        tenant.id,
        {"order_id": "PO-7", "rows": 3},
    )


def test_duplicates_in_the_order_are_stored_failed_naming_the_first_row():
    tenant = new_tenant()
    serial = unique("SN")

    result = submit(tenant, [device(serial), device(), device(serial)])

    first, _, again = registrations(result.order.id)
    assert (first.state, again.state, again.error_code) == (
        outcomes.PENDING,
        outcomes.FAILED,
        outcomes.DUPLICATE_IN_ORDER,
    )
    assert again.message.endswith("(First seen on line 2.)")


def test_an_empty_order_is_refused_and_nothing_is_stored():
    tenant = new_tenant()

    with pytest.raises(InputError) as refusal:
        submit(tenant, [])

    assert refusal.value.code == "order_empty"
    assert orders_of(tenant) == 0


def test_an_order_over_the_row_limit_is_refused_at_the_first_row_too_many():
    tenant = new_tenant()

    with pytest.raises(InputError) as refusal:
        submit(tenant, devices(4), max_rows=3)

    assert (refusal.value.code, refusal.value.line) == ("upload_too_large", 5)
    assert "more than 3 rows" in refusal.value.message
    assert orders_of(tenant) == 0


def test_a_partner_needs_an_active_relationship_to_submit():
    partner, tenant = new_partner(), new_tenant()

    with pytest.raises(Forbidden) as refusal:
        submit(tenant, devices(1), partner)

    assert refusal.value.code == "relationship_required"
    assert orders_of(tenant) == 0


def test_an_unacceptable_order_group_tag_is_a_field_error_of_the_order():
    tenant = new_tenant()

    with pytest.raises(InputError) as refusal:
        submit(tenant, devices(2), group_tag=UNACCEPTABLE_TAG)

    assert (refusal.value.code, refusal.value.field) == (outcomes.GROUP_TAG_INVALID, "group_tag")
    assert orders_of(tenant) == 0


def test_another_tenants_order_is_not_found():
    tenant, other = new_tenant(), new_tenant()
    result = submit(tenant, devices(1))

    with scoped(Scope.tenant(other.id)), db.transaction() as session:
        with pytest.raises(NotFound):
            orders.get_order(session, result.order.id)
    with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
        assert orders.get_order(session, result.order.id).id == result.order.id
    with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
        with pytest.raises(NotFound):
            orders.get_order(session, uuid.uuid4())


# --- counts and closing ---------------------------------------------------------------------


def counts(by_state: dict[str, int], by_error_code: dict[str, int] | None = None) -> dict:
    return {"by_state": by_state, "by_error_code": by_error_code or {}}


@pytest.mark.parametrize(
    ("tally", "status"),
    [
        (counts({outcomes.READY: 3}), COMPLETED),
        (counts({outcomes.READY: 1, outcomes.ACTIVE: 1, outcomes.DEREGISTERED: 1}), COMPLETED),
        # Already the tenant's: a success.
        (
            counts({outcomes.FAILED: 2}, {outcomes.ALREADY_REGISTERED: 2}),
            COMPLETED,
        ),
        (
            counts({outcomes.READY: 1, outcomes.FAILED: 1}, {outcomes.DEVICE_NOT_FOUND: 1}),
            COMPLETED_WITH_ERRORS,
        ),
        (
            counts(
                {outcomes.FAILED: 2},
                {outcomes.ALREADY_REGISTERED: 1, outcomes.CLAIMED_ELSEWHERE: 1},
            ),
            COMPLETED_WITH_ERRORS,
        ),
        (counts({outcomes.FAILED: 2}, {outcomes.HARDWARE_HASH_INVALID: 2}), FAILED),
    ],
)
def test_the_final_status_says_whether_the_tenant_holds_the_devices(tally, status):
    assert orders.final_status(tally) == status


def test_an_order_closes_when_no_row_is_pending_and_only_once():
    tenant = new_tenant()
    result = submit(tenant, [*devices(2), {"hardware_hash": "junk"}], chunk_size=2)

    with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
        assert orders.finalize_if_done(session, result.order.id) is None  # rows pending
    process(result)

    order = order_of(result.order.id)
    assert order.status == COMPLETED_WITH_ERRORS
    assert order.completed_at is not None and order.started_at is not None
    with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
        assert orders.finalize_if_done(session, result.order.id) is None  # already closed
        assert orders.order_counts(session, result.order.id) == counts(
            {outcomes.READY: 2, outcomes.FAILED: 1}, {outcomes.HARDWARE_HASH_INVALID: 1}
        )


def test_an_order_of_only_failed_rows_closes_as_failed():
    tenant = new_tenant()
    result = submit(tenant, [{"hardware_hash": "junk"}, {"hardware_hash": "junk"}])

    with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
        assert orders.finalize_if_done(session, result.order.id) == FAILED

    order = order_of(result.order.id)
    assert order.started_at == order.completed_at  # never started: closed at once


def test_failed_rows_come_back_as_submitted_in_line_order():
    partner, tenant = partner_with_customer()
    good = device()
    rows = [
        {"manufacturer": "Contoso", "model": "Laptop 7", "serial_number": "To be filled by O.E.M."},
        good,
        {"hardware_hash": "junk", "group_tag": "Lab", "assigned_user": "ana@example.test"},
    ]
    result = submit(tenant, rows, partner)

    with scoped(Scope.partner(partner.id)), db.transaction() as session:
        failed = list(orders.failed_rows(session, result.order.id))

    assert [(values["serial_number"], code) for values, code, _ in failed] == [
        ("To be filled by O.E.M.", outcomes.DEVICE_NOT_FOUND),
        (None, outcomes.HARDWARE_HASH_INVALID),
    ]
    values, _, message = failed[1]
    assert (values["hardware_hash"], values["group_tag"], values["assigned_user"]) == (
        "junk",
        "Lab",
        "ana@example.test",
    )
    assert message.startswith("The hardware hash provided for this device is not formatted")


def test_a_failed_row_with_a_good_hash_gives_the_hash_back_as_it_was_sent():
    first, second = new_tenant(), new_tenant()
    row = device()
    process(submit(first, [row]))
    result = submit(second, [row])
    process(result)

    with scoped(Scope.tenant(second.id)), db.transaction() as session:
        [(values, code, _)] = list(orders.failed_rows(session, result.order.id))

    assert code == outcomes.CLAIMED_ELSEWHERE
    assert values["hardware_hash"] == row["hardware_hash"]  # rebuilt from what is stored
    assert registrations(result.order.id)[0].hardware_hash_text is None


def test_an_orders_rows_are_counted_from_its_counters_exactly_as_they_are_listed():
    tenant = new_tenant()
    rows = devices(120)
    rows[70:75] = rows[10:15]  # five repeats: failed duplicate_in_order
    result = submit(tenant, rows, chunk_size=40)
    process(result)
    assert result.order is not None
    with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
        for filters, expected in (
            ({}, 120),
            ({"error_code": outcomes.DUPLICATE_IN_ORDER}, 5),
            ({"error_code": outcomes.ALREADY_REGISTERED}, 0),
            ({"state": outcomes.FAILED}, 5),
        ):
            listing = orders.order_rows(session, result.order.id, **filters)
            listed = [row for batch in listing.batches(50) for row in batch]
            assert listing.count() == len(listed) == expected, filters
