"""The device-row pipeline: each submitted row judged alone (values,
hardware hash, identifiers, group tag) and against the rows before it."""

from __future__ import annotations

import pytest

from tenants import outcomes
from tenants.ingest.device_rows import (
    MAX_SERIAL_LENGTH,
    SAMPLE_ROW_MESSAGE,
    OrderDeduplicator,
    PreparedRow,
    RowContext,
    prepare_row,
)
from tenants.ingest.group_tags import GroupTagPolicy
from tenants.ingest.hardware_hash import (
    SAMPLE_MANUFACTURER,
    SAMPLE_MODEL,
    SAMPLE_ROW_SERIAL,
    build_hardware_hash,
    decode_hardware_hash,
    identity_key,
)

PARTNER = RowContext(self_registration=False)
SELF = RowContext(self_registration=True)


def prepare(values: dict, ctx: RowContext = PARTNER, *, index: int = 0, **where) -> PreparedRow:
    return prepare_row(
        values,
        line_index=index,
        line=where.get("line", index + 2),
        source=where.get("source", "devices.csv"),
        ctx=ctx,
    )


def test_a_hash_row_takes_its_identity_and_missing_values_from_the_hash():
    text = build_hardware_hash("Contoso", "Laptop 7", "SN-1", product_key_id="3302419815347")
    decoded = decode_hardware_hash(text)

    row = prepare({"hardware_hash": text, "group_tag": "  Sales  ", "assigned_user": ""})

    assert not row.failed
    assert row.values == {
        "manufacturer": "Contoso",
        "model": "Laptop 7",
        "serial_number": "SN-1",
        "hardware_hash": text,
        "product_key_id": "3302419815347",
        "group_tag": "Sales",
        "assigned_user": None,
    }
    assert row.identity_key == row.dedupe_key == identity_key("Contoso", "SN-1")
    assert row.hardware_hash_length == len(decoded.raw)
    assert row.hardware_hash == decoded.raw.rstrip(b"\x00")
    columns = row.columns()
    assert (columns["state"], columns["error_code"], columns["hardware_hash_text"]) == (
        outcomes.PENDING,
        None,
        None,
    )
    assert columns["hardware_hash"] == row.hardware_hash  # stored decoded, not as text


def test_the_rows_own_values_are_kept_when_they_match_the_hash():
    text = build_hardware_hash("Contoso", "Laptop 7", "SN-1")

    row = prepare({"hardware_hash": text, "manufacturer": "CONTOSO", "serial_number": " sn-1 "})

    assert not row.failed
    assert (row.values["manufacturer"], row.values["serial_number"]) == ("CONTOSO", "sn-1")
    assert row.identity_key == identity_key("Contoso", "SN-1")


def test_a_row_that_contradicts_its_hash_is_not_found_saying_which_value():
    text = build_hardware_hash("Contoso", "Laptop 7", "SN-1")

    row = prepare({"hardware_hash": text, "serial_number": "SN-2", "model": "Laptop 7"})

    assert row.error_code == outcomes.DEVICE_NOT_FOUND
    # The matching model is not blamed.
    assert row.message.endswith(
        "(The serial number in the row (SN-2) does not match the one in the hardware hash (SN-1).)"
    )


def test_an_unusable_hash_fails_the_row_and_keeps_the_text_for_failures_csv():
    junk = "not-a-hash" + "A" * 10_000

    row = prepare({"hardware_hash": junk, "serial_number": "SN-1"})

    assert row.error_code == outcomes.HARDWARE_HASH_INVALID
    assert row.message.startswith("The hardware hash provided for this device is not formatted")
    assert row.hardware_hash_text == junk[:8192]
    assert row.hardware_hash is None and row.identity_key is None
    assert row.columns()["state"] == outcomes.FAILED


def test_self_registration_needs_the_hash():
    row = prepare({"manufacturer": "Contoso", "model": "Laptop 7", "serial_number": "SN-1"}, SELF)

    assert row.error_code == outcomes.HARDWARE_HASH_INVALID
    assert "Get-WindowsAutopilotInfo" in row.message


def test_a_partner_row_without_hash_is_identified_by_its_tuple_or_its_pkid():
    by_tuple = prepare({"manufacturer": "Contoso ", "model": "Laptop 7", "serial_number": "SN-1"})
    by_pkid = prepare({"product_key_id": "3302419815347"})
    # A serial number alone does not make a tuple; the PKID still identifies it.
    both = prepare({"serial_number": "SN-1", "product_key_id": "3302419815347"})

    assert not by_tuple.failed and by_tuple.identity_key == identity_key("Contoso", "SN-1")
    assert by_tuple.dedupe_key == by_tuple.identity_key
    assert not by_pkid.failed and by_pkid.identity_key is None
    assert by_pkid.dedupe_key == both.dedupe_key == "pkid:3302419815347"


@pytest.mark.parametrize("pkid", ["330241981534", "33024198153470", "33024198153AB"])
def test_a_pkid_that_is_not_13_digits_is_not_found(pkid):
    row = prepare({"product_key_id": pkid, "manufacturer": "Contoso", "model": "Laptop 7"})

    assert row.error_code == outcomes.DEVICE_NOT_FOUND
    assert f"The product key ID {pkid!r} is not 13 digits." in row.message


