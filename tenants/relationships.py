"""Partner-tenant relationships: request, approve, decline, revoke.

A partner may register devices for a tenant only while its relationship with
that tenant is ``active``. A partner learns nothing about a tenant it has no
active relationship with beyond "relationship required".
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tenants import audit, db, outcomes
from tenants.errors import Conflict, Forbidden, NotFound
from tenants.models import Order, Registration, Relationship, Tenant, utcnow
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
        _audit(session, existing, "relationship.requested")
        return existing
    relationship = Relationship(
        partner_id=partner_id, tenant_id=tenant_id, status=PENDING, request_id=request_id
    )
    session.add(relationship)
    session.flush()
    _audit(session, relationship, "relationship.requested")
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
    previous = relationship.status
    relationship.status = target
    relationship.decided_at = utcnow()
    relationship.request_id = request_id
    detail: dict[str, object] = {"from": previous, "to": target}
    if target == REVOKED:
        detail["rows_failed"] = _fail_queued_rows(session, relationship, request_id)
    _audit(session, relationship, f"relationship.{target}", detail)
    return relationship


def _fail_queued_rows(session: Session, relationship: Relationship, request_id: str) -> int:
    """Revocation takes effect at once: the partner's rows still queued for
    this tenant fail ``relationship_revoked`` (rows being processed right now
    finish first; the worker checks the relationship again as it starts)."""
    from tenants import orders  # orders needs this module for require_active

    failed = session.execute(
        update(Registration)
        .where(
            Registration.tenant_id == relationship.tenant_id,
            Registration.partner_id == relationship.partner_id,
            Registration.state == outcomes.PENDING,
        )
        .values(
            state=outcomes.FAILED,
            error_code=outcomes.RELATIONSHIP_REVOKED,
            message=outcomes.message(outcomes.RELATIONSHIP_REVOKED),
            updated_request_id=request_id,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    open_orders = session.scalars(
        select(Order.id).where(
            Order.tenant_id == relationship.tenant_id,
            Order.partner_id == relationship.partner_id,
            Order.completed_at.is_(None),
        )
    ).all()
    for order_pk in open_orders:
        orders.finalize_if_done(session, order_pk)
    return db.affected_rows(failed)


def _audit(
    session: Session, relationship: Relationship, action: str, detail: dict | None = None
) -> None:
    audit.record(
        session,
        action,
        object_type="relationship",
        object_id=relationship.id,
        tenant_id=relationship.tenant_id,
        detail={"partner_id": str(relationship.partner_id), **(detail or {})},
    )


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
