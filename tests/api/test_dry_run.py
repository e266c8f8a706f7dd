"""The dry run tells what the real run will do: per row, the same verdict,
error code and message, on a file with every kind of error a submission and
a worker can produce (the catalog and ownership included); and a form field
that is wrong is one field error, never the same failure on every row."""

from __future__ import annotations

import pytest

from tenants.ingest.hardware_hash import build_hardware_hash
from tests.csv_files import CSV_HEADERS, csv_row, encode_csv
from tests.factories import UNACCEPTABLE_TAG, device, unique
from tests.http import assert_problem, upload, wait_for_order


def _pkid() -> str:
    return str(int(unique("x").split("-")[1], 16))[:13].rjust(13, "7")


def _hashed(fmt: str, serial: str, manufacturer: str = "Contoso", **extra) -> list[str]:
    return csv_row(
        fmt,
        serial=serial,
        manufacturer=manufacturer,
        hardware_hash=build_hardware_hash(manufacturer, "Laptop 7", serial),
        **extra,
    )


@pytest.fixture
def every_error_kind(api, world, run_worker):
    """A partner's upload of two files (two formats) with a row of every kind:
    (files, the error codes it must produce), and who is involved."""
    supplier, partner, tenant = world.supplier(), world.partner(), world.tenant()
    other_partner, other_tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    world.approved(other_partner, other_tenant)

    known, wrong_model, by_pkid, shared_a, shared_b, elsewhere_by_pkid = (
        unique("CAT") for _ in range(6)
    )
    keys = {by_pkid: _pkid(), elsewhere_by_pkid: _pkid()}
    shared_key = _pkid()
    records = [
        {"manufacturer": "Fabrikam", "model": "Tower 9", "serial_number": s}
        for s in (known, wrong_model)
    ] + [
        {"manufacturer": "Fabrikam", "model": "Tower 9", "serial_number": s, "product_key_id": k}
        for s, k in (*keys.items(), (shared_a, shared_key), (shared_b, shared_key))
    ]
    stored = api.post("/v1/supplier/catalog", token=supplier.token, json={"devices": records})
    assert stored.json()["stored"] == len(records), stored.text

    # Devices held already: one by this customer, two by another organisation.
    mine, theirs = unique("MINE"), unique("THEIRS")
    for who, whom, rows in (
        (partner, tenant, [device(mine)]),
        (
            other_partner,
            other_tenant,
            [
                device(theirs),
                {
                    "manufacturer": "Fabrikam",
                    "model": "Tower 9",
                    "serial_number": elsewhere_by_pkid,
                },
            ],
        ),
    ):
        response = world.submit(who, whom, rows)
        order = wait_for_order(api, who.token, response.headers["Location"], run_worker)
        assert order["status"] == "completed", order

    fresh = unique("NEW")
    fmt = "partner"
    partner_file = encode_csv(
        [
            CSV_HEADERS[fmt],
            _hashed(fmt, fresh),  # registers
            _hashed(fmt, fresh),  # duplicate_in_order
            csv_row(fmt, serial="BAD-1", hardware_hash="@@@not base64"),
            csv_row(fmt, serial="BAD-2", hardware_hash="dGhpc2RldmljZWlzYW5tbWRkZXZpY2U"),
            ["000000000000", "", "", "SpiralOrbit", "ContosoABC"],  # the template's sample row
            # A hash whose decoded serial is not the row's.
            [
                unique("MISMATCH"),
                "",
                build_hardware_hash("Contoso", "Laptop 7", "OTHER"),
                "Contoso",
                "Laptop 7",
            ],
            ["", "", "", "", "Laptop 7"],  # nothing that identifies a device
            ["", "12345", "", "", ""],  # a PKID that is not 13 digits
            csv_row(fmt, serial=known, manufacturer="Fabrikam", model="Tower 9"),
            csv_row(fmt, serial=unique("UNKNOWN"), manufacturer="Fabrikam", model="Tower 9"),
            csv_row(fmt, serial=wrong_model, manufacturer="Fabrikam", model="Tower 1"),
            csv_row(fmt, serial="", product_id=keys[by_pkid], manufacturer="", model=""),
            csv_row(fmt, serial="", product_id="1111111111111", manufacturer="", model=""),
            csv_row(fmt, serial="", product_id=shared_key, manufacturer="", model=""),
            csv_row(fmt, serial=known, manufacturer="Fabrikam", model="Tower 9"),  # duplicate
            # The device the PKID row above resolves to, by its tuple: already registered.
            csv_row(fmt, serial=by_pkid, manufacturer="Fabrikam", model="Tower 9"),
            _hashed(fmt, mine),  # device_already_registered
            _hashed(fmt, theirs),  # device_claimed_by_another_organization
            csv_row(
                fmt, serial="", product_id=keys[elsewhere_by_pkid], manufacturer="", model=""
            ),  # claimed elsewhere, found by its PKID
        ]
    )
    fmt = "collection_script"
    script_file = encode_csv(
        [
            CSV_HEADERS[fmt],
            _hashed(fmt, unique("TAG"), group_tag="Microsoft365Managed_Kiosk"),
            _hashed(fmt, unique("TAG"), group_tag=UNACCEPTABLE_TAG),  # group_tag_invalid
            _hashed(fmt, fresh),  # a duplicate of the other file's row
        ]
    )
    files = [("order.csv", partner_file), ("script.csv", script_file)]
    expected_codes = {
        None,
        "duplicate_in_order",
        "hardware_hash_invalid",
        "device_not_found",
        "device_already_registered",
        "device_claimed_by_another_organization",
        "group_tag_invalid",
    }
    return {"partner": partner, "tenant": tenant, "files": files, "codes": expected_codes}


