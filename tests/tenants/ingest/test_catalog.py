"""The supplier catalog: which rows make factory records, whose record a
device's is, and how partner rows without a hash are matched against it."""

from __future__ import annotations

import uuid

import pytest

from tenants import db, outcomes
from tenants.errors import InputError
from tenants.ingest import catalog
from tenants.ingest.catalog import OWNED_BY_ANOTHER_SUPPLIER, Match, NoMatch, UnresolvedRow
from tenants.ingest.hardware_hash import (
    SAMPLE_MANUFACTURER,
    SAMPLE_MODEL,
    SAMPLE_ROW_SERIAL,
    build_hardware_hash,
    identity_key,
)
from tenants.models import CatalogDevice
from tests.factories import pkid, row_inputs, unique

pytestmark = pytest.mark.usefixtures("settings")


def store(supplier: str, rows: list[dict]) -> catalog.CatalogResult:
    with db.transaction() as session:
        return catalog.store_records(
            session, supplier, row_inputs(rows, source="factory.csv"), request_id="req-catalog"
        )


def record_of(manufacturer: str, serial: str) -> CatalogDevice | None:
    with db.transaction() as session:
        return session.get(CatalogDevice, identity_key(manufacturer, serial))


def resolve(*rows: UnresolvedRow) -> list[Match | NoMatch]:
    with db.transaction() as session:
        found = catalog.resolve(session, list(rows))
    return [found[row.registration_id] for row in rows]


def record(serial: str, model: str = "Laptop 7", **extra: str) -> dict:
    """A factory record's row, by its (manufacturer, model, serial number)."""
    return {"manufacturer": "Contoso", "model": model, "serial_number": serial, **extra}


def by_tuple(manufacturer: str, model: str | None, serial: str) -> UnresolvedRow:
    return UnresolvedRow(uuid.uuid4(), identity_key(manufacturer, serial), model, serial, None)


def by_pkid(product_key_id: str, serial: str | None = None) -> UnresolvedRow:
    return UnresolvedRow(uuid.uuid4(), None, None, serial, product_key_id)


def test_records_are_stored_from_tuples_and_from_hashes():
    supplier = unique("OEM")
    tuple_serial, hash_serial, key = unique("SN"), unique("SN"), pkid()
    text = build_hardware_hash("Fabrikam", "Desk 2", hash_serial, product_key_id=key)

    result = store(
        supplier,
        [
            {"manufacturer": " Contoso ", "model": "Laptop 7", "serial_number": tuple_serial},
            {"hardware_hash": text},
        ],
    )

    assert (result.received, result.stored, result.rejected, result.rejections) == (2, 2, 0, [])
    plain = record_of("Contoso", tuple_serial)
    assert (plain.supplier_id, plain.manufacturer, plain.model) == (supplier, "Contoso", "Laptop 7")
    assert plain.hardware_hash is None and plain.request_id == "req-catalog"
    hashed = record_of("Fabrikam", hash_serial)
    # What the row left out, the hash told.
    assert (hashed.manufacturer, hashed.model, hashed.serial_number, hashed.product_key_id) == (
        "Fabrikam",
        "Desk 2",
        hash_serial,
        key,
    )
    assert hashed.hardware_hash is not None and hashed.hardware_hash_length > 0


def test_rows_that_cannot_be_records_are_reported_by_line_and_the_rest_stored():
    supplier = unique("OEM")
    good = unique("SN")
    text = build_hardware_hash("Contoso", "Laptop 7", unique("SN"))
    rows = [
        {
            "manufacturer": SAMPLE_MANUFACTURER,
            "model": SAMPLE_MODEL,
            "serial_number": SAMPLE_ROW_SERIAL,
        },
        {"hardware_hash": "junk"},
        {"hardware_hash": text, "model": "Another Model"},
        {"manufacturer": "Contoso", "model": "VM", "serial_number": "Default string"},
        {"manufacturer": "Contoso", "serial_number": unique("SN")},
        {
            "manufacturer": "Contoso",
            "model": "L",
            "serial_number": unique("SN"),
            "product_key_id": "12",
        },
        {"manufacturer": "Contoso", "model": "Laptop 7", "serial_number": good},
    ]

    result = store(supplier, rows)

    assert (result.received, result.stored, result.rejected) == (7, 1, 6)
    assert [(r["source"], r["line"]) for r in result.rejections] == [
        ("factory.csv", line) for line in range(2, 8)
    ]
    messages = [r["message"] for r in result.rejections]
    assert "sample row" in messages[0]
    assert messages[1].startswith("The hardware hash is not usable:")
    assert messages[2].startswith("The row does not match its hardware hash: the model")
    assert "firmware placeholder" in messages[3]
    assert messages[4].endswith("Missing: model.")
    assert messages[5] == "The product key ID '12' is not 13 digits."
    assert record_of("Contoso", good) is not None


