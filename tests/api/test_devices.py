"""The customer's devices: the list (filters, sorting, paging, columns),
check-ins, deregistration and re-registration, revocation in mid-order, and
support's view of a device's history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import device, unique
from tests.http import assert_problem, wait_for_order


@pytest.fixture
def registered(api, world, run_worker):
    """A partner and a tenant with three devices registered in one order."""
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    serials = [unique("SN") for _ in range(3)]
    response = world.submit(
        partner,
        tenant,
        [
            device(serials[0], manufacturer="Contoso", model="Laptop 7"),
            device(serials[1], manufacturer="Fabrikam", model="Tower 9"),
            device(
                serials[2],
                manufacturer="Contoso",
                model="Laptop 7",
                group_tag="Microsoft365Managed_Kiosk",
            ),
        ],
        order_id="ORDER-42",
        purchase_id="PO-42",
    )
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)
    return partner, tenant, serials, order


def devices_of(api, tenant, query: str = "") -> list[dict]:
    response = api.get(f"/v1/customer/devices{query}", token=tenant.token)
    assert response.status_code == 200, response.text
    return response.json()


def test_device_list_columns(api, registered):
    partner, tenant, serials, order = registered

    rows = devices_of(api, tenant, f"?serial_number={serials[2]}")

    [row] = rows
    assert row["serial_number"] == serials[2]
    assert (row["manufacturer"], row["model"]) == ("Contoso", "Laptop 7")
    assert row["state"] == "ready_for_user"
    assert row["state_meaning"].startswith("Registered to your organisation")
    assert row["registered_by"].startswith("Partner-")
    assert row["partner_id"] == str(partner.id)
    assert (row["order_id"], row["purchase_id"]) == ("ORDER-42", "PO-42")
    assert row["order"] == order["id"]
    assert row["group_tag"] == "Microsoft365Managed_Kiosk"
    assert row["registered_at"] is not None and row["age_days"] == 0
    assert row["last_seen_at"] is None


def test_device_list_filters_sorting_and_paging(api, world, registered, run_worker):
    partner, tenant, serials, _ = registered
    # The same tenant registers one device itself, with another order reference.
    own_serial = unique("SN")
    response = api.post(
        "/v1/customer/orders",
        token=tenant.token,
        json={"order_id": "SELF-1", "devices": [device(own_serial, manufacturer="Adatum")]},
    )
    wait_for_order(api, tenant.token, response.headers["Location"], run_worker)

    assert {d["serial_number"] for d in devices_of(api, tenant, "?order_id=ORDER-42")} == set(
        serials
    )
    assert [d["serial_number"] for d in devices_of(api, tenant, "?q=fabri")] == [serials[1]]
    assert [d["serial_number"] for d in devices_of(api, tenant, "?q=po-4")] != []
    assert {d["serial_number"] for d in devices_of(api, tenant, f"?partner_id={partner.id}")} == (
        set(serials)
    )
    [own] = devices_of(api, tenant, "?q=adatum")
    assert own["registered_by"] == "Your organisation" and own["partner_id"] is None
    # A % in free text is literal, not a wildcard.
    assert devices_of(api, tenant, "?q=%25") == []

    by_manufacturer = devices_of(api, tenant, "?sort=manufacturer")
    names = [d["manufacturer"] for d in by_manufacturer]
    assert names == sorted(names)
    descending = devices_of(api, tenant, "?sort=-serial_number")
    assert [d["serial_number"] for d in descending] == sorted(
        (d["serial_number"] for d in descending), reverse=True
    )
    # Pages are stable and cover every device once.
    page_1 = api.get("/v1/customer/devices?page_size=2&sort=model", token=tenant.token)
    page_2 = api.get("/v1/customer/devices?page_size=2&page=2&sort=model", token=tenant.token)
    assert json.loads(page_1.headers["X-Pagination"])["total"] == 4
    seen = [d["id"] for d in page_1.json() + page_2.json()]
    assert len(seen) == len(set(seen)) == 4

    bad = api.get("/v1/customer/devices?sort=colour", token=tenant.token)
    body = assert_problem(bad, 422, "validation_failed")
    assert "sort" in body["errors"]["query"]


def test_check_ins_make_a_device_active_then_inactive(api, registered):
    _, tenant, serials, _ = registered
    [row] = devices_of(api, tenant, f"?serial_number={serials[0]}")
    path = f"/v1/customer/devices/{row['id']}/check-ins"

    now = datetime.now(UTC)
    active = api.post(path, token=tenant.token, json={"user": "ada@example.test"})
    assert active.status_code == 200, active.text
    assert active.json()["state"] == "active"
    assert active.json()["last_seen_user"] == "ada@example.test"
    assert [d["serial_number"] for d in devices_of(api, tenant, "?state=active")] == [serials[0]]

    # An older check-in arriving late does not move the last check-in back.
    stale = (now - timedelta(days=30)).isoformat()
    late = api.post(path, token=tenant.token, json={"seen_at": stale})
    assert late.json()["state"] == "active"

    # A device whose last check-in is older than 7 days is inactive.
    [other] = devices_of(api, tenant, f"?serial_number={serials[1]}")
    old = api.post(
        f"/v1/customer/devices/{other['id']}/check-ins",
        token=tenant.token,
        json={"seen_at": (now - timedelta(days=8)).isoformat()},
    )
    assert old.json()["state"] == "inactive"
    assert old.json()["state_meaning"].startswith("Delivered, but it has not checked in")
    assert [d["serial_number"] for d in devices_of(api, tenant, "?state=inactive")] == [serials[1]]

    future = api.post(
        path, token=tenant.token, json={"seen_at": (now + timedelta(days=1)).isoformat()}
    )
    assert_problem(future, 422, "invalid_input")


def test_deregister_then_another_tenant_registers_and_history_shows_both(
    api, world, registered, run_worker
):
    partner_a, tenant_a, serials, _ = registered
    partner_b, tenant_b, support = world.partner(), world.tenant(), world.support()
    world.approved(partner_b, tenant_b)
    serial = serials[0]
    [row] = devices_of(api, tenant_a, f"?serial_number={serial}")

    # Before release, tenant B cannot have it.
    blocked = world.submit(partner_b, tenant_b, [device(serial)])
    order = wait_for_order(api, partner_b.token, blocked.headers["Location"], run_worker)
    assert order["counts"]["by_error_code"] == {"device_claimed_by_another_organization": 1}

    released = api.delete(f"/v1/customer/devices/{row['id']}", token=tenant_a.token)
    assert released.status_code == 200, released.text
    assert released.json()["state"] == "deregistered"
    assert released.json()["deregistered_at"] is not None
    again = api.delete(f"/v1/customer/devices/{row['id']}", token=tenant_a.token)
    assert again.json()["state"] == "deregistered"  # idempotent
    check_in = api.post(
        f"/v1/customer/devices/{row['id']}/check-ins", token=tenant_a.token, json={}
    )
    assert_problem(check_in, 409, "device_deregistered")

    # Tenant B registers it now (a later capture of the same PC).
    resold = world.submit(partner_b, tenant_b, [device(serial)])
    order = wait_for_order(api, partner_b.token, resold.headers["Location"], run_worker)
    assert order["counts"]["by_state"] == {"ready_for_user": 1}

    # Tenant A keeps its history; tenant B sees only its own rows.
    [kept] = devices_of(api, tenant_a, f"?serial_number={serial}")
    assert kept["state"] == "deregistered"
    b_rows = devices_of(api, tenant_b, f"?serial_number={serial}")
    assert sorted(r["state"] for r in b_rows) == ["ready_for_user", "registration_failed"]
    assert str(tenant_a.id) not in str(b_rows)

    history = api.get(
        f"/v1/support/devices?serial_number={serial.lower()}", token=support.token
    ).json()
    assert [
        (h["registration"]["tenant_id"], h["registration"]["state"])
        for h in history["registrations"]
    ] == [
        (str(tenant_a.id), "deregistered"),
        (str(tenant_b.id), "registration_failed"),
        (str(tenant_b.id), "ready_for_user"),
    ]
    assert [o["tenant_id"] for o in history["owners"]] == [str(tenant_b.id)]
    assert [e["action"] for e in history["events"]] == ["device.deregistered"]
    assert history["events"][0]["actor"] == f"tenant:{tenant_a.id}"

    trace = api.get(
        f"/v1/support/requests/{released.headers['X-Request-ID']}", token=support.token
    ).json()
    assert [e["action"] for e in trace["audit_events"]] == ["device.deregistered"]


def test_a_failed_row_cannot_be_deregistered(api, world, run_worker):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    response = world.submit(partner, tenant, [{"hardware_hash": "not a hash"}])
    wait_for_order(api, partner.token, response.headers["Location"], run_worker)
    [row] = devices_of(api, tenant, "?state=registration_failed")

    assert_problem(
        api.delete(f"/v1/customer/devices/{row['id']}", token=tenant.token),
        409,
        "device_not_registered",
    )


def test_revocation_in_mid_order(api, world, run_worker):
    """Rows processed before the revocation stay registered; the rest end
    relationship_revoked."""
    run_worker()  # nothing queued by earlier tests is left
    partner, tenant, support = world.partner(), world.tenant(), world.support()
    relationship_id = world.approved(partner, tenant)
    response = world.submit(partner, tenant, [device() for _ in range(120)])  # 3 chunks of 50
    location = response.headers["Location"]

    run_worker(max_jobs=1)  # the first chunk only
    revoke = api.post(f"/v1/customer/relationships/{relationship_id}/revoke", token=tenant.token)
    assert revoke.status_code == 200

    order = api.get(location, token=partner.token).json()
    # Final at once: the queued rows failed when the relationship was revoked.
    assert order["completed_at"] is not None
    assert order["status"] == "completed_with_errors"
    assert order["counts"]["by_state"] == {"ready_for_user": 50, "registration_failed": 70}
    assert order["counts"]["by_error_code"] == {"relationship_revoked": 70}
    run_worker()  # the remaining jobs find nothing pending and change nothing
    assert api.get(location, token=partner.token).json()["counts"] == order["counts"]
    assert len(devices_of(api, tenant, "?state=ready_for_user&page_size=100")) == 50

    trace = api.get(
        f"/v1/support/requests/{revoke.headers['X-Request-ID']}", token=support.token
    ).json()
    [event] = trace["audit_events"]
    assert event["action"] == "relationship.revoked"
    assert event["detail"]["rows_failed"] == 70


def test_devices_filter_by_the_day_they_were_registered_or_last_seen(api, world):
    from tests.factories import registered_devices

    tenant = world.tenant()
    ids = registered_devices(tenant, 5)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    for device_id in ids[:2]:
        api.post(
            f"/v1/customer/devices/{device_id}/check-ins",
            token=tenant.token,
            json={"seen_at": yesterday.isoformat()},
        )
    today = datetime.now(UTC).date().isoformat()
    assert len(devices_of(api, tenant, f"?registered_on={today}")) == 5
    seen = devices_of(api, tenant, f"?last_seen_on={yesterday.date().isoformat()}")
    assert sorted(d["id"] for d in seen) == sorted(ids[:2])
    assert devices_of(api, tenant, f"?last_seen_on={today}") == []
    bad = api.get("/v1/customer/devices?registered_on=yesterday", token=tenant.token)
    assert "registered_on" in assert_problem(bad, 422, "validation_failed")["errors"]["query"]
