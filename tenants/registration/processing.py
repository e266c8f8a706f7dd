"""Processing a chunk of an order's rows: what a worker task calls.

Idempotent: only rows still pending are touched, so running a chunk twice
changes nothing. A failure raises, the transaction rolls back, and the job is
retried; the rows stay pending until then.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass

from sqlalchemy import select, text, update

from config import logging as log_context
from tenants import db, outcomes
from tenants.ingest import catalog
from tenants.models import Order, Registration, utcnow
from tenants.registration import counters, orders, ownership, relationship_rule
from tenants.scoping import Scope, scoped, unscoped
from tenants.texts import Message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChunkReport:
    order_id: uuid.UUID
    processed: int
    order_status: str | None


def _load_order(order_pk: uuid.UUID) -> Order | None:
    with unscoped("worker: find which tenant an order belongs to"), db.transaction() as session:
        return session.get(Order, order_pk)


def register_chunk(
    order_pk: uuid.UUID, start: int, stop: int, *, request_id: str | None = None
) -> ChunkReport:
    """Register the order's rows ``start`` to ``stop`` (line indexes, stop
    excluded) that are still pending, then close the order if none is left.
    The ``jobs.tasks.process_chunk`` job runs this."""
    order = _load_order(order_pk)
    if order is None:
        log.warning("order vanished before processing", extra={"order_id": str(order_pk)})
        return ChunkReport(order_pk, 0, None)
    with scoped(Scope.tenant(order.tenant_id)), log_context.bound(principal=_principal(order)):
        with db.transaction() as session:
            processed = _register(session, order, start, stop, request_id or order.request_id)
        with db.transaction() as session:
            status = orders.finalize_if_done(session, order_pk)
    if status is not None and order.row_count >= ANALYZE_AFTER_ROWS:
        _refresh_statistics()
    return ChunkReport(order_pk, processed, status)


# After an order this large the planner's row estimates are off until
# autovacuum catches up (up to a minute later); list queries must not wait.
ANALYZE_AFTER_ROWS = 10_000


def _refresh_statistics() -> None:
    with db.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            # Only the tables' owner may ANALYZE them, not the service's role.
            db.as_login_role(session)
            session.execute(text("ANALYZE registrations, device_claims"))


def _principal(order: Order) -> str:
    """Whom the work is done for, as the request that submitted it was logged."""
    if order.partner_id is not None:
        return f"partner:{order.partner_id}"
    return f"tenant:{order.tenant_id}"


def register_rows_one_by_one(
    order_pk: uuid.UUID,
    start: int,
    stop: int,
    *,
    request_id: str | None,
    job_id: str | None,
    attempt: int,
) -> ChunkReport:
    """The last resort after a chunk failed every attempt: process each pending
    row alone, so one bad row cannot hold back the others. A row that still
    fails ends ``unexpected_error``, with a support reference and the
    internal detail that only support sees."""
    order = _load_order(order_pk)
    if order is None:
        return ChunkReport(order_pk, 0, None)
    request_id = request_id or order.request_id
    processed = 0
    with scoped(Scope.tenant(order.tenant_id)), log_context.bound(principal=_principal(order)):
        with db.transaction() as session:
            pending = session.scalars(
                select(Registration.line_index).where(
                    Registration.order_pk == order.id,
                    Registration.line_index >= start,
                    Registration.line_index < stop,
                    Registration.state == outcomes.PENDING,
                )
            ).all()
        for line_index in sorted(pending):
            try:
                with db.transaction() as session:
                    processed += _register(session, order, line_index, line_index + 1, request_id)
            except Exception as exc:  # noqa: BLE001 -- recorded for support, never lost
                log.exception(
                    "row failed on its own", extra={"order_id": str(order.id), "row": line_index}
                )
                with db.transaction() as session:
                    processed += _fail_unexpectedly(
                        session, order, line_index, exc, request_id, job_id, attempt
                    )
        with db.transaction() as session:
            status = orders.finalize_if_done(session, order_pk)
    return ChunkReport(order_pk, processed, status)


def _fail_unexpectedly(
    session, order: Order, line_index: int, exc: Exception, request_id, job_id, attempt
) -> int:
    reference = f"ref-{uuid.uuid4().hex[:12]}"
    result = session.execute(
        update(Registration)
        .where(
            Registration.order_pk == order.id,
            Registration.line_index == line_index,
            Registration.state == outcomes.PENDING,
        )
        .values(
            state=outcomes.FAILED,
            error_code=outcomes.UNEXPECTED_ERROR,
            **outcomes.message_columns(
                outcomes.message(outcomes.UNEXPECTED_ERROR, request_id=request_id)
            ),
            support_reference=reference,
            internal_error={
                "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
                "message": str(exc)[:2000],
                "job_id": job_id,
                "attempt": attempt,
                "support_reference": reference,
            },
            updated_request_id=request_id,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    failed = db.affected_rows(result)
    unexpected = (outcomes.FAILED, outcomes.UNEXPECTED_ERROR)
    counters.rows_moved(session, order, failed, (outcomes.PENDING, None), unexpected)
    return failed


def _register(session, order: Order, start: int, stop: int, request_id: str) -> int:
    now = utcnow()
    # First, before any other lock: a revoke locks the relationship, then the
    # rows and the order; taking them in the same order cannot deadlock. Held
    # until COMMIT, so a revoke waits for this chunk instead of racing it.
    revoked = order.partner_id is not None and not relationship_rule.is_active(
        session, order.partner_id, order.tenant_id, hold=True
    )
    started = session.execute(
        update(Order)
        .where(Order.id == order.id, Order.started_at.is_(None), Order.status == orders.ACCEPTED)
        .values(started_at=now, status=orders.PROCESSING)
        .execution_options(synchronize_session=False)
    )
    if db.affected_rows(started):
        counters.order_status_changed(session, order, orders.ACCEPTED, orders.PROCESSING)
    rows = session.execute(
        select(
            Registration.id,
            Registration.identity_key,
            # Whether it has one: the hash itself is not needed here.
            Registration.hardware_hash.is_not(None).label("has_hash"),
            Registration.model,
            Registration.serial_number,
            Registration.product_key_id,
        )
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

    # registration id -> (error code, message); error code None means registered.
    decided: dict[uuid.UUID, tuple[str | None, Message | None]] = {}
    if revoked:
        decided = {row.id: _outcome(outcomes.RELATIONSHIP_REVOKED) for row in rows}
    else:
        identities = {row.id: row.identity_key for row in rows if row.has_hash}
        learned = _resolve_from_catalog(session, rows, decided)
        identities.update({rid: match.identity_key for rid, match in learned.items()})
        _store_identities(session, learned)
        # Claimed in line order: of two rows naming one device differently (its
        # PKID, its tuple), the first claims it and the second is the duplicate.
        claims = [
            ownership.ClaimRequest(r.id, identities[r.id]) for r in rows if r.id in identities
        ]
        claimed = ownership.claim(session, order.tenant_id, claims)
        for rid, code in claimed.items():
            decided[rid] = _outcome(code)
        held_here = [rid for rid, code in claimed.items() if code == outcomes.ALREADY_REGISTERED]
        for rid, (source, line) in _first_rows_of_the_same_device(
            session, order, {rid: identities[rid] for rid in held_here}
        ).items():
            decided[rid] = (
                outcomes.DUPLICATE_IN_ORDER,
                outcomes.duplicate_message(source, line),
            )
        _fill_from_catalog(session, learned, decided, request_id, now)

    _write_outcomes(session, order, decided, request_id, now)
    return len(rows)


def _write_outcomes(
    session,
    order: Order,
    decided: dict[uuid.UUID, tuple[str | None, Message | None]],
    request_id: str,
    now,
) -> None:
    """Settle the decided rows that are still pending, and move the order's
    counters by the rows each outcome changed."""
    moved: Counter[str | None] = Counter()
    if session.get_bind().dialect.name == "postgresql":
        # One statement for every outcome of the chunk: the rows travel as arrays.
        moved.update(
            session.execute(
                _SETTLE,
                {
                    "ids": list(decided),
                    "codes": [code for code, _ in decided.values()],
                    "messages": [
                        None if message is None else str(message) for _, message in decided.values()
                    ],
                    "params": [
                        None if message is None else json.dumps(message.as_json())
                        for _, message in decided.values()
                    ],
                    "order_pk": order.id,
                    "pending": outcomes.PENDING,
                    "ready": outcomes.READY,
                    "failed": outcomes.FAILED,
                    "request_id": request_id,
                    "now": now,
                },
            ).scalars()
        )
    else:
        by_outcome: dict[tuple[str | None, Message | None], list[uuid.UUID]] = defaultdict(list)
        for registration_id, outcome in decided.items():
            by_outcome[outcome].append(registration_id)
        for (error_code, message), ids in by_outcome.items():
            values = {"updated_request_id": request_id, "updated_at": now}
            if error_code is None:
                values.update(
                    state=outcomes.READY,
                    registered_at=now,
                    error_code=None,
                    **outcomes.message_columns(None),
                )
            else:
                values.update(
                    state=outcomes.FAILED,
                    error_code=error_code,
                    **outcomes.message_columns(message),
                )
            changed = session.execute(
                update(Registration)
                .where(
                    db.one_of(session, Registration.id, ids), Registration.state == outcomes.PENDING
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            moved[error_code] += db.affected_rows(changed)
    for error_code, n in moved.items():
        state = outcomes.READY if error_code is None else outcomes.FAILED
        counters.rows_moved(session, order, n, (outcomes.PENDING, None), (state, error_code))


# A registered row (no error code) gets its registration time; a failed one
# keeps whatever it had. Returns the error code of each row it changed.
_SETTLE = text(
    "UPDATE registrations AS r SET "
    "state = CASE WHEN t.error_code IS NULL THEN :ready ELSE :failed END, "
    "error_code = t.error_code, message = t.message, "
    "message_params = CAST(t.message_params AS json), "
    "registered_at = CASE WHEN t.error_code IS NULL THEN :now ELSE r.registered_at END, "
    "updated_request_id = :request_id, updated_at = :now "
    "FROM unnest(CAST(:ids AS uuid[]), CAST(:codes AS varchar[]), "
    "CAST(:messages AS varchar[]), CAST(:params AS varchar[])) "
    "AS t(id, error_code, message, message_params) "
    "WHERE r.id = t.id AND r.order_pk = :order_pk AND r.state = :pending "
    "RETURNING t.error_code"
)


def _first_rows_of_the_same_device(
    session, order: Order, identities: dict[uuid.UUID, str]
) -> dict[uuid.UUID, tuple[str | None, int]]:
    """For rows whose device the tenant already holds: (file, line) of the
    earlier row of this same order that holds it, when one does. Such a row
    is a duplicate in the order, not a device registered before."""
    if not identities:
        return {}
    earlier = session.execute(
        select(Registration.id, Registration.identity_key, Registration.source, Registration.line)
        .where(
            Registration.order_pk == order.id,
            db.one_of(session, Registration.identity_key, set(identities.values())),
            Registration.state != outcomes.FAILED,
        )
        .order_by(Registration.line_index)
    ).all()
    first: dict[str, tuple[uuid.UUID, str | None, int]] = {}
    for rid, key, source, line in earlier:
        if rid not in identities:
            first.setdefault(key, (rid, source, line))
    return {rid: first[key][1:] for rid, key in identities.items() if key in first}


def _outcome(error_code: str | None) -> tuple[str | None, Message | None]:
    return error_code, outcomes.message(error_code) if error_code else None


def _resolve_from_catalog(session, rows, decided) -> dict[uuid.UUID, catalog.Match]:
    """Resolve rows without a hash against the supplier catalog.

    Unmatched rows are decided ``device_not_found``; returns the matches,
    whose identities are to be claimed.
    """
    unresolved = [
        catalog.UnresolvedRow(
            row.id, row.identity_key, row.model, row.serial_number, row.product_key_id
        )
        for row in rows
        if not row.has_hash
    ]
    if not unresolved:
        return {}
    matches: dict[uuid.UUID, catalog.Match] = {}
    for rid, found in catalog.resolve(session, unresolved).items():
        if isinstance(found, catalog.NoMatch):
            decided[rid] = (outcomes.DEVICE_NOT_FOUND, found.message)
        else:
            matches[rid] = found
    return matches


def _store_identities(session, matches) -> None:
    """Rows matched by PKID keep the identity they resolved to (internal: how
    later rows of the order are recognised as the same device); what a person
    reads is filled in only by ``_fill_from_catalog``."""
    by_pkid = [
        {"id": rid, "identity_key": m.identity_key} for rid, m in matches.items() if m.by_pkid
    ]
    if by_pkid:
        session.execute(update(Registration), by_pkid)


# Outcomes after which the device is the tenant's: its row may show what the catalog says.
_THE_TENANTS_DEVICE = (None, outcomes.ALREADY_REGISTERED)


def _fill_from_catalog(session, matches, decided, request_id: str, now) -> None:
    """A row submitted by PKID learns which device it is from the catalog --
    but only when that device is now, or already was, the tenant's. A device
    another organisation owns keeps only what the partner submitted: the
    catalog must not tell a partner the serial number, manufacturer and model
    behind a PKID it does not hold. (Tuple rows carry their own values.)"""
    filled = [
        {
            "id": rid,
            "identity_key": match.identity_key,
            "manufacturer": match.manufacturer,
            "model": match.model,
            "serial_number": match.serial_number,
            "product_key_id": match.product_key_id,
            "updated_request_id": request_id,
            "updated_at": now,
        }
        for rid, match in matches.items()
        if match.by_pkid and decided[rid][0] in _THE_TENANTS_DEVICE
    ]
    if filled:
        session.execute(update(Registration), filled)
