"""Relationship rules: who may ask, which decision may follow which, what a
revoke does to the partner's queued work, and what each change records."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from tenants import db, outcomes
from tenants.access import organisations, relationships
from tenants.errors import Conflict, Forbidden, NotFound, RetryLater
from tenants.models import AuditEvent, Relationship
from tenants.registration import orders, relationship_rule, revocation
from tenants.scoping import Scope, scoped, unscoped
from tests.factories import (
    device,
    new_partner,
    new_tenant,
    order_of,
    partner_with_customer,
    process,
    registrations,
    submit,
)

pytestmark = pytest.mark.usefixtures("settings")


def request(partner, tenant_id, **kwargs) -> Relationship:
    with scoped(Scope.partner(partner.id)), db.transaction() as session:
        return relationships.request_relationship(
            session, partner.id, tenant_id, f"req-{uuid.uuid4().hex}", **kwargs
        )


def decide(tenant, relationship_id, action: str) -> Relationship:
    with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
        return revocation.change_relationship(
            session, relationship_id, action, f"req-{uuid.uuid4().hex}"
        )


def is_active(partner, tenant) -> bool:
    with scoped(Scope.partner(partner.id)), db.transaction() as session:
        return relationship_rule.is_active(session, partner.id, tenant.id)


def events(relationship_id) -> list[tuple[str, dict]]:
    with db.transaction() as session:
        return [
            (e.action, e.detail)
            for e in session.scalars(
                select(AuditEvent)
                .where(AuditEvent.object_id == str(relationship_id))
                .order_by(AuditEvent.id)
            )
        ]


def test_a_request_is_pending_until_the_customer_approves():
    partner, tenant = new_partner(), new_tenant()

    asked = request(partner, tenant.id)

    assert (asked.status, asked.decided_at, asked.approved_at) == ("pending", None, None)
    assert not is_active(partner, tenant)
    approved = decide(tenant, asked.id, "approve")
    assert approved.status == "active"
    assert approved.approved_at is not None and approved.decided_at == approved.approved_at
    assert is_active(partner, tenant)
    assert [action for action, _ in events(asked.id)] == [
        "relationship.requested",
        "relationship.active",
    ]


def test_asking_again_while_pending_or_active_answers_the_same_relationship():
    partner, tenant = new_partner(), new_tenant()
    first = request(partner, tenant.id)

    assert request(partner, tenant.id).id == first.id
    decide(tenant, first.id, "approve")
    again = request(partner, tenant.id)
    assert (again.id, again.status) == (first.id, "active")
    # One request recorded, not three.
    assert [action for action, _ in events(first.id)].count("relationship.requested") == 1


def test_a_request_for_an_id_that_is_no_tenant_is_stored_like_any_other():
    partner = new_partner()

    asked = request(partner, uuid.uuid4())

    assert asked.status == "pending"
    assert asked.tenant is None and asked.tenant_name_for_partner is None


@pytest.mark.parametrize(
    ("decisions", "refused", "current"),
    [
        (["decline"], "approve", "declined"),
        (["decline"], "revoke", "declined"),
        (["approve"], "decline", "active"),
        (["revoke"], "approve", "revoked"),
        (["approve", "revoke"], "decline", "revoked"),
    ],
)
def test_a_decision_that_cannot_follow_the_state_is_a_conflict(decisions, refused, current):
    partner, tenant = new_partner(), new_tenant()
    relationship_id = request(partner, tenant.id).id
    for action in decisions:
        decide(tenant, relationship_id, action)

    with pytest.raises(Conflict) as refusal:
        decide(tenant, relationship_id, refused)

    assert refusal.value.code == "relationship_state_conflict"
    assert refusal.value.details == {"current_status": current}
    with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
        assert session.get(Relationship, relationship_id).status == current  # unchanged


def test_a_decision_already_taken_answers_the_relationship_and_records_nothing_more():
    partner, tenant = new_partner(), new_tenant()
    relationship_id = request(partner, tenant.id).id
    first = decide(tenant, relationship_id, "approve")

    second = decide(tenant, relationship_id, "approve")

    assert (second.status, second.approved_at) == ("active", first.approved_at)
    assert [action for action, _ in events(relationship_id)] == [
        "relationship.requested",
        "relationship.active",
    ]


def test_a_pending_request_may_be_revoked():
    partner, tenant = new_partner(), new_tenant()
    relationship_id = request(partner, tenant.id).id

    assert decide(tenant, relationship_id, "revoke").status == "revoked"
    assert not is_active(partner, tenant)


def test_another_tenant_cannot_see_or_decide_the_relationship():
    partner, tenant, stranger = new_partner(), new_tenant(), new_tenant()
    relationship_id = request(partner, tenant.id).id

    with pytest.raises(NotFound):
        decide(stranger, relationship_id, "approve")
    assert decide(tenant, relationship_id, "approve").status == "active"


def test_require_active_refuses_without_an_active_relationship():
    partner, tenant = new_partner(), new_tenant()
    relationship_id = request(partner, tenant.id).id

    for action in (None, "decline"):
        if action:
            decide(tenant, relationship_id, action)
        with scoped(Scope.partner(partner.id)), db.transaction() as session:
            with pytest.raises(Forbidden) as refusal:
                relationship_rule.require_active(session, partner.id, tenant.id)
        assert refusal.value.code == "relationship_required"
        assert str(tenant.id) in refusal.value.message


def test_asking_again_after_a_decline_waits_then_starts_a_new_request():
    partner, tenant = new_partner(), new_tenant()
    relationship_id = request(partner, tenant.id).id
    decide(tenant, relationship_id, "decline")

    with pytest.raises(RetryLater) as wait:
        request(partner, tenant.id)
    assert wait.value.code == "relationship_request_too_soon"
    assert 23 * 3600 < wait.value.retry_after <= 24 * 3600 + 1
    assert "declined" in wait.value.message

    reopened = request(partner, tenant.id, ask_again_after=timedelta(0))
    assert (reopened.id, reopened.status, reopened.decided_at) == (relationship_id, "pending", None)
    assert [action for action, _ in events(relationship_id)] == [
        "relationship.requested",
        "relationship.declined",
        "relationship.requested",
    ]
    assert decide(tenant, relationship_id, "approve").status == "active"


def test_a_revoke_fails_only_that_partners_queued_rows_for_that_customer():
    partner, tenant = partner_with_customer()
    other_partner, other_tenant = new_partner(), new_tenant()
    organisations.activate_relationship(other_partner.id, tenant.id)
    organisations.activate_relationship(partner.id, other_tenant.id)
    done = submit(tenant, [device(), device()], partner)
    process(done)  # registered before the revoke: stays registered
    queued = [submit(tenant, [device(), device()], partner), submit(tenant, [device()], partner)]
    not_this_partner = submit(tenant, [device()], other_partner)
    not_this_customer = submit(other_tenant, [device()], partner)
    with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
        relationship_id = session.scalars(
            select(Relationship.id).where(Relationship.partner_id == partner.id)
        ).one()

    revoked = decide(tenant, relationship_id, "revoke")

    assert revoked.status == "revoked"
    for result in queued:
        rows = registrations(result.order.id)
        assert {(r.state, r.error_code) for r in rows} == {
            (outcomes.FAILED, outcomes.RELATIONSHIP_REVOKED)
        }
        assert rows[0].message == outcomes.message(outcomes.RELATIONSHIP_REVOKED)
        order = order_of(result.order.id)
        assert (order.status, order.completed_at is not None) == (orders.FAILED, True)
    assert {r.state for r in registrations(done.order.id)} == {outcomes.READY}
    for result in (not_this_partner, not_this_customer):
        assert {r.state for r in registrations(result.order.id)} == {outcomes.PENDING}
        assert order_of(result.order.id).completed_at is None
    *_, (action, detail) = events(relationship_id)
    assert action == "relationship.revoked"
    assert detail == {
        "partner_id": str(partner.id),
        "from": "active",
        "to": "revoked",
        "rows_failed": 3,
    }


def test_the_partner_learns_the_customers_name_only_once_approved():
    partner, tenant = new_partner(), new_tenant()
    relationship_id = request(partner, tenant.id).id

    with unscoped("test: read the relationship as stored"), db.transaction() as session:
        assert session.get(Relationship, relationship_id).tenant_name_for_partner is None
    approved = decide(tenant, relationship_id, "approve")
    assert approved.tenant_name_for_partner == tenant.name
    # A revoke after the approval does not take the name back.
    assert decide(tenant, relationship_id, "revoke").tenant_name_for_partner == tenant.name
