"""Processing a chunk of an order's rows: what a worker task calls.

Idempotent: only rows still pending are touched, so running a chunk twice
changes nothing. A failure raises, the transaction rolls back, and the job is
retried; the rows stay pending until then.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select, update

from tenants import db, orders, outcomes, ownership, relationships
from tenants.models import Order, Registration, utcnow
from tenants.scoping import Scope, scoped, unscoped

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChunkReport:
    order_id: uuid.UUID
    processed: int
    order_status: str | None


def _load_order(order_pk: uuid.UUID) -> Order | None:
    with unscoped("worker: find which tenant an order belongs to"), db.transaction() as session:
        return session.get(Order, order_pk)


def process_chunk(
    order_pk: uuid.UUID, start: int, stop: int, *, request_id: str | None = None
) -> ChunkReport:
    order = _load_order(order_pk)
    if order is None:
        log.warning("order vanished before processing", extra={"order_id": str(order_pk)})
        return ChunkReport(order_pk, 0, None)
    with scoped(Scope.tenant(order.tenant_id)):
        with db.transaction() as session:
            processed = _process(session, order, start, stop, request_id or order.request_id)
        with db.transaction() as session:
            status = orders.finalize_if_done(session, order_pk)
    return ChunkReport(order_pk, processed, status)


def _process(session, order: Order, start: int, stop: int, request_id: str) -> int:
    now = utcnow()
    session.execute(
        update(Order)
        .where(Order.id == order.id, Order.started_at.is_(None))
        .values(started_at=now, status=orders.PROCESSING)
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(
        select(Registration.id, Registration.identity_key, Registration.hardware_hash)
        .where(
            Registration.order_pk == order.id,
            Registration.line_index >= start,
            Registration.line_index < stop,
            Registration.state == outcomes.PENDING,
        )
        .order_by(Registration.line_index)
        # Another worker holding the same rows (a re-enqueued duplicate job)
        # owns them; skip instead of waiting.
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return 0

    decided: dict[uuid.UUID, str | None] = {}
    if order.partner_id is not None and not relationships.is_active(
        session, order.partner_id, order.tenant_id
    ):
        decided = {row.id: outcomes.RELATIONSHIP_REVOKED for row in rows}
    else:
        claimable = []
        for row in rows:
            if row.identity_key is None or row.hardware_hash is None:
                # Rows without a hash are resolved against the supplier catalog.
                decided[row.id] = outcomes.DEVICE_NOT_FOUND
            else:
                claimable.append(ownership.ClaimRequest(row.id, row.identity_key))
        decided.update(ownership.claim(session, order.tenant_id, claimable))

    by_outcome: dict[str | None, list[uuid.UUID]] = defaultdict(list)
    for registration_id, error_code in decided.items():
        by_outcome[error_code].append(registration_id)
    for error_code, ids in by_outcome.items():
        values = {"updated_request_id": request_id, "updated_at": now}
        if error_code is None:
            values.update(state=outcomes.READY, registered_at=now, error_code=None, message=None)
        else:
            values.update(
                state=outcomes.FAILED, error_code=error_code, message=outcomes.message(error_code)
            )
        session.execute(
            update(Registration)
            .where(Registration.id.in_(ids), Registration.state == outcomes.PENDING)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    return len(rows)
