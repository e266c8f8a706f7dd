"""The sweeper's side of durability: the database says what work is left.

Redis only says "there is work". A job can be lost (dequeued by a worker that
was killed, Redis restarted, an enqueue after COMMIT that failed), so a
periodic sweep finds orders whose rows sit pending past a deadline and hands
their chunks out again, and closes orders whose rows are all final. Running a
chunk twice changes nothing, so handing one out again is always safe.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from tenants import idempotency, orders, outcomes
from tenants.models import Order, Registration, utcnow
from tenants.scoping import unscoped


@dataclass(frozen=True)
class StaleOrder:
    order_pk: uuid.UUID
    request_id: str
    chunks: list[tuple[int, int]]


@dataclass
class SweepResult:
    stale: list[StaleOrder] = field(default_factory=list)
    finalized: int = 0
    keys_purged: int = 0


def sweep(session: Session, *, deadline: timedelta, chunk_size: int) -> SweepResult:
    """Find pending work older than ``deadline`` and mark it handed out now.

    The caller enqueues ``result.stale`` after COMMIT."""
    result = SweepResult()
    now = utcnow()
    size = max(1, chunk_size)
    with unscoped("sweeper: pending work of every tenant"):
        candidates = session.scalars(
            select(Order).where(
                Order.completed_at.is_(None),
                or_(Order.enqueued_at.is_(None), Order.enqueued_at < now - deadline),
            )
        ).all()
        for order in candidates:
            starts = session.scalars(
                select(func.distinct(Registration.line_index // size)).where(
                    Registration.order_pk == order.id, Registration.state == outcomes.PENDING
                )
            ).all()
            if not starts:
                if orders.finalize_if_done(session, order.id):
                    result.finalized += 1
                continue
            chunks = sorted(
                (int(k) * size, min(int(k) * size + size, order.row_count)) for k in starts
            )
            result.stale.append(StaleOrder(order.id, order.request_id, chunks))
        if result.stale:
            session.execute(
                update(Order)
                .where(Order.id.in_([s.order_pk for s in result.stale]))
                .values(enqueued_at=now)
                .execution_options(synchronize_session=False)
            )
        result.keys_purged = idempotency.purge_expired(session)
    return result
