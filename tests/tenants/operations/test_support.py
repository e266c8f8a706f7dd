"""What support finds: everything a request ID touched, and a device's owners
and registrations across tenants."""

from __future__ import annotations

import uuid

import pytest

from config import logging as log_context
from tenants import db, outcomes
from tenants.models import RequestLog
from tenants.operations import support
from tenants.registration import devices
from tenants.scoping import Scope, scoped
from tests.factories import (
    device,
    new_tenant,
    partner_with_customer,
    process,
    registrations,
    submit,
    unique,
)

pytestmark = pytest.mark.usefixtures("settings")


def request_id() -> str:
    return uuid.uuid4().hex


def log_request(rid: str, status: int = 202, **columns) -> None:
    with db.transaction() as session:
        session.add(
            RequestLog(request_id=rid, method="POST", path="/v1/x", status=status, **columns)
        )


def trace(rid: str) -> dict | None:
    with db.transaction() as session:
        return support.trace_request(session, rid)


def test_a_request_id_leads_to_the_request_its_order_rows_and_events():
    partner, tenant = partner_with_customer()
    rid = request_id()
    log_request(
        rid,
        principal_kind="partner",
        principal_id=str(partner.id),
        client_request_id="Batch-7",
    )
    with log_context.bound(principal=f"partner:{partner.id}", request_id=rid):
        result = submit(
            tenant, [device(), {"hardware_hash": "junk"}], partner, request_id=rid, order_id="PO-9"
        )

    found = trace(rid.upper())  # pasted in capitals: still found

    assert found["request_id"] == rid and found["failed"] is False
    [logged] = found["requests"]
    assert (logged["client_request_id"], logged["principal_name"]) == ("Batch-7", partner.name)
    [order] = found["orders"]
    assert (order["id"], order["order_id"], order["tenant_name"], order["partner_name"]) == (
        result.order.id,
        "PO-9",
        tenant.name,
        partner.name,
    )
    assert order["counts"]["by_state"] == {outcomes.PENDING: 1, outcomes.FAILED: 1}
    assert found["registrations_touched"] == 2
    [failed] = found["failed_registrations"]
    assert failed.error_code == outcomes.HARDWARE_HASH_INVALID
    [event] = found["audit_events"]
    assert (event["action"], event["actor"], event["actor_name"]) == (
        "order.submitted",
        f"partner:{partner.id}",
        partner.name,
    )


def test_a_request_answered_5xx_is_a_failed_request():
    rid = request_id()
    log_request(rid, status=500, error={"type": "RuntimeError"})

    found = trace(rid)

    assert found["failed"] is True
    assert found["requests"][0]["error"] == {"type": "RuntimeError"}
    assert found["orders"] == [] and found["registrations_touched"] == 0


def test_a_request_id_nothing_carries_finds_nothing():
    assert trace(request_id()) is None


def test_the_rows_a_later_request_changed_are_traced_to_it_too():
    tenant = new_tenant()
    result = submit(tenant, [device(), device()])
    process(result)
    first, _ = registrations(result.order.id)
    rid = request_id()

    with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
        devices.deregister(session, first.id, rid)

    found = trace(rid)
    assert found["requests"] == [] and found["orders"] == []
    assert found["registrations_touched"] == 1


def test_callers_own_request_ids_are_matched_whatever_their_case_newest_first():
    mine = unique("Client-Req")
    older, newer = request_id(), request_id()
    log_request(older, client_request_id=mine)
    log_request(newer, client_request_id=mine.lower())
    log_request(request_id(), client_request_id=unique("Client-Req"))

    with db.transaction() as session:
        found = support.requests_by_client_id(session, f" {mine.upper()} ")

    assert [r["request_id"] for r in found] == [newer, older]


def test_a_devices_history_spans_tenants_and_names_its_owner():
    seller, buyer = new_tenant(), new_tenant()
    serial = unique("SN")
    sold = submit(seller, [device(serial)])
    process(sold)
    [first] = registrations(sold.order.id)
    with scoped(Scope.tenant(seller.id)), db.transaction() as session:
        devices.deregister(session, first.id, request_id())
    bought = submit(buyer, [device(serial)])
    process(bought)
    [second] = registrations(bought.order.id)

    with db.transaction() as session:
        history = support.device_history(session, f"  {serial.lower()} ")
        other_maker = support.device_history(session, serial, manufacturer="Fabrikam")

    assert [(r["registration"].id, r["tenant_name"]) for r in history["registrations"]] == [
        (first.id, seller.name),
        (second.id, buyer.name),
    ]
    assert history["owners"] == [
        {"tenant_id": buyer.id, "tenant_name": buyer.name, "registration_id": second.id}
    ]
    assert [(e["action"], e["actor_name"]) for e in history["events"]] == [
        ("device.deregistered", None)  # the domain call had no principal: "system"
    ]
    assert other_maker["registrations"] == [] and other_maker["owners"] == []


def test_names_are_looked_up_by_principal_label():
    partner, tenant = partner_with_customer()

    with db.transaction() as session:
        names = support.Names(session)
        labels = [
            names.label(f"partner:{partner.id}"),
            names.label(f"tenant:{tenant.id}"),
            names.label("supplier:OEM-7"),
            names.label("support"),
            names.label(f"tenant:{uuid.uuid4()}"),
            names.label("tenant:not-a-uuid"),
            names.label("cli"),
        ]

    assert labels == [partner.name, tenant.name, "OEM-7", "Support", None, None, None]
