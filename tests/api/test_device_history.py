"""A device and its history as its owner reads it from the API: every field
with the hash's digest, each order that tried to register it and the
outcome, check-ins, deregistration (who, when, request ID) and registration
again after a resale; another organisation's period of ownership is never
part of it, and another organisation's device is not found."""

from __future__ import annotations

import base64
import hashlib

from tests.factories import device, unique
from tests.http import assert_problem, wait_for_order


def registered(api, world, run_worker, partner, tenant, serial: str) -> dict:
    """Submit the device for the tenant, wait for the order; its row."""
    response = world.submit(partner, tenant, [device(serial)], order_id=unique("PO"))
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)
    [row] = api.get(f"/v1/partner/orders/{order['id']}/registrations", token=partner.token).json()
    return row


def history_of(api, tenant, device_id: str) -> list[dict]:
    response = api.get(f"/v1/customer/devices/{device_id}/history", token=tenant.token)
    assert response.status_code == 200, response.text
    return response.json()


def test_each_owner_reads_its_own_period_of_the_device(api, world, run_worker):
    partner_a, tenant_a = world.partner(), world.tenant()
    partner_b, tenant_b = world.partner(), world.tenant()
    world.approved(partner_a, tenant_a)
    world.approved(partner_b, tenant_b)
    serial = unique("SN")

    first = registered(api, world, run_worker, partner_a, tenant_a, serial)
    repeat = registered(api, world, run_worker, partner_a, tenant_a, serial)
    assert repeat["error_code"] == "device_already_registered"
    checked = api.post(
        f"/v1/customer/devices/{first['id']}/check-ins",
        token=tenant_a.token,
        json={"user": "alice@example.test"},
    )
    assert checked.status_code == 200, checked.text
    released = api.delete(f"/v1/customer/devices/{first['id']}", token=tenant_a.token)
    assert released.status_code == 200, released.text
    # Resold: organisation B registers it, uses it and gives it back.
    resold = registered(api, world, run_worker, partner_b, tenant_b, serial)
    api.post(f"/v1/customer/devices/{resold['id']}/check-ins", token=tenant_b.token, json={})
    api.delete(f"/v1/customer/devices/{resold['id']}", token=tenant_b.token)
    # And A registers it again.
    again = registered(api, world, run_worker, partner_a, tenant_a, serial)

    history = history_of(api, tenant_a, first["id"])

    assert [(h["event"], h["device_id"]) for h in history] == [
        ("submitted", first["id"]),
        ("registered", first["id"]),
        ("submitted", repeat["id"]),
        ("checked_in", first["id"]),
        ("deregistered", first["id"]),
        ("submitted", again["id"]),
        ("registered", again["id"]),
    ]
    attempts = [h for h in history if h["event"] == "submitted"]
    assert [(h["state"], h["error_code"]) for h in attempts] == [
        ("deregistered", None),
        ("registration_failed", "device_already_registered"),
        ("ready_for_user", None),
    ]
    assert all(h["registered_by"].startswith("Partner-") for h in attempts)
    checked_in, deregistered = history[3], history[4]
    assert checked_in["user"] == "alice@example.test"
    assert deregistered["request_id"] == released.headers["X-Request-ID"]
    assert deregistered["actor"].startswith("Tenant-")  # the organisation, by name
    assert deregistered["client_id"] == tenant_a.client_id
    # The same history from the later registration: it is one device.
    assert history_of(api, tenant_a, again["id"]) == history

    # B sees its own period only: nothing of A's rows, requests or name.
    b_history = history_of(api, tenant_b, resold["id"])
    assert [h["event"] for h in b_history] == [
        "submitted",
        "registered",
        "checked_in",
        "deregistered",
    ]
    shown = str(b_history)
    for secret in (first["id"], again["id"], str(tenant_a.id), released.headers["X-Request-ID"]):
        assert secret not in shown


def test_the_device_read_has_every_field_and_the_hash_digest(api, world, run_worker):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    serial = unique("SN")
    row = device(serial, group_tag="Kiosk", assigned_user="bob@example.test")
    response = world.submit(partner, tenant, [row], order_id="PO-7", purchase_id="P-7")
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)
    [listed] = api.get(f"/v1/customer/devices?serial_number={serial}", token=tenant.token).json()

    one = api.get(f"/v1/customer/devices/{listed['id']}", token=tenant.token).json()

    expected = hashlib.sha256(base64.b64encode(base64.b64decode(row["hardware_hash"]))).hexdigest()
    assert one["hash_digest"] == expected
    assert {k: one[k] for k in listed} == listed
    assert (one["group_tag"], one["assigned_user"]) == ("Kiosk", "bob@example.test")
    assert (one["order"], one["order_id"], one["purchase_id"]) == (order["id"], "PO-7", "P-7")
    assert one["partner_id"] == str(partner.id)
    assert one["state_meaning"].startswith("Registered to your organisation")


def test_another_organisations_device_is_not_found(api, world, run_worker):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    row = registered(api, world, run_worker, partner, tenant, unique("SN"))
    other = world.tenant()

    for path in (f"/v1/customer/devices/{row['id']}", f"/v1/customer/devices/{row['id']}/history"):
        assert_problem(api.get(path, token=other.token), 404, "not_found")