def test_the_dry_run_says_row_by_row_what_the_real_run_does(api, every_error_kind, run_worker):
    partner, tenant, files = (every_error_kind[k] for k in ("partner", "tenant", "files"))
    path = f"/v1/partner/customers/{tenant.id}/orders"

    dry = upload(api, path, partner.token, files, params={"dry_run": "true"})
    assert dry.status_code == 200, dry.text
    assert api.get("/v1/partner/orders", token=partner.token).json()[1:] == []  # only setup

    real = upload(api, path, partner.token, files)
    assert real.status_code == 202, real.text
    order = wait_for_order(api, partner.token, real.headers["Location"], run_worker)
    rows = api.get(
        f"/v1/partner/orders/{order['id']}/registrations?page_size=100", token=partner.token
    ).json()

    predicted = [
        (r["source"], r["line"], r["verdict"], r["error_code"], r["message"])
        for r in dry.json()["rows"]
    ]
    happened = [
        (
            r["source"],
            r["line"],
            "rejected" if r["state"] == "registration_failed" else "accepted",
            r["error_code"],
            r["message"],
        )
        for r in rows
    ]
    assert predicted == happened
    assert {r[3] for r in happened} == every_error_kind["codes"]
    assert len(happened) == 22
    body = dry.json()
    assert (body["accepted"], body["rejected"]) == (
        sum(r[2] == "accepted" for r in happened),
        sum(r[2] == "rejected" for r in happened),
    )


def test_a_wrong_order_group_tag_is_one_field_error(api, world, run_worker):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    fmt = "partner"
    data = encode_csv([CSV_HEADERS[fmt], *(_hashed(fmt, unique("SN")) for _ in range(302))])
    path = f"/v1/partner/customers/{tenant.id}/orders"

    for params in ({"dry_run": "true"}, None):
        response = upload(
            api, path, partner.token, [("po.csv", data)], params=params, group_tag=UNACCEPTABLE_TAG
        )
        body = assert_problem(response, 422, "group_tag_invalid")
        [message] = body["errors"]["group_tag"]
        assert message.startswith("The group tag is not one this service accepts: ")
        assert list(body["errors"]) == ["group_tag"]
    assert api.get("/v1/partner/orders", token=partner.token).json() == []
