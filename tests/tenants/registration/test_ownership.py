"""Global device ownership: one claim per device, decided by the database's
unique key, whatever tenant or row asks."""

from __future__ import annotations

import pytest

from tenants import db, outcomes
from tenants.access import organisations
from tenants.models import Registration
from tenants.registration import ownership
from tests.factories import (
    device,
    new_partner,
    new_tenant,
    registrations,
    submit,
    unique,
)

pytestmark = pytest.mark.usefixtures("settings")


def rows_for(tenant, serials: list[str]) -> list[Registration]:
    """Pending rows of one new order of ``tenant`` (self-registered), one per serial."""
    return registrations(submit(tenant, [device(s) for s in serials]).order.id)


def claim(tenant, rows: list[Registration]) -> list[str | None]:
    """Claim the rows' devices for ``tenant``; each row's outcome, in the rows' order."""
    with db.transaction() as session:
        decided = ownership.claim(
            session,
            tenant.id,
            [ownership.ClaimRequest(r.id, r.identity_key) for r in rows],
        )
    return [decided[r.id] for r in rows]


def holders_of(rows: list[Registration]) -> dict[str, object]:
    with db.transaction() as session:
        return ownership.holders(session, [r.identity_key for r in rows])


def test_free_devices_are_claimed_by_the_rows_that_ask():
    tenant = new_tenant()
    rows = rows_for(tenant, [unique("SN") for _ in range(4)])

    assert claim(tenant, rows) == [None] * 4
    assert holders_of(rows) == {r.identity_key: tenant.id for r in rows}


def test_claiming_again_with_the_same_rows_changes_nothing():
    tenant = new_tenant()
    rows = rows_for(tenant, [unique("SN"), unique("SN")])
    claim(tenant, rows)

    # A chunk run twice: each row already holds its device.
    assert claim(tenant, rows) == [None, None]


def test_one_call_decides_free_held_here_and_held_elsewhere_devices():
    mine, theirs = new_tenant(), new_tenant()
    held_here, held_elsewhere, free = unique("SN"), unique("SN"), unique("SN")
    claim(mine, rows_for(mine, [held_here]))
    claim(theirs, rows_for(theirs, [held_elsewhere]))

    again = rows_for(mine, [free, held_here, held_elsewhere])

    assert claim(mine, again) == [
        None,
        outcomes.ALREADY_REGISTERED,
        outcomes.CLAIMED_ELSEWHERE,
    ]
    assert holders_of(again) == {
        again[0].identity_key: mine.id,
        again[1].identity_key: mine.id,
        again[2].identity_key: theirs.id,
    }


def test_the_same_device_twice_in_one_call_is_won_once():
    tenant = new_tenant()
    serial = unique("SN")
    # One device under two spellings of its serial number: one identity.
    rows = rows_for(tenant, [serial, serial.lower()])
    assert rows[0].identity_key == rows[1].identity_key

    assert sorted(claim(tenant, rows), key=str) == [None, outcomes.ALREADY_REGISTERED]


def test_a_partners_rows_claim_for_the_customer_not_the_partner():
    partner, tenant, other = new_partner(), new_tenant(), new_tenant()
    organisations.activate_relationship(partner.id, tenant.id)
    organisations.activate_relationship(partner.id, other.id)
    serial = unique("SN")
    first = registrations(submit(tenant, [device(serial)], partner).order.id)
    second = registrations(submit(other, [device(serial)], partner).order.id)

    assert claim(tenant, first) == [None]
    # The same partner registering the device for another customer: someone else's.
    assert claim(other, second) == [outcomes.CLAIMED_ELSEWHERE]


def test_a_released_device_can_be_claimed_by_another_tenant():
    seller, buyer = new_tenant(), new_tenant()
    serials = [unique("SN"), unique("SN")]
    sold, kept = rows_for(seller, serials)
    claim(seller, [sold, kept])

    with db.transaction() as session:
        assert ownership.release(session, sold.id) is True
        assert ownership.release(session, sold.id) is False  # nothing left to release

    bought = rows_for(buyer, serials)
    assert claim(buyer, bought) == [None, outcomes.CLAIMED_ELSEWHERE]
    assert holders_of(bought) == {sold.identity_key: buyer.id, kept.identity_key: seller.id}


def test_holders_only_reads():
    tenant = new_tenant()
    rows = rows_for(tenant, [unique("SN"), unique("SN")])

    assert holders_of(rows) == {}
    with db.transaction() as session:
        assert ownership.holders(session, []) == {}
    # Nothing was claimed by looking.
    assert claim(tenant, rows) == [None, None]
