"""A customer's decision on a partner's relationship, and registration's
reaction to a revoke: the one function the API and the portal call.

Revocation takes effect at once: the partner's rows still queued for the
tenant fail ``relationship_revoked``, and its orders left with nothing
pending close. All of it happens in the revoke's own transaction, after the
UPDATE that revokes (which holds the relationship row until COMMIT), in the
lock order of tenants/registration/relationship_rule.py: relationship, rows,
orders (and, last, their counters). Rows being processed right now finish
first: their chunk holds the relationship, and the revoke waits for it.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tenants import db, outcomes
from tenants.access import relationships
from tenants.models import Order, Registration, Relationship, utcnow
from tenants.registration import counters, orders


def change_relationship(
    session: Session, relationship_id: uuid.UUID, action: str, request_id: str
) -> Relationship:
    """Approve, decline or revoke (``relationships.change``); a revoke also
    fails the partner's queued rows, and its audit event says how many. The
    caller commits."""
    change = relationships.change(session, relationship_id, action, request_id)
    reaction: dict[str, object] = {}
    if change.made and change.to == relationships.REVOKED:
        reaction["rows_failed"] = _fail_queued_rows(session, change.relationship, request_id)
    relationships.record(session, change, **reaction)
    return change.relationship


def _fail_queued_rows(session: Session, relationship: Relationship, request_id: str) -> int:
    # Only an open order has pending rows: each one's fail with one UPDATE,
    # orders in a fixed order, and its counters move by what that UPDATE changed.
    open_orders = session.scalars(
        select(Order)
        .where(
            Order.tenant_id == relationship.tenant_id,
            Order.partner_id == relationship.partner_id,
            Order.completed_at.is_(None),
        )
        .order_by(Order.id)
    ).all()
    failed = 0
    for order in open_orders:
        changed = session.execute(
            update(Registration)
            .where(Registration.order_pk == order.id, Registration.state == outcomes.PENDING)
            .values(
                state=outcomes.FAILED,
                error_code=outcomes.RELATIONSHIP_REVOKED,
                **outcomes.message_columns(outcomes.message(outcomes.RELATIONSHIP_REVOKED)),
                updated_request_id=request_id,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        n = db.affected_rows(changed)
        counters.rows_moved(
            session,
            order,
            n,
            (outcomes.PENDING, None),
            (outcomes.FAILED, outcomes.RELATIONSHIP_REVOKED),
        )
        failed += n
    for order in open_orders:
        orders.finalize_if_done(session, order.id)
    return failed
