"""Lists exported as CSV from the API: the customer's devices, the orders
and an order's rows, with the list's filters and sort, every matching row
(not a page), cells that never run as spreadsheet formulas, and nothing of
another organisation's."""

from __future__ import annotations

import csv
import io

import pytest

from tests.factories import device, devices, unique
from tests.http import assert_problem, wait_for_order

BOM = "\ufeff"


def read_csv(response) -> list[dict]:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    assert "X-Pagination" not in response.headers  # every row, no pages
    text = response.content.decode("utf-8")
    assert text.startswith(BOM)
    return list(csv.DictReader(io.StringIO(text.removeprefix(BOM))))


def every_page(api, path: str, token: str) -> list[dict]:
    """Every row of a JSON list, page after page by cursor."""
    rows, url = [], path
    while url:
        response = api.get(url, token=token)
        assert response.status_code == 200, response.text
        rows += response.json()
        link = response.headers.get("Link")
        url = link[link.index("/v1/") : link.index(">")] if link else None
    return rows


@pytest.fixture
def fleet(api, world, run_worker):
    """A customer with 35 devices from two orders of a partner, one row
    failed, and devices whose values a spreadsheet would run as formulas."""
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    first = world.submit(partner, tenant, devices(20, group_tag="Kiosk"), order_id="EXPORT-1")
    wait_for_order(api, partner.token, first.headers["Location"], run_worker)
    hostile = [
        device(unique("SN"), model='=HYPERLINK("http://evil.example","x")'),
        device(unique("SN"), assigned_user="@SUM(1+1)"),
        device(unique("SN"), model="+cmd|' /C calc'!A0"),
    ]
    broken = {"serial_number": unique("SN"), "hardware_hash": "not a hash"}
    second = world.submit(partner, tenant, devices(12) + hostile + [broken], order_id="-EXPORT-2")
    order = wait_for_order(api, partner.token, second.headers["Location"], run_worker)
    return partner, tenant, order


def test_the_device_export_holds_every_device_the_filters_select(api, fleet):
    _, tenant, _ = fleet
    listed = every_page(api, "/v1/customer/devices?page_size=7&sort=serial_number", tenant.token)
    assert len(listed) == 36  # several pages

    exported = read_csv(
        api.get(
            "/v1/customer/devices?format=csv&sort=serial_number&page_size=7", token=tenant.token
        )
    )

    assert [row["Device ID"] for row in exported] == [d["id"] for d in listed]
    by_id = {d["id"]: d for d in listed}
    for row in exported:
        shown = by_id[row["Device ID"]]
        assert row["State"] == shown["state"]
        assert row["Registered By"] == shown["registered_by"]
        assert row["Order"] == shown["order"]
        assert row["Registered At"] == (shown["registered_at"] or "").replace("Z", "+00:00")
    failed = [row for row in exported if row["State"] == "registration_failed"]
    assert [row["Error Code"] for row in failed] == ["hardware_hash_invalid"]

    # The filters apply: the first order's devices, registered.
    kiosk = read_csv(
        api.get(
            "/v1/customer/devices?format=csv&order_id=EXPORT-1&state=ready_for_user",
            token=tenant.token,
        )
    )
    assert len(kiosk) == 20 and {row["Group Tag"] for row in kiosk} == {"Kiosk"}


def test_accept_text_csv_asks_for_the_export_and_format_json_for_the_page(api, fleet):
    _, tenant, _ = fleet
    by_header = api.get(
        "/v1/customer/devices?page_size=5", token=tenant.token, headers={"Accept": "text/csv"}
    )
    assert len(read_csv(by_header)) == 36

    page = api.get(
        "/v1/customer/devices?page_size=5&format=json",
        token=tenant.token,
        headers={"Accept": "text/csv"},
    )
    assert page.headers["Content-Type"].startswith("application/json")
    assert len(page.json()) == 5

    wrong = api.get("/v1/customer/devices?format=xlsx", token=tenant.token)
    problem = assert_problem(wrong, 422, "validation_failed")
    assert "format" in str(problem["errors"])


def test_exported_cells_never_run_as_formulas(api, fleet):
    partner, tenant, order = fleet

    files = {
        "devices": api.get("/v1/customer/devices?format=csv", token=tenant.token),
        "orders": api.get("/v1/partner/orders?format=csv", token=partner.token),
        "rows": api.get(
            f"/v1/partner/orders/{order['id']}/registrations?format=csv", token=partner.token
        ),
    }

    for name, response in files.items():
        for row in read_csv(response):
            for cell in row.values():
                assert not cell or cell[0] not in "=+-@\t\r", f"{name}: {cell!r}"
    devices_file = files["devices"].text
    assert '"\'=HYPERLINK(""http://evil.example"",""x"")"' in devices_file
    assert '"\'@SUM(1+1)"' in devices_file
    assert "\"'+cmd|' /C calc'!A0\"" in devices_file
    assert '"\'-EXPORT-2"' in files["orders"].text


def test_the_order_exports_hold_every_order_and_every_selected_row(api, world, fleet, run_worker):
    partner, tenant, order = fleet
    # A third order, for another customer of the same partner.
    other = world.tenant()
    world.approved(partner, other)
    third = world.submit(partner, other, devices(2), order_id="EXPORT-3")
    wait_for_order(api, partner.token, third.headers["Location"], run_worker)

    listed = every_page(api, "/v1/partner/orders?page_size=1", partner.token)
    exported = read_csv(api.get("/v1/partner/orders?format=csv", token=partner.token))

    assert [row["Order"] for row in exported] == [o["id"] for o in listed]
    assert [row["Order Reference"] for row in exported] == ["EXPORT-3", "'-EXPORT-2", "EXPORT-1"]
    second = exported[1]
    assert (second["Rows"], second["Registered"], second["Failed"]) == ("16", "15", "1")
    assert second["Customer ID"] == str(tenant.id)
    # The customer's export: its own orders, not the other customer's.
    mine = read_csv(
        api.get("/v1/customer/orders", token=tenant.token, headers={"Accept": "text/csv"})
    )
    assert [row["Order Reference"] for row in mine] == ["'-EXPORT-2", "EXPORT-1"]

    rows_path = f"/v1/partner/orders/{order['id']}/registrations"
    rows = read_csv(api.get(rows_path + "?format=csv", token=partner.token))
    assert [row["Line"] for row in rows] == [str(n) for n in range(1, 17)]
    failed = read_csv(
        api.get(rows_path + "?format=csv&state=registration_failed", token=partner.token)
    )
    assert [(row["Line"], row["Error Code"]) for row in failed] == [("16", "hardware_hash_invalid")]
    as_customer = read_csv(
        api.get(f"/v1/customer/orders/{order['id']}/registrations?format=csv", token=tenant.token)
    )
    assert as_customer == rows


def test_another_organisation_exports_nothing_of_this_one(api, world, fleet):
    partner, tenant, order = fleet
    partner_b, tenant_b = world.partner(), world.tenant()
    world.approved(partner_b, tenant_b)

    assert read_csv(api.get("/v1/customer/devices?format=csv", token=tenant_b.token)) == []
    assert read_csv(api.get("/v1/partner/orders?format=csv", token=partner_b.token)) == []
    assert read_csv(api.get("/v1/customer/orders?format=csv", token=tenant_b.token)) == []
    for token, audience in ((partner_b.token, "partner"), (tenant_b.token, "customer")):
        response = api.get(
            f"/v1/{audience}/orders/{order['id']}/registrations?format=csv", token=token
        )
        assert_problem(response, 404, "not_found")
