"""Decisions sent at the same moment, over HTTP, from several threads.

Every request goes to the running app from its own thread and connection,
released together by a barrier, so they meet in the database: on PostgreSQL
as concurrent transactions on the same row, on SQLite one after the other in
whichever order the writers queue. Either way the answers must tell the
truth: exactly one decision wins, the loser answers 409 with the state that
won, the audit trail records one event per change, and no order is accepted
once a revoke has been answered.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import requests
from sqlalchemy import func, select

from tenants import db
from tenants.models import AuditEvent, Order, Registration, Relationship
from tenants.scoping import unscoped
from tests.factories import assert_counters_exact, device, unique
from tests.http import assert_problem

TRIALS = 8


def at_the_same_moment(
    base_url: str, calls: list[Callable[[requests.Session], requests.Response]]
) -> list:
    """Run each call from its own thread and HTTP connection, released together.
    Returns (response, monotonic time the answer arrived) per call."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index: int, call) -> None:
        try:
            with requests.Session() as http:
                # Open the connection first, so the barrier releases requests, not handshakes.
                http.get(base_url + "/healthz", timeout=30)
                barrier.wait(timeout=30)
                response = call(http)
                results[index] = (response, time.monotonic())
        except BaseException as exc:  # reported below
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def _post(url: str, token: str) -> Callable[[requests.Session], requests.Response]:
    def call(http: requests.Session) -> requests.Response:
        return http.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=120)

    return call


def _delete(url: str, token: str) -> Callable[[requests.Session], requests.Response]:
    def call(http: requests.Session) -> requests.Response:
        return http.delete(url, headers={"Authorization": f"Bearer {token}"}, timeout=120)

    return call


def _events(object_id: str, action: str) -> int:
    with db.transaction() as session:
        return session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.object_id == object_id, AuditEvent.action == action)
        )


def _status(relationship_id: str) -> str:
    with unscoped("test reads the decided state"), db.transaction() as session:
        return session.get(Relationship, uuid.UUID(relationship_id)).status