def test_a_row_without_identifiers_names_what_is_missing():
    row = prepare({"manufacturer": "Contoso", "group_tag": "Sales"})

    assert row.error_code == outcomes.DEVICE_NOT_FOUND
    assert row.message.endswith(
        "Missing here: hardware hash, model, serial number, product key ID."
    )


def test_a_firmware_placeholder_serial_does_not_identify_a_device():
    row = prepare(
        {"manufacturer": "Contoso", "model": "VM", "serial_number": "To be filled by O.E.M."}
    )

    assert row.error_code == outcomes.DEVICE_NOT_FOUND
    assert "is a firmware placeholder" in row.message


def test_the_templates_sample_row_is_refused_whatever_its_case():
    row = prepare(
        {
            "manufacturer": SAMPLE_MANUFACTURER.upper(),
            "model": f" {SAMPLE_MODEL} ",
            "serial_number": SAMPLE_ROW_SERIAL,
        }
    )

    assert (row.error_code, row.message) == (outcomes.DEVICE_NOT_FOUND, SAMPLE_ROW_MESSAGE)


@pytest.mark.parametrize(
    ("serial", "says"),
    [
        ("T0FmAxEAHAAAAAoA6ANGYgAACgDoA0Zi0xd8KuQCCQgCABAACQABAAEAAgAB", "piece of a hardware"),
        ("SN " * 44, f"a serial number has at most {MAX_SERIAL_LENGTH}"),
    ],
)
def test_a_serial_that_cannot_be_one_is_refused_before_the_hash_is_read(serial, says):
    row = prepare({"serial_number": serial, "hardware_hash": "junk"})

    assert row.error_code == outcomes.DEVICE_NOT_FOUND
    assert says in row.message and "check the serial number column" in row.message


def test_the_longest_serial_is_accepted():
    serial = "S-" + "1" * (MAX_SERIAL_LENGTH - 2)

    row = prepare({"manufacturer": "Contoso", "model": "Laptop 7", "serial_number": serial})

    assert not row.failed


def test_the_order_group_tag_applies_to_rows_without_their_own():
    ctx = RowContext(self_registration=False, order_group_tag="Order-Tag")
    values = {"manufacturer": "Contoso", "model": "Laptop 7", "serial_number": "SN-1"}

    assert prepare(values, ctx).values["group_tag"] == "Order-Tag"
    assert prepare({**values, "group_tag": "Row-Tag"}, ctx).values["group_tag"] == "Row-Tag"


def test_a_group_tag_the_customer_does_not_accept_fails_the_row():
    ctx = RowContext(self_registration=False, group_tags=GroupTagPolicy(allowed=("Sales",)))
    values = {"manufacturer": "Contoso", "model": "Laptop 7", "serial_number": "SN-1"}

    refused = prepare({**values, "group_tag": "sales"}, ctx)

    assert refused.error_code == outcomes.GROUP_TAG_INVALID
    assert "differs from 'Sales' in letter case" in refused.message
    assert not prepare({**values, "group_tag": "Sales"}, ctx).failed
    assert not prepare(values, ctx).failed  # no tag at all is fine


# --- duplicates within one order -----------------------------------------------------------


def test_later_rows_of_the_same_device_are_duplicates_naming_the_first():
    dedupe = OrderDeduplicator()
    text = build_hardware_hash("Contoso", "Laptop 7", "SN-1")
    rows = [
        {"hardware_hash": text},
        {"manufacturer": "Contoso", "model": "Laptop 7", "serial_number": "SN-2"},
        # The first device again, by its tuple, spelt differently.
        {"manufacturer": "contoso", "model": "Laptop 7", "serial_number": "sn-1"},
        {"product_key_id": "3302419815347"},
        {"product_key_id": "3302419815347"},
    ]

    judged = [
        dedupe.check(prepare(values, index=n, source=f"file-{n}.csv"))
        for n, values in enumerate(rows)
    ]

    assert [r.error_code for r in judged] == [
        None,
        None,
        outcomes.DUPLICATE_IN_ORDER,
        None,
        outcomes.DUPLICATE_IN_ORDER,
    ]
    assert judged[2].message.endswith("(First seen on file-0.csv, line 2.)")
    assert judged[4].message.endswith("(First seen on file-3.csv, line 5.)")


def test_a_failed_row_does_not_make_the_next_one_a_duplicate():
    dedupe = OrderDeduplicator()
    ctx = RowContext(self_registration=False, group_tags=GroupTagPolicy(allowed=("Sales",)))
    values = {"manufacturer": "Contoso", "model": "Laptop 7", "serial_number": "SN-1"}

    first = dedupe.check(prepare({**values, "group_tag": "Nope"}, ctx, index=0))
    second = dedupe.check(prepare({**values, "group_tag": "Sales"}, ctx, index=1))

    assert first.error_code == outcomes.GROUP_TAG_INVALID
    assert not second.failed


def test_checking_the_same_row_again_does_not_fail_it():
    dedupe = OrderDeduplicator()
    row = prepare({"product_key_id": "3302419815347"})

    assert not dedupe.check(row).failed
    assert not dedupe.check(row).failed
