"""Partner-tenant relationships: request, approve, decline, revoke.

A partner may register devices for a tenant only while its relationship with
that tenant is ``active``. A partner learns nothing about a tenant it has no
active relationship with beyond "relationship required".
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tenants import audit, db, outcomes
from tenants.errors import Conflict, Forbidden, NotFound, RetryLater
from tenants.listing import Listing, StatementListing
from tenants.models import Order, Registration, Relationship, utcnow

PENDING, ACTIVE, DECLINED, REVOKED = "pending", "active", "declined", "revoked"

# action -> (the states it may be taken from, the state it leads to)
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

# How long a declined or revoked partner waits before it may ask the same customer again.
DEFAULT_ASK_AGAIN_AFTER = timedelta(hours=24)
# A decision re-reads the row when another changed it first; each round is a
# real change of state, so a handful is plenty.
_MAX_DECISION_ROUNDS = 5


def request_relationship(
    session: Session,
    partner_id: uuid.UUID,
    tenant_id: uuid.UUID,
    request_id: str,
    *,
    ask_again_after: timedelta = DEFAULT_ASK_AGAIN_AFTER,
) -> Relationship:
    """Ask a tenant for a relationship. Runs in the partner's scope.

    The answer is the same whether or not the tenant exists (a request to an
    unknown ID is stored like any other and simply never approved), so a
    partner cannot probe tenant IDs. Concurrent requests for the same pair
    all answer the one request stored: the insert is ``ON CONFLICT DO
    NOTHING`` on the (partner, tenant) key, never a read-then-insert.
    """
    now = utcnow()
    relationship_id = uuid.uuid4()
    row = {
        "id": relationship_id,
        "partner_id": partner_id,
        "tenant_id": tenant_id,
        "status": PENDING,
        "requested_at": now,
        "request_id": request_id,
    }
    insert = (postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert)(
        Relationship
    )
    created = session.execute(
        insert.on_conflict_do_nothing(index_elements=["partner_id", "tenant_id"]).returning(
            Relationship.id
        ),
        [row],
    ).scalar()
    if created is not None:
        relationship = _reload(session, relationship_id)
        _audit(session, relationship, "relationship.requested")
        return relationship
    existing = session.scalars(
        select(Relationship)
        .where(Relationship.partner_id == partner_id, Relationship.tenant_id == tenant_id)
        .execution_options(populate_existing=True)
    ).one()
    if existing.status in (PENDING, ACTIVE):
        return existing
    # Declined or revoked: asking again starts a new request, but not at once
    # (a customer that said no is not asked every minute), and only once when
    # several arrive together: the update is conditional on the state it saw.
    wait = existing.decided_at + ask_again_after - now if existing.decided_at else timedelta()
    if wait > timedelta():
        raise RetryLater(
            f"This customer {existing.status} your relationship request; you can ask again "
            f"after {(now + wait).replace(microsecond=0).isoformat()}.",
            retry_after=int(wait.total_seconds()) + 1,
            code="relationship_request_too_soon",
        )
    updated = session.execute(
        update(Relationship)
        .where(Relationship.id == existing.id, Relationship.status == existing.status)
        .values(status=PENDING, requested_at=now, decided_at=None, request_id=request_id)
        .execution_options(synchronize_session=False)
    )
    reopened = db.affected_rows(updated)
    relationship = _reload(session, existing.id)
    if reopened:
        _audit(session, relationship, "relationship.requested")
    return relationship


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


def change(
    session: Session, relationship_id: uuid.UUID, action: str, request_id: str
) -> Relationship:
    """Approve, decline or revoke. Runs in the tenant's scope, so another
    tenant's relationship is simply not found.

    The decision is a conditional UPDATE from the state last read (compare
    and set): of two decisions sent at once, the database lets exactly one
    change the row. The other reads the state that won and answers 409
    ``relationship_state_conflict`` with it -- or, when the action can still
    be taken from there (revoke after approve), takes it; when the state that
    won is the one it asked for, it answers the relationship as it is, and
    records no second event.
    """
    allowed_from, target = _TRANSITIONS[action]
    for _ in range(_MAX_DECISION_ROUNDS):
        relationship = session.scalars(
            select(Relationship)
            .where(Relationship.id == relationship_id)
            .execution_options(populate_existing=True)
        ).first()
        if relationship is None:
            raise NotFound("There is no relationship with this ID.")
        previous = relationship.status
        if previous == target:
            return relationship
        if previous not in allowed_from:
            raise Conflict(
                f"This relationship is {previous}; it cannot be {target} from there.",
                code="relationship_state_conflict",
                details={"current_status": previous},
            )
        now = utcnow()
        values = {"status": target, "decided_at": now, "request_id": request_id}
        if target == ACTIVE:
            values["approved_at"] = now
        updated = session.execute(
            update(Relationship)
            .where(Relationship.id == relationship_id, Relationship.status == previous)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        changed = db.affected_rows(updated)
        if changed:
            break
        # Another decision changed the row since we read it: judge again from its state.
    else:
        raise RuntimeError(f"relationship {relationship_id} kept changing; retry")
    relationship = _reload(session, relationship_id)
    detail: dict[str, object] = {"from": previous, "to": target}
    if target == REVOKED:
        detail["rows_failed"] = _fail_queued_rows(session, relationship, request_id)
    _audit(session, relationship, f"relationship.{target}", detail)
    return relationship


def _fail_queued_rows(session: Session, relationship: Relationship, request_id: str) -> int:
    """Revocation takes effect at once: the partner's rows still queued for
    this tenant fail ``relationship_revoked`` (rows being processed right now
    finish first; the worker checks the relationship again as it starts)."""
    from tenants.registration import orders  # orders needs this module for require_active

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


def is_active(
    session: Session, partner_id: uuid.UUID, tenant_id: uuid.UUID, *, hold: bool = False
) -> bool:
    """Whether the relationship is active; ``hold`` as in ``require_active``."""
    try:
        require_active(session, partner_id, tenant_id, hold=hold)
    except Forbidden:
        return False
    return True


def _reload(session: Session, relationship_id: uuid.UUID) -> Relationship:
    return session.scalars(
        select(Relationship)
        .where(Relationship.id == relationship_id)
        .execution_options(populate_existing=True)
    ).one()


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


# --- reading: the relationships in scope (a partner's, or a tenant's) ------------------------


def in_order_requested(session: Session) -> list[Relationship]:
    """Every relationship in scope, the first requested first."""
    return list(session.scalars(select(Relationship).order_by(Relationship.requested_at)))


def newest_first(session: Session) -> Listing[Relationship]:
    """The relationships in scope, the last requested first."""
    stmt = select(Relationship).order_by(Relationship.requested_at.desc(), Relationship.id)
    return StatementListing(session, stmt)


def active_one(
    session: Session, partner_id: uuid.UUID, tenant_id: uuid.UUID
) -> Relationship | None:
    """The partner's active relationship with the tenant, if it holds one."""
    return session.scalars(
        select(Relationship).where(
            Relationship.partner_id == partner_id,
            Relationship.tenant_id == tenant_id,
            Relationship.status == ACTIVE,
        )
    ).first()