def test_an_upload_without_rows_is_refused():
    with pytest.raises(InputError) as refusal:
        store(unique("OEM"), [])
    assert refusal.value.code == "catalog_empty"


def test_the_same_device_twice_in_one_upload_keeps_the_later_record():
    serial = unique("SN")
    rows = [
        {"manufacturer": "Contoso", "model": "Laptop 7", "serial_number": serial},
        {"manufacturer": "CONTOSO", "model": "Laptop 7 Pro", "serial_number": serial.lower()},
    ]

    result = store(unique("OEM"), rows)

    assert (result.received, result.stored, result.rejected) == (2, 1, 0)
    assert record_of("Contoso", serial).model == "Laptop 7 Pro"


def test_a_supplier_replaces_its_own_records_but_never_anothers():
    owner, other = unique("OEM"), unique("OEM")
    serial = unique("SN")
    store(owner, [{"manufacturer": "Contoso", "model": "Laptop 7", "serial_number": serial}])

    replaced = store(
        owner, [{"manufacturer": "Contoso", "model": "Laptop 8", "serial_number": serial}]
    )
    refused = store(other, [{"manufacturer": "Contoso", "model": "Fake", "serial_number": serial}])

    assert (replaced.stored, replaced.rejected) == (1, 0)
    assert (refused.stored, refused.rejected) == (0, 1)
    assert refused.rejections == [
        {"source": "factory.csv", "line": 2, "message": OWNED_BY_ANOTHER_SUPPLIER}
    ]
    record = record_of("Contoso", serial)
    assert (record.supplier_id, record.model) == (owner, "Laptop 8")


def test_rows_are_matched_by_tuple_when_the_model_agrees():
    serial = unique("SN")
    store(
        unique("OEM"), [{"manufacturer": "Contoso", "model": "Laptop 7", "serial_number": serial}]
    )

    match, wrong_model, unknown = resolve(
        by_tuple("contoso", "LAPTOP  7", serial),
        by_tuple("Contoso", "Laptop 9", serial),
        by_tuple("Contoso", "Laptop 7", unique("SN")),
    )

    assert match == Match(identity_key("Contoso", serial), "Contoso", "Laptop 7", serial, None)
    assert isinstance(wrong_model, NoMatch)
    assert wrong_model.message.startswith(outcomes.message(outcomes.DEVICE_NOT_FOUND))
    assert "The model 'Laptop 9' does not match the supplier's record" in wrong_model.message
    assert isinstance(unknown, NoMatch)
    assert "No supplier has a record of this manufacturer and serial number." in unknown.message


def test_rows_are_matched_by_pkid_and_a_shared_pkid_needs_the_serial():
    unique_key, shared_key, unknown_key = pkid(), pkid(), pkid()
    one, two, three = unique("SN"), unique("SN"), unique("SN")
    store(
        unique("OEM"),
        [
            record(one, "L7", product_key_id=unique_key),
            record(two, "L7", product_key_id=shared_key),
            record(three, "L8", product_key_id=shared_key),
        ],
    )

    found, ambiguous, told_apart, wrong_serial, unknown = resolve(
        by_pkid(unique_key),
        by_pkid(shared_key),
        by_pkid(shared_key, three.lower()),
        by_pkid(unique_key, two),
        by_pkid(unknown_key),
    )

    assert found == Match(identity_key("Contoso", one), "Contoso", "L7", one, unique_key, True)
    assert isinstance(ambiguous, NoMatch)
    assert "matches several supplier records" in ambiguous.message
    assert isinstance(told_apart, Match)
    assert (told_apart.serial_number, told_apart.model, told_apart.by_pkid) == (three, "L8", True)
    assert isinstance(wrong_serial, NoMatch)
    assert wrong_serial.message.endswith(
        f"(No supplier has a record of the product key ID {unique_key} with this serial number.)"
    )
    assert isinstance(unknown, NoMatch)
    assert unknown.message.endswith(
        f"(No supplier has a record of the product key ID {unknown_key}.)"
    )


def test_nothing_to_resolve_is_an_empty_answer():
    assert resolve() == []
