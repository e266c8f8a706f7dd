"""Cursor pagination, over real HTTP: every cursor-paginated list walked to
its end a few rows at a time (each row once, in order, ties on the sort key
included), filters kept across pages, and cursors that are tampered with,
another tenant's or another list's refused with a 400 and no rows."""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update

from tenants import db
from tenants.models import Order
from tenants.scoping import Scope, scoped
from tests.factories import device, unique
from tests.http import assert_problem, wait_for_order

PAGE = 3


def walk(api, token: str, path: str) -> tuple[list[dict], int]:
    """Every row of the list at ``path`` (its filters in the query), following
    ``Link: rel="next"``; checks that ``X-Pagination``'s ``next_cursor``
    agrees. Returns the rows and the number of pages."""
    separator = "&" if "?" in path else "?"
    response = api.get(f"{path}{separator}page_size={PAGE}", token=token)
    rows, pages = [], 0
    while True:
        assert response.status_code == 200, response.text
        pages += 1
        page = response.json()
        assert len(page) <= PAGE
        rows.extend(page)
        metadata = json.loads(response.headers["X-Pagination"])
        link = response.headers.get("Link")
        if link is None:
            assert "next_cursor" not in metadata
            return rows, pages
        url = re.fullmatch(r'<([^>]+)>; rel="next"', link).group(1)
        assert parse_qs(urlsplit(url).query)["cursor"] == [metadata["next_cursor"]]
        assert len(page) == PAGE
        parts = urlsplit(url)
        response = api.get(f"{parts.path}?{parts.query}", token=token)


def first_cursor(api, token: str, path: str) -> str:
    separator = "&" if "?" in path else "?"
    response = api.get(f"{path}{separator}page_size=1", token=token)
    assert response.status_code == 200, response.text
    return json.loads(response.headers["X-Pagination"])["next_cursor"]


@pytest.fixture
def big(api, world, run_worker):
    """A partner and a tenant with four orders (one from the tenant itself),
    two of them created at the same instant, and rows whose serial numbers
    repeat (duplicates in an order fail with the first row's serial)."""
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    created = []
    for n in range(3):
        rows = [device(unique("SN")) for _ in range(4)]
        rows.append(dict(rows[0]))  # the same device twice: a failed row, same serial
        response = world.submit(partner, tenant, rows, order_id=f"ORDER-{n}")
        assert response.status_code == 202, response.text
        created.append(wait_for_order(api, partner.token, response.headers["Location"], run_worker))
    own = api.post(
        "/v1/customer/orders",
        token=tenant.token,
        json={"devices": [device(unique("SN")) for _ in range(2)]},
    )
    assert own.status_code == 202, own.text
    created.append(wait_for_order(api, tenant.token, own.headers["Location"], run_worker))
    # Two orders at the same instant: the id orders them.
    # In the tenant's scope: PostgreSQL's row-level security shows nothing outside one.
    with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
        first = session.get(Order, uuid.UUID(created[1]["id"]))
        session.execute(
            update(Order)
            .where(Order.id == uuid.UUID(created[2]["id"]))
            .values(created_at=first.created_at)
        )
    return partner, tenant, created


def test_every_list_walks_to_its_end_each_row_once_in_order(api, big):
    partner, tenant, created = big

    customer_orders, pages = walk(api, tenant.token, "/v1/customer/orders")
    everything = api.get("/v1/customer/orders?page_size=100", token=tenant.token).json()
    assert [o["id"] for o in customer_orders] == [o["id"] for o in everything]
    assert len(customer_orders) == 4 and pages == 2
    assert [(o["created_at"], o["id"]) for o in customer_orders] == sorted(
        ((o["created_at"], o["id"]) for o in customer_orders), reverse=True
    )

    partner_orders, _ = walk(api, partner.token, "/v1/partner/orders")
    assert {o["id"] for o in partner_orders} == {o["id"] for o in created[:3]}
    assert len(partner_orders) == 3

    devices, pages = walk(api, tenant.token, "/v1/customer/devices")
    assert len(devices) == 3 * 5 + 2 and pages == 6
    assert len({d["id"] for d in devices}) == len(devices)

    by_serial, _ = walk(api, tenant.token, "/v1/customer/devices?sort=serial_number")
    assert len(by_serial) == len(devices)
    assert [(d["serial_number"], d["id"]) for d in by_serial] == sorted(
        (d["serial_number"], d["id"]) for d in devices
    )
    descending, _ = walk(api, tenant.token, "/v1/customer/devices?sort=-serial_number")
    assert [d["id"] for d in descending] == [d["id"] for d in reversed(by_serial)]

    order = created[0]
    rows, _ = walk(api, partner.token, f"/v1/partner/orders/{order['id']}/registrations")
    assert [r["line"] for r in rows] == sorted(r["line"] for r in rows)
    assert len(rows) == len({r["id"] for r in rows}) == 5


