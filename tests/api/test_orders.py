"""A partner's order, end to end: HTTP in, a real RQ worker, HTTP out."""

from __future__ import annotations

from tests.factories import device, unique
from tests.http import assert_problem, wait_for_order


def test_partner_order_registers_device_end_to_end(api, world, run_worker):
    partner, tenant, support = world.partner(), world.tenant(), world.support()
    world.approved(partner, tenant)
    serial = unique("SN")

    response = world.submit(partner, tenant, [device(serial)], order_id="PO-1", purchase_id="P-9")

    assert response.status_code == 202
    accepted = response.json()
    assert accepted["status"] == "accepted"
    assert accepted["counts"]["by_state"] == {"registration_pending": 1}
    assert response.headers["Location"] == f"/v1/partner/orders/{accepted['id']}"
    assert accepted["request_id"] == response.headers["X-Request-ID"]

    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)
    assert order["status"] == "completed"
    assert order["counts"]["by_state"] == {"ready_for_user": 1}

    rows = api.get(f"/v1/partner/orders/{order['id']}/registrations", token=partner.token).json()
    assert [(r["serial_number"], r["state"], r["line"]) for r in rows] == [
        (serial, "ready_for_user", 1)
    ]

    devices = api.get("/v1/customer/devices", token=tenant.token).json()
    assert [d["serial_number"] for d in devices] == [serial]
    one = api.get(f"/v1/customer/devices/{devices[0]['id']}", token=tenant.token).json()
    assert one["state"] == "ready_for_user" and one["manufacturer"] == "Contoso"

    trace = api.get(f"/v1/support/requests/{accepted['request_id']}", token=support.token).json()
    assert trace["requests"][0]["method"] == "POST"
    assert trace["requests"][0]["status"] == 202
    assert trace["requests"][0]["principal_kind"] == "partner"
    assert trace["orders"][0]["id"] == order["id"]


def test_partner_without_relationship_gets_403(api, world):
    partner, tenant = world.partner(), world.tenant()

    response = world.submit(partner, tenant, [device()])

    body = assert_problem(response, 403, "relationship_required")
    assert tenant.name if hasattr(tenant, "name") else True
    assert str(tenant.id) not in body["detail"] or "relationship" in body["detail"]


def test_partner_with_pending_relationship_gets_403(api, world):
    partner, tenant = world.partner(), world.tenant()
    api.post(f"/v1/partner/customers/{tenant.id}/relationship-requests", token=partner.token)

    assert_problem(world.submit(partner, tenant, [device()]), 403, "relationship_required")


def test_revoked_relationship_stops_new_orders(api, world):
    partner, tenant = world.partner(), world.tenant()
    relationship_id = world.approved(partner, tenant)
    revoke = api.post(f"/v1/customer/relationships/{relationship_id}/revoke", token=tenant.token)
    assert revoke.json()["status"] == "revoked"

    assert_problem(world.submit(partner, tenant, [device()]), 403, "relationship_required")


def test_one_device_two_partners_two_tenants_ends_with_one_owner(api, world, run_worker):
    partner_a, partner_b = world.partner(), world.partner()
    tenant_a, tenant_b = world.tenant(), world.tenant()
    world.approved(partner_a, tenant_a)
    world.approved(partner_b, tenant_b)
    serial = unique("SN")

    first = world.submit(partner_a, tenant_a, [device(serial)])
    order_a = wait_for_order(api, partner_a.token, first.headers["Location"], run_worker)
    # A later capture of the same PC. (Orders of two organisations waiting
    # together are served in turn, not first come first served: see
    # jobs/lanes.py. Whichever is processed first claims the device.)
    second = world.submit(partner_b, tenant_b, [device(serial)])
    order_b = wait_for_order(api, partner_b.token, second.headers["Location"], run_worker)

    assert order_a["counts"]["by_state"] == {"ready_for_user": 1}
    assert order_b["status"] == "failed"
    assert order_b["counts"]["by_error_code"] == {"device_claimed_by_another_organization": 1}
    rows_b = api.get(
        f"/v1/partner/orders/{order_b['id']}/registrations", token=partner_b.token
    ).json()
    assert rows_b[0]["message"].startswith("This device has already been claimed by another")
    assert str(tenant_a.id) not in str(rows_b)
    assert [
        d["serial_number"]
        for d in api.get("/v1/customer/devices?state=ready_for_user", token=tenant_a.token).json()
    ] == [serial]
    assert api.get("/v1/customer/devices?state=ready_for_user", token=tenant_b.token).json() == []


def test_same_device_twice_for_same_tenant_is_already_registered(api, world, run_worker):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    serial = unique("SN")

    first = world.submit(partner, tenant, [device(serial)])
    wait_for_order(api, partner.token, first.headers["Location"], run_worker)
    second = world.submit(partner, tenant, [device(serial)])
    order = wait_for_order(api, partner.token, second.headers["Location"], run_worker)

    assert order["status"] == "completed"
    assert order["counts"]["by_error_code"] == {"device_already_registered": 1}
    devices = api.get("/v1/customer/devices?state=ready_for_user", token=tenant.token).json()
    assert [d["serial_number"] for d in devices] == [serial]


def test_same_device_twice_in_one_order_processes_the_first_row(api, world, run_worker):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    serial = unique("SN")

    response = world.submit(partner, tenant, [device(serial), device(unique("SN")), device(serial)])
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)

    assert order["status"] == "completed_with_errors"
    rows = api.get(f"/v1/partner/orders/{order['id']}/registrations", token=partner.token).json()
    assert [(r["line"], r["state"], r["error_code"]) for r in rows] == [
        (1, "ready_for_user", None),
        (2, "ready_for_user", None),
        (3, "registration_failed", "duplicate_in_order"),
    ]
    assert "line 1" in rows[2]["message"]


def test_order_rows_are_processed_in_many_chunks(api, world, run_worker):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    devices = [device() for _ in range(120)]  # chunk size is 50 in tests

    response = world.submit(partner, tenant, devices)
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)

    assert order["counts"]["by_state"] == {"ready_for_user": 120}
    page = api.get("/v1/customer/devices?page_size=100", token=tenant.token)
    assert len(page.json()) == 100
    assert '"total": 120' in page.headers["X-Pagination"]
