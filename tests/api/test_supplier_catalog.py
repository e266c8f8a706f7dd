"""The supplier catalog: suppliers upload factory records; partner rows with
only the (manufacturer, model, serial number) tuple or only a PKID resolve
against it, through HTTP and a real worker."""

from __future__ import annotations

import threading

import requests
from sqlalchemy import func, select

from tenants import db
from tenants.ingest.hardware_hash import build_hardware_hash
from tenants.models import ApiClient, CatalogDevice
from tests.csv_files import CSV_HEADERS, csv_row, encode_csv
from tests.factories import unique
from tests.http import assert_problem, upload, wait_for_order


def pkid() -> str:
    return str(int(unique("x").split("-")[1], 16))[:13].rjust(13, "7")


def test_tuple_and_pkid_rows_resolve_against_the_catalog(api, world, run_worker):
    supplier, partner, tenant = world.supplier(), world.partner(), world.tenant()
    world.approved(partner, tenant)
    by_tuple, by_pkid, by_pkid_and_serial, unknown = (unique("SN") for _ in range(4))
    keys = {serial: pkid() for serial in (by_tuple, by_pkid, by_pkid_and_serial)}
    records = [
        {
            "manufacturer": "Fabrikam",
            "model": "Tower 9",
            "serial_number": serial,
            "product_key_id": key,
        }
        for serial, key in keys.items()
    ]
    stored = api.post("/v1/supplier/catalog", token=supplier.token, json={"devices": records})
    assert stored.status_code == 200, stored.text
    assert stored.json() == {"received": 3, "stored": 3, "rejected": 0, "rejections": []}

    response = world.submit(
        partner,
        tenant,
        [
            {"manufacturer": "FABRIKAM ", "model": "tower 9", "serial_number": by_tuple},
            {"product_key_id": keys[by_pkid]},
            {"product_key_id": keys[by_pkid_and_serial], "serial_number": by_pkid_and_serial},
            {"manufacturer": "Fabrikam", "model": "Tower 9", "serial_number": unknown},
            {"manufacturer": "Fabrikam", "model": "Tower 1", "serial_number": by_tuple},
            {"product_key_id": "1111111111111"},
        ],
    )
    assert response.status_code == 202, response.text
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)

    rows = api.get(f"/v1/partner/orders/{order['id']}/registrations", token=partner.token).json()
    assert [(r["serial_number"], r["state"], r["error_code"]) for r in rows] == [
        (by_tuple, "ready_for_user", None),
        (by_pkid, "ready_for_user", None),
        (by_pkid_and_serial, "ready_for_user", None),
        (unknown, "registration_failed", "device_not_found"),
        (by_tuple, "registration_failed", "duplicate_in_order"),
        (None, "registration_failed", "device_not_found"),
    ]
    assert rows[1]["manufacturer"] == "Fabrikam" and rows[1]["model"] == "Tower 9"
    assert "No supplier has a record" in rows[3]["message"]
    assert "1111111111111" in rows[5]["message"]


def test_tuple_with_the_wrong_model_is_not_found(api, world, run_worker):
    supplier, partner, tenant = world.supplier(), world.partner(), world.tenant()
    world.approved(partner, tenant)
    serial = unique("SN")
    api.post(
        "/v1/supplier/catalog",
        token=supplier.token,
        json={
            "devices": [{"manufacturer": "Fabrikam", "model": "Tower 9", "serial_number": serial}]
        },
    )

    response = world.submit(
        partner, tenant, [{"manufacturer": "Fabrikam", "model": "Tower 1", "serial_number": serial}]
    )
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)

    [row] = api.get(f"/v1/partner/orders/{order['id']}/registrations", token=partner.token).json()
    assert row["error_code"] == "device_not_found"
    assert "'Tower 1' does not match" in row["message"]


