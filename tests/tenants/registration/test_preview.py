"""The dry run: every row gets the verdict the real run would give, read-only."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tenants import db, outcomes
from tenants.errors import InputError
from tenants.ingest import catalog
from tenants.models import DeviceClaim, Order
from tenants.scoping import unscoped
from tests.factories import (
    device,
    new_tenant,
    partner_with_customer,
    pkid,
    process,
    registrations,
    row_inputs,
    submit,
    unique,
)

pytestmark = pytest.mark.usefixtures("settings")


def stored_orders(tenant) -> int:
    with unscoped("test: count a tenant's orders"), db.transaction() as session:
        return session.scalar(select(func.count()).where(Order.tenant_id == tenant.id))


def claims_of(tenant) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).where(DeviceClaim.tenant_id == tenant.id))


def add_to_catalog(*records: dict) -> None:
    with db.transaction() as session:
        catalog.store_records(
            session,
            unique("OEM"),
            row_inputs(records),
            request_id="req-catalog",
        )


def verdicts(result) -> list[tuple[str | None, str | None]]:
    return [(v.values["serial_number"], v.error_code) for v in result.verdicts]


def test_a_dry_run_judges_every_row_like_the_worker_and_stores_nothing():
    partner, tenant = partner_with_customer()
    other = new_tenant()
    mine, theirs = unique("SN"), unique("SN")
    process(submit(tenant, [device(mine)]))
    process(submit(other, [device(theirs)]))
    in_catalog, key, missing = unique("SN"), pkid(), unique("SN")
    add_to_catalog(
        {
            "manufacturer": "Contoso",
            "model": "Laptop 7",
            "serial_number": in_catalog,
            "product_key_id": key,
        }
    )
    free = unique("SN")
    orders_before, claims_before = stored_orders(tenant), claims_of(tenant)

    result = submit(
        tenant,
        [
            device(free),
            device(mine),
            device(theirs),
            {"manufacturer": "Contoso", "model": "Laptop 7", "serial_number": in_catalog},
            # The same catalog device again, by its PKID only: a duplicate.
            {"product_key_id": key},
            {"manufacturer": "Contoso", "model": "Laptop 7", "serial_number": missing},
            {"hardware_hash": "junk", "serial_number": "SN-JUNK"},
        ],
        partner,
        dry_run=True,
    )

    assert result.order is None and result.chunks == []
    assert verdicts(result) == [
        (free, None),
        (mine, outcomes.ALREADY_REGISTERED),
        (theirs, outcomes.CLAIMED_ELSEWHERE),
        (in_catalog, None),
        (None, outcomes.DUPLICATE_IN_ORDER),
        (missing, outcomes.DEVICE_NOT_FOUND),
        ("SN-JUNK", outcomes.HARDWARE_HASH_INVALID),
    ]
    duplicate = result.verdicts[4]
    assert duplicate.message == outcomes.duplicate_message(None, 5)
    assert "No supplier has a record" in result.verdicts[5].message
    assert (stored_orders(tenant), claims_of(tenant)) == (orders_before, claims_before)


def test_the_real_run_decides_what_the_dry_run_said():
    tenant, other = new_tenant(), new_tenant()
    taken = unique("SN")
    process(submit(other, [device(taken)]))
    rows = [device(), device(taken), device()]

    preview = submit(tenant, rows, dry_run=True)
    stored = submit(tenant, rows)
    process(stored)

    assert [v.error_code for v in preview.verdicts] == [
        r.error_code for r in registrations(stored.order.id)
    ]
    assert [v.error_code for v in preview.verdicts] == [None, outcomes.CLAIMED_ELSEWHERE, None]


def test_a_dry_run_of_no_rows_is_refused_like_the_real_one():
    with pytest.raises(InputError) as refusal:
        submit(new_tenant(), [], dry_run=True)
    assert refusal.value.code == "order_empty"
