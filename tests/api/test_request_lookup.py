"""Support's request lookup: every request ID is ours, a caller's own ID is
kept beside it and searchable but never merges records, and a request that
failed with a 500 shows support its cause."""

from __future__ import annotations

import re
import uuid

from tenants.registration import orders
from tests.factories import device, unique
from tests.http import assert_problem, wait_for_order


def _break_order_counts(monkeypatch, fault: str) -> None:
    """A fault in the database layer, injected into the running app."""

    def failing(session, page):
        raise RuntimeError(fault)

    monkeypatch.setattr(orders, "as_dicts", failing)


def test_a_500_records_its_cause_for_support_only(api, world, run_worker, monkeypatch):
    partner, tenant, support = world.partner(), world.tenant(), world.support()
    world.approved(partner, tenant)
    accepted = world.submit(partner, tenant, [device()])
    order = wait_for_order(api, partner.token, accepted.headers["Location"], run_worker)
    fault = f"connection reset while counting rows {unique('F')}"
    _break_order_counts(monkeypatch, fault)

    response = api.get(
        f"/v1/partner/orders/{order['id']}",
        token=partner.token,
        headers={"X-Request-ID": "Clerk-Trace-1"},
    )
    monkeypatch.undo()

    body = assert_problem(response, 500, "internal_error")
    request_id = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert request_id in body["detail"]
    assert fault not in response.text and "RuntimeError" not in response.text

    # Looked up as a person reads it aloud: in capitals.
    trace = api.get(f"/v1/support/requests/{request_id.upper()}", token=support.token).json()
    assert trace["request_id"] == request_id
    assert trace["failed"] is True
    [logged] = trace["requests"]
    assert logged["status"] == 500
    assert logged["client_request_id"] == "Clerk-Trace-1"
    assert logged["principal_name"].startswith("Partner-")
    assert logged["error"]["type"] == "builtins.RuntimeError"
    assert logged["error"]["message"] == fault
    where = logged["error"]["where"]
    assert re.fullmatch(r"tenants/registration/orders\.py:\d+ in as_dict", where)

    # A request that did not fail records no cause.
    fine = api.get(f"/v1/partner/orders/{order['id']}", token=partner.token)
    trace = api.get(
        f"/v1/support/requests/{fine.headers['X-Request-ID']}", token=support.token
    ).json()
    assert trace["failed"] is False and trace["requests"][0]["error"] is None


def test_a_caller_cannot_borrow_another_organisations_request_id(api, world, run_worker):
    partner, tenant, support = world.partner(), world.tenant(), world.support()
    world.approved(partner, tenant)
    intruder = world.partner()
    accepted = world.submit(partner, tenant, [device()], order_id=unique("PO"))
    victim_id = accepted.headers["X-Request-ID"]

    # Another organisation sends the partner's request ID as its own.
    borrowed = api.get(
        "/v1/partner/orders", token=intruder.token, headers={"X-Request-ID": victim_id}
    )
    assert borrowed.status_code == 200
    assert borrowed.headers["X-Request-ID"] != victim_id

    trace = api.get(f"/v1/support/requests/{victim_id}", token=support.token).json()
    assert [r["principal_id"] for r in trace["requests"]] == [str(partner.id)]
    assert [o["partner_name"] for o in trace["orders"]] == [trace["requests"][0]["principal_name"]]
    assert trace["orders"][0]["tenant_name"].startswith("Tenant-")

    # Support finds the borrower by the ID it sent, as a request of its own.
    matches = api.get(
        "/v1/support/requests",
        token=support.token,
        params={"client_request_id": victim_id.upper()},
    ).json()
    assert [(m["request_id"], m["principal_id"]) for m in matches] == [
        (borrowed.headers["X-Request-ID"], str(intruder.id))
    ]


def test_an_insane_caller_request_id_is_not_kept(api, world):
    support = world.support()
    response = api.get("/healthz", headers={"X-Request-ID": "has space"})
    assert response.status_code == 200
    matches = api.get(
        "/v1/support/requests", token=support.token, params={"client_request_id": "has space"}
    ).json()
    assert matches == []


def test_tracing_a_request_for_an_unknown_tenant_names_no_tenant(api, world):
    partner, tenant, support = world.partner(), world.tenant(), world.support()
    unknown = uuid.uuid4()
    asked = {
        tenant_id: api.post(
            f"/v1/partner/customers/{tenant_id}/relationship-requests", token=partner.token
        )
        for tenant_id in (tenant.id, unknown)
    }
    assert [r.status_code for r in asked.values()] == [201, 201]

    traces = {
        tenant_id: api.get(
            f"/v1/support/requests/{response.headers['X-Request-ID']}", token=support.token
        )
        for tenant_id, response in asked.items()
    }
    assert [t.status_code for t in traces.values()] == [200, 200]
    [known] = traces[tenant.id].json()["relationships"]
    assert known["tenant_name"].startswith("Tenant-")
    [unknown_one] = traces[unknown].json()["relationships"]
    assert unknown_one["tenant_id"] == str(unknown)
    assert unknown_one["tenant_name"] is None
    assert unknown_one["partner_name"] == known["partner_name"]
