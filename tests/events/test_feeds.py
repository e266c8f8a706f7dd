"""The event feeds: newest first, by cursor, filtered; each organisation
sees only its own (a customer every partner action on its tenant, a partner
its own actions and the decisions about it); support sees any."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from tests.factories import device, unique
from tests.http import assert_problem, wait_for_order


def _all_pages(api, path: str, token: str) -> tuple[list[dict], int]:
    """Every event, following ``Link: rel="next"``; and how many pages it took."""
    events, pages = [], 0
    while path:
        response = api.get(path, token=token)
        assert response.status_code == 200, response.text
        events += response.json()
        pages += 1
        link = re.match(r'<([^>]+)>; rel="next"', response.headers.get("Link", ""))
        if link:
            assert json.loads(response.headers["X-Pagination"])["next_cursor"]
            url = urlsplit(link.group(1))
            path = f"{url.path}?{url.query}"
        else:
            path = ""
    return events, pages


def test_each_organisation_sees_its_own_events_newest_first_by_cursor(api, world, run_worker):
    tenant, partner_a, partner_b = world.tenant(), world.partner(), world.partner()
    world.approved(partner_a, tenant)
    world.approved(partner_b, tenant)
    orders = {}
    for partner in (partner_a, partner_b):
        response = world.submit(partner, tenant, [device(unique("SN"))])
        orders[partner.id] = wait_for_order(
            api, partner.token, response.headers["Location"], run_worker
        )

    customer_events, pages = _all_pages(api, "/v1/customer/events?page_size=3", tenant.token)
    assert pages == 3
    assert len(customer_events) == 8  # per partner: requested, approved, accepted, completed
    times = [e["created_at"] for e in customer_events]
    assert times == sorted(times, reverse=True)
    assert len({e["id"] for e in customer_events}) == 8
    # The customer sees each partner's order on its tenant.
    accepted = [e for e in customer_events if e["type"] == "order.accepted"]
    assert {e["data"]["id"] for e in accepted} == {o["id"] for o in orders.values()}
    assert {e["partner_id"] for e in accepted} == {str(partner_a.id), str(partner_b.id)}

    a_events, _ = _all_pages(api, "/v1/partner/events?page_size=2", partner_a.token)
    assert [e["type"] for e in a_events] == [
        "order.completed",
        "order.accepted",
        "relationship.approved",
        "relationship.requested",
    ]
    assert all(e["partner_id"] == str(partner_a.id) for e in a_events)
    assert a_events[0]["data"]["counts"] == orders[partner_a.id]["counts"]
    assert set(e["id"] for e in a_events) < set(e["id"] for e in customer_events)


def test_the_feed_filters_by_type_and_time(api, world, run_worker):
    tenant, partner = world.tenant(), world.partner()
    world.approved(partner, tenant)
    every = api.get("/v1/customer/events", token=tenant.token).json()
    [approved] = api.get(
        "/v1/customer/events?type=relationship.approved", token=tenant.token
    ).json()
    assert approved["type"] == "relationship.approved"
    requested = every[-1]
    assert requested["type"] == "relationship.requested"
    since = api.get(
        "/v1/customer/events", params={"since": approved["created_at"]}, token=tenant.token
    ).json()
    assert [e["id"] for e in since] == [approved["id"]]
    until = api.get(
        "/v1/customer/events", params={"until": approved["created_at"]}, token=tenant.token
    ).json()
    assert [e["id"] for e in until] == [requested["id"]]
    assert_problem(
        api.get("/v1/customer/events?type=order.exploded", token=tenant.token),
        422,
        "validation_failed",
    )
    assert_problem(
        api.get(
            "/v1/customer/events",
            params={"since": approved["created_at"], "until": requested["created_at"]},
            token=tenant.token,
        ),
        422,
        "validation_failed",
    )


def test_support_finds_any_organisations_events_by_request_id(api, world, run_worker):
    tenant, partner, support = world.tenant(), world.partner(), world.support()
    world.approved(partner, tenant)
    response = world.submit(partner, tenant, [device(unique("SN"))])
    order = response.json()
    [accepted] = api.get(
        "/v1/support/events", params={"request_id": order["request_id"]}, token=support.token
    ).json()
    assert accepted["type"] == "order.accepted"
    assert accepted["data"]["id"] == order["id"]
    trace = api.get(f"/v1/support/requests/{accepted['request_id']}", token=support.token)
    assert trace.status_code == 200
    by_tenant = api.get(
        "/v1/support/events", params={"tenant_id": str(tenant.id)}, token=support.token
    ).json()
    assert {e["type"] for e in by_tenant} == {
        "relationship.requested",
        "relationship.approved",
        "order.accepted",
    }


def test_a_check_in_that_makes_a_device_active_is_an_event(api, world, run_worker):
    a = world.organisation_with_a_device(run_worker)
    path = f"/v1/customer/devices/{a.row['id']}/check-ins"
    for _ in range(2):
        assert api.post(path, token=a.tenant.token, json={}).status_code == 200
    [event] = api.get("/v1/customer/events?type=device.active", token=a.tenant.token).json()
    assert event["data"]["id"] == a.row["id"]
    assert event["data"]["state"] == "active"
    assert event["partner_id"] is None  # the customer's own action
    assert api.get("/v1/partner/events?type=device.active", token=a.partner.token).json() == []