def _pending_relationship(api, partner, tenant) -> str:
    response = api.post(
        f"/v1/partner/customers/{tenant.id}/relationship-requests", token=partner.token
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_revoke_and_approve_at_once_never_end_active_after_a_revoke(api, world, base_url):
    tenant = world.tenant()
    seen = set()
    revoked = []
    for _ in range(TRIALS):
        partner = world.partner()
        relationship_id = _pending_relationship(api, partner, tenant)
        revoked.append(relationship_id)
        path = f"{base_url}/v1/customer/relationships/{relationship_id}"
        (approve, _), (revoke, _) = at_the_same_moment(
            base_url,
            [_post(f"{path}/approve", tenant.token), _post(f"{path}/revoke", tenant.token)],
        )
        for response in (approve, revoke):
            api.check_against_spec(response)
        final = _status(relationship_id)
        # A revoke may be taken from pending or active, so it always succeeds...
        assert revoke.status_code == 200, revoke.text
        assert revoke.json()["status"] == "revoked"
        # ...and what it said is what stays: never active after "revoked".
        assert final == "revoked"
        if approve.status_code == 200:
            # The approve came first and the revoke then revoked the active relationship.
            assert approve.json()["status"] == "active"
            assert _events(relationship_id, "relationship.active") == 1
            seen.add("approve first")
        else:
            body = assert_problem(approve, 409, "relationship_state_conflict")
            assert body["current_status"] == "revoked"
            assert _events(relationship_id, "relationship.active") == 0
            seen.add("revoke first")
        assert _events(relationship_id, "relationship.revoked") == 1
    feed = api.get("/v1/customer/events?type=relationship.revoked", token=tenant.token).json()
    # One event per relationship, as one change each; the feed is newest first.
    assert [e["data"]["id"] for e in feed] == revoked[::-1]
    assert seen, "no trial ran"


def test_approve_and_decline_at_once_exactly_one_wins(api, world, base_url):
    tenant = world.tenant()
    for _ in range(TRIALS):
        partner = world.partner()
        relationship_id = _pending_relationship(api, partner, tenant)
        path = f"{base_url}/v1/customer/relationships/{relationship_id}"
        results = at_the_same_moment(
            base_url,
            [_post(f"{path}/approve", tenant.token), _post(f"{path}/decline", tenant.token)],
        )
        responses = [response for response, _ in results]
        for response in responses:
            api.check_against_spec(response)
        winners = [r for r in responses if r.status_code == 200]
        losers = [r for r in responses if r.status_code != 200]
        assert len(winners) == 1 and len(losers) == 1, [r.text for r in responses]
        won = winners[0].json()["status"]
        assert won in ("active", "declined")
        body = assert_problem(losers[0], 409, "relationship_state_conflict")
        assert body["current_status"] == won
        assert _status(relationship_id) == won
        assert _events(relationship_id, "relationship.active") == (won == "active")
        assert _events(relationship_id, "relationship.declined") == (won == "declined")


def test_the_same_decision_twice_at_once_is_one_change(api, world, base_url):
    partner, tenant = world.partner(), world.tenant()
    relationship_id = world.approved(partner, tenant)
    path = f"{base_url}/v1/customer/relationships/{relationship_id}/revoke"
    results = at_the_same_moment(base_url, [_post(path, tenant.token) for _ in range(4)])
    for response, _ in results:
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "revoked"
    assert _events(relationship_id, "relationship.revoked") == 1
    feed = api.get("/v1/customer/events?type=relationship.revoked", token=tenant.token).json()
    assert [e["data"]["id"] for e in feed] == [relationship_id]  # one event, as one change


def test_simultaneous_relationship_requests_answer_the_one_request(api, world, base_url):
    partner, tenant = world.partner(), world.tenant()
    path = f"{base_url}/v1/partner/customers/{tenant.id}/relationship-requests"
    results = at_the_same_moment(base_url, [_post(path, partner.token) for _ in range(6)])
    responses = [response for response, _ in results]
    for response in responses:
        api.check_against_spec(response)
        assert response.status_code == 201, response.text
    assert len({r.json()["id"] for r in responses}) == 1
    assert {r.json()["status"] for r in responses} == {"pending"}
    assert _events(responses[0].json()["id"], "relationship.requested") == 1


def test_simultaneous_deregistrations_write_one_event(api, world, base_url, run_worker):
    organisation = world.organisation_with_a_device(run_worker)
    device_id = organisation.row["id"]
    path = f"{base_url}/v1/customer/devices/{device_id}"
    results = at_the_same_moment(
        base_url, [_delete(path, organisation.tenant.token) for _ in range(4)]
    )
    for response, _ in results:
        api.check_against_spec(response)
        assert response.status_code == 200, response.text
        assert response.json()["state"] == "deregistered"
    assert _events(device_id, "device.deregistered") == 1
    feed = api.get(
        "/v1/customer/events?type=device.deregistered", token=organisation.tenant.token
    ).json()
    assert [e["data"]["id"] for e in feed] == [device_id]
    assert_counters_exact([organisation.tenant.id])


def test_no_order_is_accepted_after_a_revoke_was_answered(api, world, base_url):
    """Partners keep submitting orders while the customer revokes. Every
    order accepted (202) was stored before the revoke took effect: the revoke
    failed its rows and closed it at once (no worker runs here), and no order
    sent after the revoke was answered is accepted. (An order stored just before
    the revoke may still be answered just after it: what counts is when it was
    sent.)"""
    partner, tenant = world.partner(), world.tenant()
    relationship_id = world.approved(partner, tenant)
    orders_url = f"{base_url}/v1/partner/customers/{tenant.id}/orders"
    revoke_url = f"{base_url}/v1/customer/relationships/{relationship_id}/revoke"
    revoked_at: list[float] = []
    answers: list[tuple[requests.Response, float]] = []
    lock = threading.Lock()

    def submit_until_revoked(http: requests.Session) -> requests.Response:
        response = None
        # Until the revoke was answered, and one more after it.
        while True:
            done = bool(revoked_at)
            sent_at = time.monotonic()
            response = http.post(
                orders_url,
                headers={"Authorization": f"Bearer {partner.token}"},
                json={"devices": [device() for _ in range(120)], "order_id": unique("PO")},
                timeout=120,
            )
            with lock:
                answers.append((response, sent_at))
            if done:
                return response

    def revoke_while_orders_are_stored(http: requests.Session) -> requests.Response:
        time.sleep(0.3)  # let the submitters get going
        response = http.post(
            revoke_url,
            headers={"Authorization": f"Bearer {tenant.token}"},
            timeout=120,
        )
        revoked_at.append(time.monotonic())
        return response

    results = at_the_same_moment(
        base_url, [submit_until_revoked] * 3 + [revoke_while_orders_are_stored]
    )
    revoke, revoke_answered = results[-1]
    assert revoke.status_code == 200, revoke.text

    accepted = [(r, t) for r, t in answers if r.status_code == 202]
    refused = [(r, t) for r, t in answers if r.status_code != 202]
    assert accepted, "no order was accepted before the revoke; the race did not happen"
    assert refused, "no order was refused after the revoke"
    for response, _ in refused:
        assert_problem(response, 403, "relationship_required")
    late = [t - revoke_answered for _, t in accepted if t > revoke_answered]
    assert not late, f"{len(late)} orders sent after the revoke was answered were accepted"

    order_ids = [uuid.UUID(r.json()["id"]) for r, _ in accepted]
    with unscoped("test reads the orders the revoke closed"), db.transaction() as session:
        stored = session.scalars(select(Order).where(Order.partner_id == partner.id)).all()
        assert {o.id for o in stored} == set(order_ids)
        # Closed by the revoke itself: no worker ran.
        assert all(o.completed_at is not None and o.status == "failed" for o in stored)
        outcomes = session.execute(
            select(Registration.error_code, func.count())
            .where(Registration.partner_id == partner.id)
            .group_by(Registration.error_code)
        ).all()
    assert dict(outcomes) == {"relationship_revoked": 120 * len(order_ids)}
    with db.transaction() as session:
        [event] = session.scalars(
            select(AuditEvent).where(
                AuditEvent.object_id == relationship_id,
                AuditEvent.action == "relationship.revoked",
            )
        ).all()
    assert event.detail["rows_failed"] == 120 * len(order_ids)
    assert_counters_exact([tenant.id])