def test_catalog_from_csv_files_and_its_rejections(api, world, run_worker):
    supplier, partner, tenant = world.supplier(), world.partner(), world.tenant()
    world.approved(partner, tenant)
    with_hash, plain = unique("SN"), unique("SN")
    factory = encode_csv(
        [
            CSV_HEADERS["partner"],
            csv_row(
                "partner",
                serial=with_hash,
                manufacturer="Fabrikam",
                model="Tower 9",
                hardware_hash=build_hardware_hash("Fabrikam", "Tower 9", with_hash),
            ),
            csv_row("partner", serial=plain, manufacturer="Fabrikam", model="Tower 9"),
            csv_row("partner", serial="", manufacturer="Fabrikam", model="Tower 9"),
            csv_row("partner", serial="S9", hardware_hash="%%%"),
        ],
        encoding="utf-16-le-bom",
    )

    stored = upload(api, "/v1/supplier/catalog", supplier.token, [("factory.csv", factory)])

    assert stored.status_code == 200, stored.text
    body = stored.json()
    assert (body["received"], body["stored"], body["rejected"]) == (4, 2, 2)
    assert [(r["source"], r["line"]) for r in body["rejections"]] == [
        ("factory.csv", 4),
        ("factory.csv", 5),
    ]
    assert "serial number" in body["rejections"][0]["message"]
    assert "hardware hash" in body["rejections"][1]["message"]

    response = world.submit(
        partner,
        tenant,
        [
            {"manufacturer": "Fabrikam", "model": "Tower 9", "serial_number": with_hash},
            {"manufacturer": "Fabrikam", "model": "Tower 9", "serial_number": plain},
        ],
    )
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)
    assert order["counts"]["by_state"] == {"ready_for_user": 2}


def test_catalog_resolved_device_is_one_device_with_its_hash_registration(api, world, run_worker):
    """A device registered by hash elsewhere cannot be claimed again by tuple."""
    supplier = world.supplier()
    partner_a, partner_b = world.partner(), world.partner()
    tenant_a, tenant_b = world.tenant(), world.tenant()
    world.approved(partner_a, tenant_a)
    world.approved(partner_b, tenant_b)
    serial = unique("SN")
    api.post(
        "/v1/supplier/catalog",
        token=supplier.token,
        json={
            "devices": [{"manufacturer": "Fabrikam", "model": "Tower 9", "serial_number": serial}]
        },
    )
    first = world.submit(
        partner_a,
        tenant_a,
        [{"hardware_hash": build_hardware_hash("Fabrikam", "Tower 9", serial)}],
    )
    wait_for_order(api, partner_a.token, first.headers["Location"], run_worker)

    second = world.submit(
        partner_b,
        tenant_b,
        [{"manufacturer": "fabrikam", "model": "Tower 9", "serial_number": serial}],
    )
    order = wait_for_order(api, partner_b.token, second.headers["Location"], run_worker)

    assert order["counts"]["by_error_code"] == {"device_claimed_by_another_organization": 1}


def test_only_suppliers_reach_the_catalog(api, world):
    partner = world.partner()

    response = api.post(
        "/v1/supplier/catalog",
        token=partner.token,
        json={"devices": [{"manufacturer": "A", "model": "B", "serial_number": "C"}]},
    )

    assert_problem(response, 404, "not_found")


def test_empty_catalog_upload_is_422(api, world):
    supplier = world.supplier()

    response = api.post("/v1/supplier/catalog", token=supplier.token, json={"devices": []})

    assert_problem(response, 422, "validation_failed")


def _record(serial: str, key: str, model: str = "Tower 9") -> dict:
    return {
        "manufacturer": "Fabrikam",
        "model": model,
        "serial_number": serial,
        "product_key_id": key,
    }


def test_a_supplier_cannot_take_over_another_suppliers_record(api, world, run_worker):
    oem1, oem2 = world.supplier(), world.supplier()
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    serial, key, forged_key = unique("SN"), pkid(), pkid()
    first = api.post(
        "/v1/supplier/catalog", token=oem1.token, json={"devices": [_record(serial, key)]}
    )
    assert first.json()["stored"] == 1, first.text

    # The same manufacturer and serial number from another supplier, with its own PKID
    # and model, in JSON and in a CSV file: refused row by row, with the reason.
    takeover = api.post(
        "/v1/supplier/catalog",
        token=oem2.token,
        json={"devices": [_record(unique("SN"), pkid()), _record(serial, forged_key, "Evil")]},
    )
    assert takeover.status_code == 200, takeover.text
    body = takeover.json()
    assert (body["received"], body["stored"], body["rejected"]) == (2, 1, 1)
    [rejection] = body["rejections"]
    assert rejection["line"] == 2
    assert "Another supplier already has a factory record" in rejection["message"]
    factory = encode_csv(
        [
            ("Manufacturer", "Model", "Serial Number", "Hardware Hash"),
            ("FABRIKAM", "Evil", serial.lower(), ""),
        ]
    )
    by_file = upload(api, "/v1/supplier/catalog", oem2.token, [("factory.csv", factory)])
    assert by_file.json()["rejected"] == 1, by_file.text
    assert by_file.json()["rejections"][0]["source"] == "factory.csv"

    # The catalog still says what OEM1 said: its PKID resolves, OEM2's does not.
    response = world.submit(
        partner, tenant, [{"product_key_id": key}, {"product_key_id": forged_key}]
    )
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)
    rows = api.get(f"/v1/partner/orders/{order['id']}/registrations", token=partner.token).json()
    assert [(r["model"], r["state"], r["error_code"]) for r in rows] == [
        ("Tower 9", "ready_for_user", None),
        (None, "registration_failed", "device_not_found"),
    ]

    # Its owner may still replace it.
    again = api.post(
        "/v1/supplier/catalog", token=oem1.token, json={"devices": [_record(serial, key, "T10")]}
    )
    assert again.json()["stored"] == 1, again.text


