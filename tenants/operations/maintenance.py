"""The sweeper's side of durability: the database says what work is left.

Redis only says "there is work". A job can be lost (dequeued by a worker that
was killed, Redis restarted or wiped, an enqueue after COMMIT that failed), so
a periodic sweep lists every unfinished order with the chunks that still have
pending rows, and closes orders whose rows are all final. The caller (the
sweep job) asks Redis which of those chunks have lost their job and hands
them out again; running a chunk twice changes nothing, so that is always safe.
Bulk actions not completed are listed too: one whose job Redis lost is
handed out again, and resumes after its last committed batch. And devices
whose last check-in just left the active window are told as
``device.inactive`` events (no request makes that change).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from tenants import outcomes
from tenants.models import Order, Registration, utcnow
from tenants.operations import idempotency
from tenants.registration import bulk, devices, orders
from tenants.scoping import unscoped

# An order handed to the queue this recently may still be on its way there
# (the enqueue runs right after COMMIT): the sweep leaves it alone.
JUST_ENQUEUED = timedelta(seconds=10)


@dataclass(frozen=True)
class UnfinishedOrder:
    order_pk: uuid.UUID
    request_id: str
    chunks: list[tuple[int, int]]
    # Whose order it is: its chunks go back to that organisation's lane.
    tenant_id: uuid.UUID
    partner_id: uuid.UUID | None
    # Never enqueued, or pending past the deadline: a chunk whose job is not
    # really waiting is handed out again. Otherwise only a chunk whose job
    # Redis no longer has (lost with a restart or a wipe).
    past_deadline: bool


@dataclass
class SweepResult:
    unfinished: list[UnfinishedOrder] = field(default_factory=list)
    # (id, tenant) of bulk actions not completed (tenants/registration/bulk.py).
    bulk_actions: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)
    finalized: int = 0
    keys_purged: int = 0
    # Registered devices whose silence left the active window: told as events.
    gone_inactive: int = 0


def sweep(session: Session, *, deadline: timedelta, chunk_size: int) -> SweepResult:
    """List the pending chunks of every unfinished order; orders past
    ``deadline`` are marked handed out now.

    The caller enqueues what Redis has lost of ``result.unfinished`` after
    COMMIT."""
    result = SweepResult()
    now = utcnow()
    size = max(1, chunk_size)
    settled_at = now - min(deadline, JUST_ENQUEUED)
    with unscoped("sweeper: pending work of every tenant"):
        candidates = session.scalars(
            select(Order).where(
                Order.completed_at.is_(None),
                or_(Order.enqueued_at.is_(None), Order.enqueued_at < settled_at),
            )
        ).all()
        for order in candidates:
            past_deadline = order.enqueued_at is None or order.enqueued_at < now - deadline
            starts = session.scalars(
                select(func.distinct(Registration.line_index // size)).where(
                    Registration.order_pk == order.id, Registration.state == outcomes.PENDING
                )
            ).all()
            if not starts:
                if past_deadline and orders.finalize_if_done(session, order.id):
                    result.finalized += 1
                continue
            chunks = sorted(
                (int(k) * size, min(int(k) * size + size, order.row_count)) for k in starts
            )
            result.unfinished.append(
                UnfinishedOrder(
                    order.id,
                    order.request_id,
                    chunks,
                    tenant_id=order.tenant_id,
                    partner_id=order.partner_id,
                    past_deadline=past_deadline,
                )
            )
        handed_out = [u.order_pk for u in result.unfinished if u.past_deadline]
        if handed_out:
            session.execute(
                update(Order)
                .where(Order.id.in_(handed_out))
                .values(enqueued_at=now)
                .execution_options(synchronize_session=False)
            )
        result.keys_purged = idempotency.purge_expired(session)
    result.gone_inactive = devices.record_gone_inactive(session, now)
    result.bulk_actions = bulk.unfinished(session, created_before=now - JUST_ENQUEUED)
    return result


def mark_not_enqueued(session: Session, order_pk: uuid.UUID) -> None:
    """The order's chunks never reached the queue (Redis refused them after
    COMMIT): the next sweep hands them out without waiting for the deadline."""
    with unscoped("enqueue failed: the order is not in the queue"):
        session.execute(
            update(Order)
            .where(Order.id == order_pk)
            .values(enqueued_at=None)
            .execution_options(synchronize_session=False)
        )
