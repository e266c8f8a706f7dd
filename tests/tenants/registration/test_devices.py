"""A tenant's devices: deregistering releases the device, check-ins keep the
latest, and the device list's query filters, sorts and counts alike."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from tenants import db, outcomes
from tenants.access import organisations
from tenants.errors import Conflict, InputError, NotFound
from tenants.models import AuditEvent, utcnow
from tenants.registration import device_list, devices
from tenants.registration.device_list import DeviceQuery
from tenants.scoping import Scope, scoped
from tests.factories import (
    device,
    new_partner,
    new_tenant,
    process,
    registrations,
    submit,
    unique,
)

pytestmark = pytest.mark.usefixtures("settings")


def registered(tenant, serials: list[str], partner=None, **fields):
    result = submit(tenant, [device(s) for s in serials], partner, **fields)
    process(result)
    return registrations(result.order.id)


def in_scope(tenant):
    return scoped(Scope.tenant(tenant.id))


def deregister(tenant, device_id):
    with in_scope(tenant), db.transaction() as session:
        return devices.deregister(session, device_id, f"req-{uuid.uuid4().hex}")


def check_in(tenant, device_id, seen_at, user=None):
    with in_scope(tenant), db.transaction() as session:
        return devices.check_in(
            session, device_id, seen_at=seen_at, user=user, request_id=f"req-{uuid.uuid4().hex}"
        )


def actions(device_id) -> list[str]:
    with db.transaction() as session:
        return list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.object_id == str(device_id))
                .order_by(AuditEvent.id)
            )
        )


def test_deregistering_releases_the_device_once():
    seller, buyer = new_tenant(), new_tenant()
    serial = unique("SN")
    [sold] = registered(seller, [serial])

    first = deregister(seller, sold.id)
    again = deregister(seller, sold.id)

    assert first.state == again.state == outcomes.DEREGISTERED
    assert again.deregistered_at == first.deregistered_at
    assert actions(sold.id) == ["device.deregistered"]
    [bought] = registered(buyer, [serial])
    assert (bought.state, bought.error_code) == (outcomes.READY, None)


def test_only_a_registered_device_of_ones_own_can_be_deregistered():
    tenant, other = new_tenant(), new_tenant()
    result = submit(tenant, [{"hardware_hash": "junk"}, device()])
    process(result)
    failed, mine = registrations(result.order.id)

    with pytest.raises(Conflict) as refusal:
        deregister(tenant, failed.id)
    assert refusal.value.code == "device_not_registered"
    with pytest.raises(NotFound):
        deregister(other, mine.id)
    assert registrations(result.order.id)[1].state == outcomes.READY


def test_check_ins_keep_the_latest_and_make_the_device_active():
    tenant = new_tenant()
    [pc] = registered(tenant, [unique("SN")])
    now = utcnow()

    check_in(tenant, pc.id, now - timedelta(hours=1), "ana@example.test")
    late_report = check_in(tenant, pc.id, now - timedelta(days=2), "bo@example.test")

    assert late_report.last_seen_at == now - timedelta(hours=1)
    assert late_report.last_seen_user == "ana@example.test"
    assert outcomes.effective_state(late_report.state, late_report.last_seen_at) == outcomes.ACTIVE
    naive = check_in(tenant, pc.id, (now - timedelta(minutes=1)).replace(tzinfo=None))
    assert naive.last_seen_at == now - timedelta(minutes=1)  # taken as UTC
    assert naive.last_seen_user == "ana@example.test"  # no user reported: kept
    assert actions(pc.id) == ["device.checked_in"] * 3


def test_a_check_in_from_the_future_or_of_a_released_device_is_refused():
    tenant = new_tenant()
    [pc] = registered(tenant, [unique("SN")])

    with pytest.raises(InputError) as future:
        check_in(tenant, pc.id, utcnow() + devices.CLOCK_SKEW + timedelta(minutes=1))
    assert future.value.field == "seen_at"
    check_in(tenant, pc.id, utcnow() + devices.CLOCK_SKEW - timedelta(minutes=1))  # within skew
    deregister(tenant, pc.id)
    with pytest.raises(Conflict) as released:
        check_in(tenant, pc.id, None)
    assert released.value.code == "device_deregistered"


# --- the device list ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def estate(settings):
    """One tenant's devices: two partners' orders and its own, a check-in, a
    deregistration, a failure, and values a text search must take literally."""
    tenant = new_tenant()
    acme, globex = new_partner(), new_partner()
    for partner in (acme, globex):
        organisations.activate_relationship(partner.id, tenant.id)
    a = registered(tenant, ["SN-A1", "SN-A2"], acme, order_id="PO-100%")
    b = registered(tenant, ["SN-B1"], globex, order_id="PO_200", group_tag="Lab")
    result = submit(tenant, [device("SN-C1"), {"hardware_hash": "junk"}], order_id="Own")
    process(result)
    own, failed = registrations(result.order.id)
    check_in(tenant, a[0].id, utcnow())
    deregister(tenant, b[0].id)
    return {
        "tenant": tenant,
        "acme": acme,
        "ids": {"A1": a[0].id, "A2": a[1].id, "B1": b[0].id, "C1": own.id, "failed": failed.id},
    }


def listed(estate, **query) -> list[str]:
    """The names of the devices listed (``ids`` keys), and checks the count agrees."""
    names = {v: k for k, v in estate["ids"].items()}
    q = DeviceQuery(**query)
    with in_scope(estate["tenant"]), db.transaction() as session:
        page = device_list.device_page(session, q, limit=100, offset=0)
        count = session.scalar(device_list.device_count(q))
    assert count == len(page), (query, count, len(page))
    return [names[row["id"]] for row in page]


def test_the_list_is_newest_first_with_the_failed_rows_unless_left_out(estate):
    # Rows of one order were created together: their order among themselves is the ID's.
    newest_first = listed(estate)
    assert [set(newest_first[:2]), newest_first[2], set(newest_first[3:])] == [
        {"failed", "C1"},
        "B1",
        {"A1", "A2"},
    ]
    assert listed(estate, include_failed=False) == [n for n in newest_first if n != "failed"]


def test_the_list_filters_on_effective_state_error_serial_and_partner(estate):
    assert listed(estate, state=outcomes.ACTIVE) == ["A1"]
    assert sorted(listed(estate, state=outcomes.READY)) == ["A2", "C1"]
    assert listed(estate, state=outcomes.DEREGISTERED) == ["B1"]
    assert listed(estate, error_code=outcomes.HARDWARE_HASH_INVALID) == ["failed"]
    assert listed(estate, serial_number="SN-A2") == ["A2"]
    assert sorted(listed(estate, partner_id=estate["acme"].id)) == ["A1", "A2"]
    assert listed(estate, order_id="PO_200") == ["B1"]


def test_text_search_takes_wildcards_literally(estate):
    assert sorted(listed(estate, text="po-100%")) == ["A1", "A2"]
    assert listed(estate, text="PO_") == ["B1"]  # "_" is no wildcard
    assert sorted(listed(estate, text="%")) == ["A1", "A2"]
    assert listed(estate, text="lab") == ["B1"]
    assert sorted(listed(estate, text="sn-a")) == ["A1", "A2"]


def test_the_list_sorts_with_empty_values_last(estate):
    assert listed(estate, sort="serial_number") == ["A1", "A2", "B1", "C1", "failed"]
    assert listed(estate, sort="-serial_number") == ["C1", "B1", "A2", "A1", "failed"]
    assert listed(estate, sort="-last_seen_at")[0] == "A1"
    by_order = listed(estate, sort="order_id", include_failed=False)
    assert [by_order[0], set(by_order[1:3]), by_order[3]] == ["C1", {"A1", "A2"}, "B1"]


def test_each_row_carries_its_order_and_partner(estate):
    with in_scope(estate["tenant"]), db.transaction() as session:
        page = device_list.device_page(session, DeviceQuery(), limit=100, offset=0)
        via_join = device_list.device_page(session, DeviceQuery(text="SN"), limit=100, offset=0)
    by_id = {row["id"]: row for row in page}
    a1 = by_id[estate["ids"]["A1"]]
    assert (a1["order_reference"], a1["partner_name"]) == ("PO-100%", estate["acme"].name)
    assert by_id[estate["ids"]["C1"]]["partner_name"] is None
    # The same columns whichever way the page is read.
    assert {row["id"]: row for row in via_join}[estate["ids"]["A1"]] == a1