def test_two_suppliers_uploading_the_same_devices_at_once_each_device_has_one_owner(
    api, world, base_url
):
    suppliers = [world.supplier(), world.supplier()]
    serials = [unique("RACE") for _ in range(400)]
    answers: list = [None, None]
    barrier = threading.Barrier(2)

    def send(index: int) -> None:
        records = [_record(serial, pkid()) for serial in serials]
        with requests.Session() as http:
            barrier.wait(timeout=30)
            answers[index] = http.post(
                f"{base_url}/v1/supplier/catalog",
                headers={"Authorization": f"Bearer {suppliers[index].token}"},
                json={"devices": records},
                timeout=120,
            )

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bodies = []
    for response in answers:
        api.check_against_spec(response)
        assert response.status_code == 200, response.text
        bodies.append(response.json())
    assert sum(b["stored"] for b in bodies) == len(serials)
    assert sum(b["rejected"] for b in bodies) == len(serials)
    with db.transaction() as session:
        owners = dict(
            session.execute(
                select(CatalogDevice.supplier_id, func.count())
                .where(CatalogDevice.serial_number.in_(serials))
                .group_by(CatalogDevice.supplier_id)
            ).all()
        )
        for supplier, body in zip(suppliers, bodies, strict=True):
            supplier_id = session.scalar(
                select(ApiClient.supplier_id).where(ApiClient.client_id == supplier.client_id)
            )
            assert owners.get(supplier_id, 0) == body["stored"]


def test_a_pkid_row_for_another_organisations_device_shows_only_what_was_submitted(
    api, world, run_worker
):
    supplier = world.supplier()
    owner_partner, owner = world.partner(), world.tenant()
    prober, prober_customer = world.partner(), world.tenant()
    world.approved(owner_partner, owner)
    world.approved(prober, prober_customer)
    serial, key = unique("OWNED-SN"), pkid()
    api.post(
        "/v1/supplier/catalog",
        token=supplier.token,
        json={"devices": [_record(serial, key, "Secret Model")]},
    )
    owned = world.submit(owner_partner, owner, [{"product_key_id": key}])
    wait_for_order(api, owner_partner.token, owned.headers["Location"], run_worker)

    # Another partner, for another customer, submits only the PKID.
    response = world.submit(prober, prober_customer, [{"product_key_id": key}])
    order = wait_for_order(api, prober.token, response.headers["Location"], run_worker)

    [row] = api.get(f"/v1/partner/orders/{order['id']}/registrations", token=prober.token).json()
    assert row["error_code"] == "device_claimed_by_another_organization"
    assert (row["manufacturer"], row["model"], row["serial_number"]) == (None, None, None)
    assert row["product_key_id"] == key
    for token, path in (
        (prober.token, f"/v1/partner/orders/{order['id']}/failures.csv"),
        (prober_customer.token, f"/v1/customer/orders/{order['id']}/failures.csv"),
        (
            prober_customer.token,
            "/v1/customer/devices?error_code=device_claimed_by_another_organization",
        ),
    ):
        text = api.get(path, token=token).text
        assert key in text
        for secret in (serial, "Secret Model", "Fabrikam"):
            assert secret not in text, (path, secret)

    # The owner's own row, resolved by the same PKID, shows the device.
    [owned_row] = api.get(
        f"/v1/partner/orders/{owned.json()['id']}/registrations", token=owner_partner.token
    ).json()
    assert (owned_row["serial_number"], owned_row["model"]) == (serial, "Secret Model")
