"""Partner-tenant relationships: request, approve, decline, revoke.

This module changes a relationship and records the change in the audit
trail, nothing more. What a relationship means for a partner's rows -- an
order needs an active one, a revoke fails the rows still queued -- is
registration's rule: tenants/registration/relationship_rule.py and
tenants/registration/revocation.py, which is where the API and the portal
take a customer's decision.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tenants import audit, db
from tenants.errors import Conflict, NotFound, RetryLater
from tenants.events import outbox
from tenants.listing import Listing, StatementListing
from tenants.models import Relationship, utcnow
from tenants.texts import N_

PENDING, ACTIVE, DECLINED, REVOKED = "pending", "active", "declined", "revoked"

# action -> (the states it may be taken from, the state it leads to)
_TRANSITIONS = {
    "approve": ({PENDING}, ACTIVE),
    "decline": ({PENDING}, DECLINED),
    "revoke": ({PENDING, ACTIVE}, REVOKED),
}

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


@dataclass(frozen=True)
class Change:
    """What a decision did: the relationship as it is now, the state it was
    in and the state the decision leads to. ``made`` is False when it was
    already there: nothing changed, and there is nothing to record."""

    relationship: Relationship
    previous: str
    to: str

    @property
    def made(self) -> bool:
        return self.previous != self.to


def change(session: Session, relationship_id: uuid.UUID, action: str, request_id: str) -> Change:
    """Approve, decline or revoke. Runs in the tenant's scope, so another
    tenant's relationship is simply not found.

    The decision is a conditional UPDATE from the state last read (compare
    and set): of two decisions sent at once, the database lets exactly one
    change the row. The other reads the state that won and answers 409
    ``relationship_state_conflict`` with it -- or, when the action can still
    be taken from there (revoke after approve), takes it; when the state that
    won is the one it asked for, it answers the relationship as it is, and
    records no second event.

    The caller records the change with ``record`` once it has reacted to it
    (tenants/registration/revocation.py does both, in this transaction: the
    UPDATE here holds the relationship row until COMMIT).
    """
    allowed_from, target = _TRANSITIONS[action]
    for _ in range(_MAX_DECISION_ROUNDS):
        relationship = session.scalars(
            select(Relationship)
            .where(Relationship.id == relationship_id)
            .execution_options(populate_existing=True)
        ).first()
        if relationship is None:
            raise NotFound(N_("There is no relationship with this ID."))
        previous = relationship.status
        if previous == target:
            return Change(relationship, previous, target)
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
    return Change(_reload(session, relationship_id), previous, target)


def record(session: Session, change: Change, **detail: object) -> None:
    """The change's event in the audit trail, once (none when nothing
    changed). ``detail`` adds what the change led to, such as the number of
    rows a revoke failed."""
    if change.made:
        _audit(
            session,
            change.relationship,
            f"relationship.{change.to}",
            {"from": change.previous, "to": change.to, **detail},
        )


# The event each new state is told as.
_EVENTS = {
    PENDING: outbox.RELATIONSHIP_REQUESTED,
    ACTIVE: outbox.RELATIONSHIP_APPROVED,
    DECLINED: outbox.RELATIONSHIP_DECLINED,
    REVOKED: outbox.RELATIONSHIP_REVOKED,
}


def _audit(
    session: Session, relationship: Relationship, action: str, detail: dict | None = None
) -> None:
    """The change in the audit trail, and its event for the customer and the
    partner it is about."""
    audit.record(
        session,
        action,
        object_type="relationship",
        object_id=relationship.id,
        tenant_id=relationship.tenant_id,
        detail={"partner_id": str(relationship.partner_id), **(detail or {})},
    )
    outbox.record(
        session,
        _EVENTS[relationship.status],
        tenant_id=relationship.tenant_id,
        partner_id=relationship.partner_id,
        data={
            "id": relationship.id,
            "partner_id": relationship.partner_id,
            "tenant_id": relationship.tenant_id,
            "status": relationship.status,
            "requested_at": relationship.requested_at,
            "decided_at": relationship.decided_at,
        },
    )


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
