"""The portal's device page and exports over plain HTTP: every serial in the
device list (and a customer's order rows) links to its page, which shows
every field and the history; the Export buttons keep the list's filters and
hold every matching row, never a live formula; another organisation's
device page and order rows are not there."""

from __future__ import annotations

import csv
import html
import io
import re

import pytest

from tests.factories import device, devices, unique
from tests.http import wait_for_order
from tests.portal.conftest import signed_in_session


def table_of(response) -> list[dict]:
    assert response.status_code == 200, response.text[:500]
    assert response.headers["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


@pytest.fixture
def customer(api, world, people, base_url, run_worker):
    """A customer signed in to the portal with 60 devices (three pages of 25)
    from two orders, one of them failed, one deregistered and one with a
    model that a spreadsheet would run."""
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    first = world.submit(partner, tenant, devices(40), order_id="PORTAL-1")
    wait_for_order(api, partner.token, first.headers["Location"], run_worker)
    serial = unique("SN")
    rows = [
        *devices(18, group_tag="Lab"),
        device(serial, model="=1+1", group_tag="Lab"),
        {"hardware_hash": "not a hash", "serial_number": unique("SN")},
    ]
    second = world.submit(partner, tenant, rows, order_id="PORTAL-2")
    order = wait_for_order(api, partner.token, second.headers["Location"], run_worker)
    [target] = api.get(f"/v1/customer/devices?serial_number={serial}", token=tenant.token).json()
    http = signed_in_session(base_url, people("tenant", tenant))
    return {
        "partner": partner,
        "tenant": tenant,
        "http": http,
        "order": order,
        "serial": serial,
        "device": target,
    }


def test_every_serial_links_to_its_device_page(customer, base_url):
    http = customer["http"]
    seen = set()
    for page in (1, 2, 3):
        listed = http.get(f"{base_url}/portal/devices?page_size=25&page={page}", timeout=30)
        assert listed.status_code == 200
        seen |= set(re.findall(r'href="/portal/devices/([0-9a-f-]{36})"', listed.text))
    assert len(seen) == 59  # every device, not the failed row

    order_page = http.get(f"{base_url}/portal/orders/{customer['order']['id']}", timeout=30)
    assert f'href="/portal/devices/{customer["device"]["id"]}"' in order_page.text


def test_the_device_page_shows_every_field_and_the_history(api, customer, base_url):
    http, target, tenant = customer["http"], customer["device"], customer["tenant"]
    api.post(
        f"/v1/customer/devices/{target['id']}/check-ins",
        token=tenant.token,
        json={"user": "carol@example.test"},
    )
    released = api.delete(f"/v1/customer/devices/{target['id']}", token=tenant.token)

    page = http.get(f"{base_url}/portal/devices/{target['id']}", timeout=30)

    assert page.status_code == 200
    text = html.unescape(page.text)
    digest = api.get(f"/v1/customer/devices/{target['id']}", token=tenant.token).json()
    for shown in (
        customer["serial"],
        "Contoso",
        "=1+1",
        "Lab",
        "PORTAL-2",
        digest["hash_digest"],
        "Released by your organisation; kept here as history.",
        "carol@example.test",
        released.headers["X-Request-ID"],
    ):
        assert shown in text, shown
    assert re.findall(r'data-event="([a-z_]+)"', page.text) == [
        "submitted",
        "registered",
        "checked_in",
        "deregistered",
    ]


def test_the_device_export_keeps_the_filters_and_holds_every_row(customer, base_url):
    http = customer["http"]
    listed = http.get(f"{base_url}/portal/devices?q=Lab&sort=serial_number", timeout=30)
    # The Export button carries the list's filters.
    [export_url] = re.findall(r'href="(/portal/devices\.csv[^"]*)"', listed.text)
    export_url = html.unescape(export_url)
    assert "q=Lab" in export_url and "sort=serial_number" in export_url

    lab = table_of(http.get(base_url + export_url, timeout=30))
    every = table_of(http.get(f"{base_url}/portal/devices.csv", timeout=30))

    assert len(lab) == 19
    serials = [row["Serial Number"] for row in lab]
    assert serials == sorted(serials)
    assert len(every) == 59  # more than two pages; failed rows are not devices
    assert {row["State"] for row in every} == {"ready_for_user"}
    model = next(row["Model"] for row in every if row["Serial Number"] == customer["serial"])
    assert model == "'=1+1"  # inert in a spreadsheet


def test_the_order_exports_from_the_portal(api, world, people, customer, base_url):
    partner, order = customer["partner"], customer["order"]
    http = signed_in_session(base_url, people("partner", partner))

    orders_page = http.get(f"{base_url}/portal/orders", timeout=30)
    assert 'href="/portal/orders.csv"' in orders_page.text
    exported = table_of(http.get(f"{base_url}/portal/orders.csv", timeout=30))
    assert [row["Order Reference"] for row in exported] == ["PORTAL-2", "PORTAL-1"]

    order_page = http.get(f"{base_url}/portal/orders/{order['id']}?outcome=failed", timeout=30)
    [rows_url] = re.findall(r'href="(/portal/orders/[^"]*/rows\.csv[^"]*)"', order_page.text)
    failed = table_of(http.get(base_url + html.unescape(rows_url), timeout=30))
    every = table_of(http.get(f"{base_url}/portal/orders/{order['id']}/rows.csv", timeout=30))
    assert [row["Error Code"] for row in failed] == ["hardware_hash_invalid"]
    assert len(every) == 20


def test_another_organisations_device_page_and_rows_are_not_there(
    world, people, customer, base_url
):
    other = signed_in_session(base_url, people("tenant", world.tenant()))
    for path in (
        f"/portal/devices/{customer['device']['id']}",
        f"/portal/orders/{customer['order']['id']}/rows.csv",
    ):
        response = other.get(base_url + path, timeout=30)
        assert response.status_code == 404
        assert customer["serial"] not in response.text
    assert table_of(other.get(f"{base_url}/portal/devices.csv", timeout=30)) == []


def test_support_sees_the_whole_history_across_organisations(
    api, world, people, customer, base_url, run_worker
):
    tenant, target, serial = customer["tenant"], customer["device"], customer["serial"]
    released = api.delete(f"/v1/customer/devices/{target['id']}", token=tenant.token)
    partner_b, tenant_b = world.partner(), world.tenant()
    world.approved(partner_b, tenant_b)
    resold = world.submit(partner_b, tenant_b, [device(serial)])
    wait_for_order(api, partner_b.token, resold.headers["Location"], run_worker)
    http = signed_in_session(base_url, people("support"))

    page = http.get(f"{base_url}/portal/device-history?serial_number={serial}", timeout=30)

    assert page.status_code == 200
    assert len(re.findall(r"data-registration=", page.text)) == 2  # both organisations
    [event] = re.findall(r'<tr data-action="([a-z._]+)">', page.text)
    assert event == "device.deregistered"
    assert released.headers["X-Request-ID"] in page.text
    assert str(tenant.id) in page.text and str(tenant_b.id) in page.text


def test_a_partner_opens_the_device_page_of_a_row_it_submitted(
    api, world, people, customer, base_url
):
    partner, tenant, target = customer["partner"], customer["tenant"], customer["device"]
    api.post(
        f"/v1/customer/devices/{target['id']}/check-ins",
        token=tenant.token,
        json={"user": "dave@example.test"},
    )
    api.delete(f"/v1/customer/devices/{target['id']}", token=tenant.token)
    http = signed_in_session(base_url, people("partner", partner))

    order_page = http.get(f"{base_url}/portal/orders/{customer['order']['id']}", timeout=30)
    assert f'href="/portal/devices/{target["id"]}"' in order_page.text
    page = http.get(f"{base_url}/portal/devices/{target['id']}", timeout=30)

    assert page.status_code == 200
    assert customer["serial"] in page.text and "PORTAL-2" in page.text
    assert re.findall(r'data-event="([a-z_]+)"', page.text) == [
        "submitted",
        "registered",
        "deregistered",
    ]
    assert "dave@example.test" not in page.text  # the customer's check-ins are its own
    assert "Deregister</button>" not in page.text
    other = signed_in_session(base_url, people("partner", world.partner()))
    assert other.get(f"{base_url}/portal/devices/{target['id']}", timeout=30).status_code == 404
