"""Relationship requests: what a partner learns by asking, and how often it may ask."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update

from tenants import db
from tenants.models import Relationship, utcnow
from tenants.scoping import unscoped
from tests.http import assert_problem

SHAPE = {"id", "partner_id", "partner_name", "tenant_id", "tenant_name", "status"}


def _ask(api, partner, tenant_id):
    return api.post(f"/v1/partner/customers/{tenant_id}/relationship-requests", token=partner.token)


def test_asking_an_existing_or_an_unknown_tenant_answers_the_same(api, world):
    partner, tenant = world.partner(), world.tenant()
    unknown = uuid.uuid4()

    answers = {}
    for name, tenant_id in (("existing", tenant.id), ("unknown", unknown)):
        first, again = _ask(api, partner, tenant_id), _ask(api, partner, tenant_id)
        assert (first.status_code, again.status_code) == (201, 201), (first.text, again.text)
        assert first.json()["id"] == again.json()["id"]
        answers[name] = first.json()
    for body in answers.values():
        assert SHAPE <= set(body)
        assert body["status"] == "pending"
        # Before approval the partner knows only the ID it asked for.
        assert body["tenant_name"] is None
    assert answers["existing"].keys() == answers["unknown"].keys()

    listed = {
        r["tenant_id"]: r for r in api.get("/v1/partner/customers", token=partner.token).json()
    }
    assert {str(tenant.id), str(unknown)} <= set(listed)
    assert listed[str(tenant.id)]["tenant_name"] is None
    assert listed[str(unknown)]["tenant_name"] is None


def test_the_customer_name_is_shown_once_approved(api, world):
    partner, tenant = world.partner(), world.tenant()
    relationship_id = world.approved(partner, tenant)
    [listed] = api.get("/v1/partner/customers", token=partner.token).json()
    assert listed["id"] == relationship_id
    assert listed["tenant_name"].startswith("Tenant-")
    # The customer sees its own name on its side, approved or not.
    [own] = api.get("/v1/customer/relationships", token=tenant.token).json()
    assert own["tenant_name"] == listed["tenant_name"]


def test_a_declined_partner_cannot_ask_again_at_once(api, world):
    partner, tenant = world.partner(), world.tenant()
    relationship_id = _ask(api, partner, tenant.id).json()["id"]
    api.post(f"/v1/customer/relationships/{relationship_id}/decline", token=tenant.token)

    for _ in range(3):
        response = _ask(api, partner, tenant.id)
        assert_problem(response, 429, "relationship_request_too_soon")
        assert 23 * 3600 < int(response.headers["Retry-After"]) <= 24 * 3600
    [listed] = api.get("/v1/customer/relationships", token=tenant.token).json()
    assert listed["status"] == "declined"

    # Once the wait is over, asking again reopens the same request, once.
    with unscoped("test moves the decision back in time"), db.transaction() as session:
        session.execute(
            update(Relationship)
            .where(Relationship.id == uuid.UUID(relationship_id))
            .values(decided_at=utcnow() - timedelta(hours=25))
        )
    reopened = _ask(api, partner, tenant.id)
    assert reopened.status_code == 201, reopened.text
    assert (reopened.json()["id"], reopened.json()["status"]) == (relationship_id, "pending")


def test_a_revoked_partner_waits_too(api, world):
    partner, tenant = world.partner(), world.tenant()
    relationship_id = world.approved(partner, tenant)
    api.post(f"/v1/customer/relationships/{relationship_id}/revoke", token=tenant.token)
    assert_problem(_ask(api, partner, tenant.id), 429, "relationship_request_too_soon")
