"""Processing a chunk: the worker's decisions that submission cannot make
alone -- the supplier catalog, what a PKID row may learn, the relationship
as it is now."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import update

from tenants import db, outcomes
from tenants.access import organisations
from tenants.ingest import catalog
from tenants.models import Relationship
from tenants.registration import processing
from tenants.scoping import unscoped
from tests.factories import (
    new_partner,
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


def in_catalog(serial: str, product_key_id: str, model: str = "Laptop 7") -> None:
    with db.transaction() as session:
        catalog.store_records(
            session,
            unique("OEM"),
            row_inputs(
                [
                    {
                        "manufacturer": "Contoso",
                        "model": model,
                        "serial_number": serial,
                        "product_key_id": product_key_id,
                    }
                ]
            ),
            request_id="req-catalog",
        )


def test_a_pkid_row_learns_its_device_only_when_the_tenant_holds_it():
    partner = new_partner()
    first, second = new_tenant(), new_tenant()
    for tenant in (first, second):
        organisations.activate_relationship(partner.id, tenant.id)
    serial, key = unique("SN"), pkid()
    in_catalog(serial, key)

    won = submit(first, [{"product_key_id": key}], partner)
    process(won)
    lost = submit(second, [{"product_key_id": key}], partner)
    process(lost)

    [held] = registrations(won.order.id)
    assert (held.state, held.serial_number, held.manufacturer, held.model) == (
        outcomes.READY,
        serial,
        "Contoso",
        "Laptop 7",
    )
    [refused] = registrations(lost.order.id)
    assert refused.error_code == outcomes.CLAIMED_ELSEWHERE
    # Nothing the catalog knows of a device another organisation holds.
    assert (refused.serial_number, refused.manufacturer, refused.model) == (None, None, None)
    assert refused.product_key_id == key


def test_two_rows_naming_one_device_differently_register_it_once():
    partner, tenant = partner_with_customer()
    serial, key = unique("SN"), pkid()
    in_catalog(serial, key)

    result = submit(
        tenant,
        [
            {"manufacturer": "Contoso", "model": "Laptop 7", "serial_number": serial},
            {"product_key_id": key},
        ],
        partner,
    )
    process(result)

    first, second = registrations(result.order.id)
    assert (first.state, first.error_code) == (outcomes.READY, None)
    assert (second.state, second.error_code) == (outcomes.FAILED, outcomes.DUPLICATE_IN_ORDER)
    assert second.message == outcomes.duplicate_message(None, 2)


def test_a_tuple_row_the_catalog_does_not_know_is_not_found():
    partner, tenant = partner_with_customer()
    serial, key = unique("SN"), pkid()
    in_catalog(serial, key, model="Laptop 7")

    result = submit(
        tenant,
        [
            {"manufacturer": "Contoso", "model": "Laptop 9", "serial_number": serial},
            {"manufacturer": "Contoso", "model": "Laptop 7", "serial_number": unique("SN")},
        ],
        partner,
    )
    process(result)

    wrong_model, unknown = registrations(result.order.id)
    assert wrong_model.error_code == unknown.error_code == outcomes.DEVICE_NOT_FOUND
    assert "does not match the supplier's record" in wrong_model.message
    assert "No supplier has a record" in unknown.message


def test_a_chunk_of_a_partner_no_longer_related_fails_its_rows():
    partner, tenant = partner_with_customer()
    serial, key = unique("SN"), pkid()
    in_catalog(serial, key)
    result = submit(tenant, [{"product_key_id": key}], partner)
    # The relationship ends between submission and processing.
    with unscoped("test: end a relationship"), db.transaction() as session:
        session.execute(
            update(Relationship)
            .where(Relationship.partner_id == partner.id, Relationship.tenant_id == tenant.id)
            .values(status="revoked")
        )

    process(result)

    [row] = registrations(result.order.id)
    assert (row.state, row.error_code) == (outcomes.FAILED, outcomes.RELATIONSHIP_REVOKED)
    assert row.serial_number is None  # not told what the catalog knows


def test_a_chunk_of_an_order_that_is_gone_does_nothing():
    report = processing.register_chunk(uuid.uuid4(), 0, 50)

    assert (report.processed, report.order_status) == (0, None)
