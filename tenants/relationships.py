"""Partner-tenant relationships: request, approve, decline, revoke.

A partner may register devices for a tenant only while its relationship with
that tenant is ``active``. A partner learns nothing about a tenant it has no
active relationship with beyond "relationship required".
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenants.errors import Conflict, Forbidden, NotFound
from tenants.models import Relationship, Tenant, utcnow
from tenants.scoping import unscoped

PENDING, ACTIVE, DECLINED, REVOKED = "pending", "active", "declined", "revoked"

# status -> the actions a customer may take from it
_TRANSITIONS = {
    "approve": ({PENDING}, ACTIVE),
    "decline": ({PENDING}, DECLINED),
    "revoke": ({PENDING, ACTIVE}, REVOKED),
}

RELATIONSHIP_REQUIRED = (
    "You need an active relationship with this customer to do this. Ask the customer "
    "to approve your relationship request (POST "
    "/v1/partner/customers/{tenant_id}/relationship-requests)."
)


def request_relationship(
    session: Session, partner_id: uuid.UUID, tenant_id: uuid.UUID, request_id: str
) -> Relationship:
    """Ask a tenant for a relationship. Runs in the partner's scope."""
    with unscoped("partner asks for a relationship: the tenant must exist"):
        tenant_exists = session.get(Tenant, tenant_id) is not None
    if not tenant_exists:
        # Same answer as for an unapproved tenant: a partner cannot probe tenant IDs.
        raise NotFound("There is no customer with this ID that you can request.")
    existing = session.scalars(
        select(Relationship).where(
            Relationship.partner_id == partner_id, Relationship.tenant_id == tenant_id
        )
    ).first()
    if existing is not None:
        if existing.status in (PENDING, ACTIVE):
            return existing
        # Declined or revoked: asking again starts a new request.
        existing.status = PENDING
        existing.requested_at = utcnow()
        existing.decided_at = None
        existing.request_id = request_id
        return existing
    relationship = Relationship(
        partner_id=partner_id, tenant_id=tenant_id, status=PENDING, request_id=request_id
    )
    session.add(relationship)
    return relationship


def require_active(session: Session, partner_id: uuid.UUID, tenant_id: uuid.UUID) -> Relationship:
    relationship = session.scalars(
        select(Relationship).where(
            Relationship.partner_id == partner_id,
            Relationship.tenant_id == tenant_id,
            Relationship.status == ACTIVE,
        )
    ).first()
    if relationship is None:
        raise Forbidden(
            RELATIONSHIP_REQUIRED.format(tenant_id=tenant_id), code="relationship_required"
        )
    return relationship


def change(
    session: Session, relationship_id: uuid.UUID, action: str, request_id: str
) -> Relationship:
    """Approve, decline or revoke. Runs in the tenant's scope, so another
    tenant's relationship is simply not found."""
    relationship = session.get(Relationship, relationship_id)
    if relationship is None:
        raise NotFound("There is no relationship with this ID.")
    allowed_from, target = _TRANSITIONS[action]
    if relationship.status == target:
        return relationship
    if relationship.status not in allowed_from:
        raise Conflict(
            f"This relationship is {relationship.status}; it cannot be {target} from there.",
            code="relationship_state_conflict",
        )
    relationship.status = target
    relationship.decided_at = utcnow()
    relationship.request_id = request_id
    return relationship


def is_active(session: Session, partner_id: uuid.UUID, tenant_id: uuid.UUID) -> bool:
    return (
        session.scalar(
            select(Relationship.id).where(
                Relationship.partner_id == partner_id,
                Relationship.tenant_id == tenant_id,
                Relationship.status == ACTIVE,
            )
        )
        is not None
    )
