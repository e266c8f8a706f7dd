"""Registration's rule: a partner's rows need an active relationship with the tenant.

Checked when an order is submitted (``require_active``, the answer 403
``relationship_required``) and again as each chunk of it starts
(``is_active``); a revoke fails the rows still queued
(tenants/registration/revocation.py). The relationship itself is kept by
tenants/access/relationships.py.

Both checks can ``hold`` the relationship row, share-locked until the
caller's transaction ends. A revoke updates that row, so it waits for work
checked under the active relationship, then sees -- and fails -- that work's
queued rows. Every path takes its locks in one order: the relationship, then
the rows, then the order.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenants.access.relationships import ACTIVE
from tenants.errors import Forbidden
from tenants.models import Relationship

RELATIONSHIP_REQUIRED = (
    "You need an active relationship with this customer to do this. Ask the customer "
    "to approve your relationship request (POST "
    "/v1/partner/customers/{tenant_id}/relationship-requests)."
)


def require_active(
    session: Session, partner_id: uuid.UUID, tenant_id: uuid.UUID, *, hold: bool = False
) -> Relationship:
    """The active relationship, or 403 ``relationship_required``.

    With ``hold``, the relationship row stays share-locked until the caller's
    transaction ends: a revoke (which updates that row) waits for it, so work
    checked under an active relationship commits before the revoke takes
    effect, and the revoke then sees -- and fails -- that work's queued rows.
    """
    stmt = select(Relationship).where(
        Relationship.partner_id == partner_id,
        Relationship.tenant_id == tenant_id,
        Relationship.status == ACTIVE,
    )
    if hold:
        stmt = stmt.with_for_update(read=True, of=Relationship)
    relationship = session.scalars(stmt).first()
    if relationship is None:
        raise Forbidden(
            RELATIONSHIP_REQUIRED.format(tenant_id=tenant_id), code="relationship_required"
        )
    return relationship


def is_active(
    session: Session, partner_id: uuid.UUID, tenant_id: uuid.UUID, *, hold: bool = False
) -> bool:
    """Whether the relationship is active; ``hold`` as in ``require_active``."""
    try:
        require_active(session, partner_id, tenant_id, hold=hold)
    except Forbidden:
        return False
    return True
