"""Webhooks end to end: real receivers on local ports verify every delivery
with ``standardwebhooks``; real workers send them."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from jobs import tasks
from tenants import db
from tenants.models import WebhookEndpoint, utcnow
from tenants.scoping import unscoped
from tests.events.receivers import Answer
from tests.factories import device, unique
from tests.http import assert_problem, wait_for_order


def _endpoint(api, principal, url: str, audience: str, **fields) -> dict:
    response = api.post(
        f"/v1/{audience}/webhooks", token=principal.token, json={"url": url, **fields}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["secret"].startswith("whsec_")
    return body


def _deliveries(api, principal, audience: str, endpoint_id: str) -> list[dict]:
    response = api.get(f"/v1/{audience}/webhooks/{endpoint_id}/deliveries", token=principal.token)
    assert response.status_code == 200, response.text
    return response.json()


def test_receivers_get_order_relationship_and_device_events_signed(
    api, world, run_worker, receivers
):
    partner, tenant = world.partner(), world.tenant()
    customer_receiver, partner_receiver = receivers(), receivers()
    customer_hook = _endpoint(api, tenant, customer_receiver.url, "customer")
    partner_hook = _endpoint(api, partner, partner_receiver.url, "partner")

    world.approved(partner, tenant)
    serial = unique("SN")
    response = world.submit(partner, tenant, [device(serial), {"serial_number": "only"}])
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)
    [row] = [
        r
        for r in api.get(
            f"/v1/partner/orders/{order['id']}/registrations", token=partner.token
        ).json()
        if r["serial_number"] == serial
    ]
    assert api.delete(f"/v1/customer/devices/{row['id']}", token=tenant.token).status_code == 200
    run_worker()

    seen = customer_receiver.events(customer_hook["secret"])
    assert [e["type"] for e in seen] == [
        "relationship.requested",
        "relationship.approved",
        "order.accepted",
        "order.completed",
        "device.deregistered",
    ]
    completed = seen[3]["data"]
    assert completed["id"] == order["id"]
    assert completed["status"] == "completed_with_errors"
    assert completed["counts"] == order["counts"]
    assert seen[4]["data"]["id"] == row["id"]
    assert all(e["tenant_id"] == str(tenant.id) for e in seen)
    for request, event in zip(customer_receiver.received, seen, strict=True):
        assert request.webhook_id == event["id"]
        assert event["id"].startswith("evt_")

    # The partner hears of its own actions and the decisions about it, not
    # of what the customer did to its devices.
    partner_seen = partner_receiver.events(partner_hook["secret"])
    assert [e["type"] for e in partner_seen] == [
        "relationship.requested",
        "relationship.approved",
        "order.accepted",
        "order.completed",
    ]
    assert [e["id"] for e in partner_seen] == [e["id"] for e in seen[:4]]

    log = _deliveries(api, tenant, "customer", customer_hook["id"])
    assert [d["event_type"] for d in log] == [e["type"] for e in reversed(seen)]
    assert all(d["status"] == "succeeded" and d["attempt_count"] == 1 for d in log)
    assert all(a["status_code"] == 200 and a["error"] is None for d in log for a in d["attempts"])


def test_event_types_choose_what_an_endpoint_gets(api, world, run_worker, receivers):
    partner, tenant = world.partner(), world.tenant()
    receiver = receivers()
    hook = _endpoint(api, tenant, receiver.url, "customer", event_types=["relationship.approved"])
    assert hook["event_types"] == ["relationship.approved"]
    world.approved(partner, tenant)
    run_worker()
    assert [e["type"] for e in receiver.events(hook["secret"])] == ["relationship.approved"]


def test_a_failed_delivery_is_retried_with_the_same_webhook_id(api, world, run_worker, receivers):
    partner, tenant = world.partner(), world.tenant()
    receiver = receivers(Answer(503, body=b"<b>down</b>"), Answer(200))
    hook = _endpoint(api, partner, receiver.url, "partner", event_types=["relationship.requested"])
    response = api.post(
        f"/v1/partner/customers/{tenant.id}/relationship-requests", token=partner.token
    )
    assert response.status_code == 201
    run_worker()

    first, second = receiver.received
    assert first.webhook_id == second.webhook_id
    assert first.body == second.body
    assert second.verified(hook["secret"])["type"] == "relationship.requested"
    [logged] = _deliveries(api, partner, "partner", hook["id"])
    assert logged["status"] == "succeeded"
    assert logged["event_id"] == first.webhook_id
    failed, succeeded = logged["attempts"]
    assert (failed["status_code"], failed["succeeded"]) == (503, False)
    assert "503" in failed["error"]
    assert failed["response_body"] == "<b>down</b>"
    assert (succeeded["status_code"], succeeded["succeeded"]) == (200, True)
    assert all(a["duration_ms"] >= 0 for a in logged["attempts"])
    # The endpoint is not failing any more.
    endpoint = api.get(f"/v1/partner/webhooks/{hook['id']}", token=partner.token).json()
    assert endpoint["failing_since"] is None
    assert "secret" not in endpoint


def test_retries_stop_when_they_run_out(api, world, run_worker, receivers, settings):
    partner = world.partner()
    receiver = receivers(Answer(500))
    hook = _endpoint(api, partner, receiver.url, "partner")
    assert (
        api.post(f"/v1/partner/webhooks/{hook['id']}/ping", token=partner.token).status_code == 202
    )
    run_worker()
    [logged] = _deliveries(api, partner, "partner", hook["id"])
    assert logged["status"] == "failed"
    assert logged["attempt_count"] == len(settings.webhook_retry_delays) + 1
    assert len({r.webhook_id for r in receiver.received}) == 1
    assert len(receiver.received) == logged["attempt_count"]


def test_after_a_rotation_both_secrets_verify_for_a_day(api, world, run_worker, receivers):
    tenant = world.tenant()
    receiver = receivers()
    hook = _endpoint(api, tenant, receiver.url, "customer")
    response = api.post(f"/v1/customer/webhooks/{hook['id']}/rotate-secret", token=tenant.token)
    assert response.status_code == 200
    rotated = response.json()
    assert rotated["secret"] != hook["secret"]
    assert rotated["previous_secret_expires_at"] is not None
    api.post(f"/v1/customer/webhooks/{hook['id']}/ping", token=tenant.token)
    run_worker()
    [request] = receiver.received
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert request.verified(hook["secret"])["type"] == "ping"
    assert request.verified(rotated["secret"])["type"] == "ping"

    # Once the day is over, only the new secret signs.
    with unscoped("test: the overlap runs out"), db.transaction() as session:
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == uuid.UUID(rotated["id"]))
            .values(previous_secret_expires_at=utcnow() - timedelta(seconds=1))
        )
    api.post(f"/v1/customer/webhooks/{hook['id']}/ping", token=tenant.token)
    run_worker()
    later = receiver.received[1]
    assert len(later.headers["webhook-signature"].split(" ")) == 1
    assert later.verified(rotated["secret"])
    with pytest.raises(Exception, match="No matching signature"):
        later.verified(hook["secret"])


def test_redeliver_sends_the_same_event_again(api, world, run_worker, receivers):
    tenant = world.tenant()
    receiver = receivers()
    hook = _endpoint(api, tenant, receiver.url, "customer")
    api.post(f"/v1/customer/webhooks/{hook['id']}/ping", token=tenant.token)
    run_worker()
    [first] = _deliveries(api, tenant, "customer", hook["id"])
    response = api.post(
        f"/v1/customer/webhooks/{hook['id']}/deliveries/{first['id']}/redeliver",
        token=tenant.token,
    )
    assert response.status_code == 202, response.text
    assert response.json()["event_id"] == first["event_id"]
    run_worker()
    assert [r.webhook_id for r in receiver.received] == [first["event_id"]] * 2
    assert len(_deliveries(api, tenant, "customer", hook["id"])) == 2


def test_endpoints_are_listed_changed_and_deleted(api, world, run_worker, receivers):
    tenant = world.tenant()
    receiver = receivers()
    hook = _endpoint(api, tenant, receiver.url, "customer", description="ERP")
    listed = api.get("/v1/customer/webhooks", token=tenant.token).json()
    assert [(h["id"], h["description"]) for h in listed] == [(hook["id"], "ERP")]
    assert all("secret" not in h for h in listed)

    response = api.request(
        "PATCH",
        f"/v1/customer/webhooks/{hook['id']}",
        token=tenant.token,
        json={"enabled": False, "event_types": ["order.completed"]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["enabled"] is False
    assert response.json()["event_types"] == ["order.completed"]
    assert_problem(
        api.post(f"/v1/customer/webhooks/{hook['id']}/ping", token=tenant.token),
        409,
        "webhook_endpoint_disabled",
    )
    body = assert_problem(
        api.request(
            "PATCH",
            f"/v1/customer/webhooks/{hook['id']}",
            token=tenant.token,
            json={"event_types": ["order.exploded"]},
        ),
        422,
        "validation_failed",
    )
    assert "event_types" in body["errors"]["json"]

    response = api.delete(f"/v1/customer/webhooks/{hook['id']}", token=tenant.token)
    assert response.status_code == 204
    assert_problem(
        api.get(f"/v1/customer/webhooks/{hook['id']}", token=tenant.token), 404, "not_found"
    )


def test_an_endpoint_failing_for_days_is_disabled_with_an_event(api, world, run_worker, receivers):
    partner = world.partner()
    receiver = receivers(Answer(500))
    hook = _endpoint(api, partner, receiver.url, "partner")
    with unscoped("test: the endpoint has failed for days"), db.transaction() as session:
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == uuid.UUID(hook["id"]))
            .values(failing_since=utcnow() - timedelta(days=3, minutes=1))
        )
    api.post(f"/v1/partner/webhooks/{hook['id']}/ping", token=partner.token)
    run_worker()

    endpoint = api.get(f"/v1/partner/webhooks/{hook['id']}", token=partner.token).json()
    assert endpoint["enabled"] is False
    assert endpoint["disabled_at"] is not None
    [logged] = _deliveries(api, partner, "partner", hook["id"])
    assert logged["status"] == "failed"
    assert logged["attempt_count"] == 1
    [event] = api.get(
        "/v1/partner/events?type=webhook_endpoint.disabled", token=partner.token
    ).json()
    assert event["data"]["id"] == hook["id"]
    assert event["partner_id"] == str(partner.id)
    assert event["tenant_id"] is None


def test_a_delivery_redis_lost_is_sent_by_the_sweeper(
    api, world, run_worker, receivers, redis_connection
):
    tenant = world.tenant()
    receiver = receivers()
    hook = _endpoint(api, tenant, receiver.url, "customer")
    api.post(f"/v1/customer/webhooks/{hook['id']}/ping", token=tenant.token)
    redis_connection.delete("rq:queue:webhooks")  # the job is gone, the delivery is not
    run_worker()
    assert receiver.received == []

    with unscoped("test: the delivery is past the sweep's grace"), db.transaction() as session:
        from tenants.models import WebhookDelivery

        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == uuid.UUID(hook["id"]))
            .values(next_attempt_at=utcnow() - timedelta(minutes=1))
        )
    assert tasks.sweep()["webhook_deliveries_requeued"] == 1
    run_worker()
    [request] = receiver.received
    assert request.verified(hook["secret"])["type"] == "ping"