def test_filters_keep_applying_across_pages(api, big):
    partner, tenant, created = big

    failed, _ = walk(api, tenant.token, "/v1/customer/devices?state=registration_failed")
    assert len(failed) == 3 and {d["state"] for d in failed} == {"registration_failed"}
    registered, pages = walk(api, tenant.token, "/v1/customer/devices?state=ready_for_user")
    assert len(registered) == 14 and pages == 5
    assert {d["state"] for d in registered} == {"ready_for_user"}

    order = created[1]
    ready, _ = walk(
        api, partner.token, f"/v1/partner/orders/{order['id']}/registrations?state=ready_for_user"
    )
    assert len(ready) == 4 and {r["state"] for r in ready} == {"ready_for_user"}


def test_a_tampered_cursor_is_a_400(api, big):
    _partner, tenant, _created = big
    cursor = first_cursor(api, tenant.token, "/v1/customer/devices")
    payload, _, signature = cursor.rpartition(".")
    for forged in (cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB"), payload, "garbage"):
        response = api.get(f"/v1/customer/devices?cursor={forged}", token=tenant.token)
        problem = assert_problem(response, 400, "invalid_cursor")
        assert "cursor" in problem["errors"]


def test_another_tenants_cursor_is_a_400_and_no_rows(api, world, big):
    _partner, tenant, _created = big
    other = world.tenant()
    for path in ("/v1/customer/devices", "/v1/customer/orders"):
        cursor = first_cursor(api, tenant.token, path)
        response = api.get(f"{path}?cursor={cursor}", token=other.token)
        assert_problem(response, 400, "invalid_cursor")
        assert str(tenant.id) not in response.text


def test_a_cursor_of_another_list_or_other_filters_is_a_400(api, big):
    partner, tenant, created = big
    devices_cursor = first_cursor(api, tenant.token, "/v1/customer/devices")
    assert_problem(
        api.get(f"/v1/customer/orders?cursor={devices_cursor}", token=tenant.token),
        400,
        "invalid_cursor",
    )
    assert_problem(
        api.get(
            f"/v1/customer/devices?state=registration_failed&cursor={devices_cursor}",
            token=tenant.token,
        ),
        400,
        "invalid_cursor",
    )
    first, second = created[0]["id"], created[1]["id"]
    rows_cursor = first_cursor(api, partner.token, f"/v1/partner/orders/{first}/registrations")
    assert_problem(
        api.get(
            f"/v1/partner/orders/{second}/registrations?cursor={rows_cursor}", token=partner.token
        ),
        400,
        "invalid_cursor",
    )


def test_pages_by_number_stop_where_the_cursor_takes_over(api, big):
    _partner, tenant, _created = big
    response = api.get("/v1/customer/devices?page=101&page_size=100", token=tenant.token)
    problem = assert_problem(response, 400, "page_too_deep")
    assert "cursor" in problem["detail"]
    assert api.get("/v1/customer/devices?page=100&page_size=100", token=tenant.token).json() == []


def test_a_devices_support_history_pages_by_cursor(api, world, run_worker):
    """One device, registered by one customer and then tried by four others
    (each a failed row of its own): support walks its history oldest first,
    a few registrations a page; the owner is named on every page."""
    support = world.support()
    serial = unique("SN")
    tenants = []
    for n in range(5):
        partner, tenant = world.partner(), world.tenant()
        world.approved(partner, tenant)
        response = world.submit(partner, tenant, [device(serial)], order_id=f"HISTORY-{n}")
        assert response.status_code == 202, response.text
        wait_for_order(api, partner.token, response.headers["Location"], run_worker)
        tenants.append(tenant)
    path = f"/v1/support/devices?serial_number={serial.lower()}"

    entries, pages = [], 0
    response = api.get(f"{path}&page_size=2", token=support.token)
    while True:
        assert response.status_code == 200, response.text
        pages += 1
        body = response.json()
        assert [o["tenant_id"] for o in body["owners"]] == [str(tenants[0].id)]
        entries += body["registrations"]
        link = response.headers.get("Link")
        if link is None:
            break
        parts = urlsplit(re.fullmatch(r'<([^>]+)>; rel="next"', link).group(1))
        response = api.get(f"{parts.path}?{parts.query}", token=support.token)

    assert pages == 3
    assert [e["registration"]["tenant_id"] for e in entries] == [str(t.id) for t in tenants]
    assert [e["registration"]["state"] for e in entries] == ["ready_for_user"] + [
        "registration_failed"
    ] * 4
    counted = api.get(f"{path}&page_size=2", token=support.token)
    assert json.loads(counted.headers["X-Pagination"])["total"] == 5

    cursor = first_cursor(api, support.token, path)
    other_device = api.get(
        f"/v1/support/devices?serial_number={unique('SN')}&cursor={cursor}", token=support.token
    )
    assert_problem(other_device, 400, "invalid_cursor")
    assert_problem(
        api.get(f"{path}&cursor={cursor[:-3]}xyz", token=support.token), 400, "invalid_cursor"
    )
    # A customer's token finds no support route at all, with or without a cursor.
    response = api.get(f"{path}&cursor={cursor}", token=tenants[0].token)
    assert response.status_code == 404 and serial not in response.text
