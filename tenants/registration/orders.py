"""Orders: submission, reading, counts.

Submission stores the order and every row durably in one transaction and
returns the chunk ranges the caller enqueues after COMMIT. Rows that can
never register (bad hash, duplicates, ...) are stored already failed, so the
worker only deals with ownership. An order's counts are read from its
counters (tenants/registration/counters.py), added to in the same
transaction as its rows.
"""

from __future__ import annotations

import operator
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import insert, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, defer

from tenants import audit, db, outcomes
from tenants.errors import InputError, NotFound
from tenants.events import outbox
from tenants.ingest import group_tags
from tenants.ingest.device_rows import (
    OrderDeduplicator,
    PreparedRow,
    RowContext,
    RowInput,
    prepare_row,
)
from tenants.ingest.hardware_hash import expand
from tenants.listing import ExportableListing, Keyset, StatementListing
from tenants.models import Order, Registration, utcnow
from tenants.registration import counters, preview, relationship_rule
from tenants.texts import N_

ACCEPTED, PROCESSING = "accepted", "processing"
COMPLETED, COMPLETED_WITH_ERRORS, FAILED = "completed", "completed_with_errors", "failed"
FINAL_STATUSES = (COMPLETED, COMPLETED_WITH_ERRORS, FAILED)

_INSERT_BATCH = 1000


@dataclass(frozen=True)
class Submission:
    tenant_id: uuid.UUID
    partner_id: uuid.UUID | None
    request_id: str
    order_id: str | None
    purchase_id: str | None
    group_tag: str | None
    group_tag_max_length: int
    max_rows: int
    chunk_size: int


@dataclass
class SubmitResult:
    order: Order | None
    chunks: list[tuple[int, int]] = field(default_factory=list)
    verdicts: list[PreparedRow] = field(default_factory=list)  # dry runs only


def _row_context(session: Session, submission: Submission) -> RowContext:
    return RowContext(
        self_registration=submission.partner_id is None,
        order_group_tag=submission.group_tag,
        group_tags=group_tags.policy_for(
            session, submission.tenant_id, max_length=submission.group_tag_max_length
        ),
    )


def _prepared_rows(
    rows: Iterable[RowInput], submission: Submission, ctx: RowContext
) -> Iterator[PreparedRow]:
    # A generator: on PostgreSQL it is consumed while COPY holds the
    # connection, so everything it needs from the database is read before.
    dedupe = OrderDeduplicator()
    for index, row in enumerate(rows):
        if index >= submission.max_rows:
            raise InputError(
                f"The order has more than {submission.max_rows} rows, the most one order may "
                "hold. Split it into several orders.",
                code="upload_too_large",
                file=row.source,
                line=row.line,
            )
        prepared = prepare_row(
            row.values, line_index=index, line=row.line, source=row.source, ctx=ctx
        )
        yield dedupe.check(prepared)


def _check_order_group_tag(submission: Submission, ctx: RowContext) -> None:
    """The order's own group tag (a form field) is checked once, as a field
    error of the order, not as the same failure on every row that takes it."""
    problem = ctx.group_tags.problem(submission.group_tag)
    if problem:
        raise InputError(
            outcomes.message(outcomes.GROUP_TAG_INVALID, detail=problem),
            code=outcomes.GROUP_TAG_INVALID,
            field="group_tag",
        )


def submit_order(
    session: Session, submission: Submission, rows: Iterable[RowInput], *, dry_run: bool = False
) -> SubmitResult:
    """Store an order and its rows (or, for a dry run, only judge them).

    The caller commits; the chunks must be enqueued only after the commit.
    """
    if submission.partner_id is not None:
        # Held until COMMIT: a revoke waits for this order, then fails its rows.
        relationship_rule.require_active(
            session, submission.partner_id, submission.tenant_id, hold=not dry_run
        )
    # Read before the rows stream (on PostgreSQL, into COPY on this connection).
    ctx = _row_context(session, submission)
    _check_order_group_tag(submission, ctx)
    if dry_run:
        verdicts = list(_prepared_rows(rows, submission, ctx))
        if not verdicts:
            raise InputError("The order has no device rows.", code="order_empty")
        preview.judge_like_the_worker(session, submission.tenant_id, verdicts)
        return SubmitResult(order=None, verdicts=verdicts)

    order = Order(
        tenant_id=submission.tenant_id,
        partner_id=submission.partner_id,
        request_id=submission.request_id,
        order_id=submission.order_id,
        purchase_id=submission.purchase_id,
        group_tag=submission.group_tag,
        status=ACCEPTED,
    )
    session.add(order)
    session.flush()
    common = {
        "tenant_id": submission.tenant_id,
        "partner_id": submission.partner_id,
        "order_pk": order.id,
        "request_id": submission.request_id,
    }
    count = 0
    now = utcnow()
    # Rows by (state, error code): the order's counters, added once every row is in.
    stored: Counter[counters.Outcome] = Counter()
    with RegistrationWriter(session) as writer:
        for prepared in _prepared_rows(rows, submission, ctx):
            columns = prepared.columns()
            writer.write(
                {
                    "id": uuid.uuid4(),
                    **common,
                    **columns,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            stored[columns["state"], columns["error_code"]] += 1
            count += 1
    if count == 0:
        raise InputError("The order has no device rows.", code="order_empty")
    order.row_count = count
    counters.rows_added(session, order, stored)
    counters.order_status_changed(session, order, None, order.status)
    order.enqueued_at = utcnow()  # the caller enqueues right after COMMIT
    audit.record(
        session,
        "order.submitted",
        object_type="order",
        object_id=order.id,
        tenant_id=order.tenant_id,
        detail={"order_id": order.order_id, "rows": count},
    )
    _record_event(session, outbox.ORDER_ACCEPTED, order)
    size = max(1, submission.chunk_size)
    chunks = [(start, min(start + size, count)) for start in range(0, count, size)]
    return SubmitResult(order=order, chunks=chunks)


class RegistrationWriter:
    """Writes an order's rows as they stream in, inside the order's transaction.

    On PostgreSQL one COPY carries every row (the fastest way in, by far); on
    SQLite, multi-row INSERTs of a thousand. COPY bypasses the ORM, so the
    scoping layer does not see these rows: every one carries the submission's
    own tenant and partner, set above.

    PostgreSQL refuses COPY into a table under row-level security, so there
    the rows are copied into a temporary table of the same shape, then moved
    with one ``INSERT ... SELECT`` that the policy checks row by row: a row of
    another tenant than the scope's fails the order.
    """

    _COLUMNS = tuple(column.name for column in Registration.__table__.columns)
    # Every column, None unless the row says otherwise; picked out in C.
    _EMPTY = dict.fromkeys(_COLUMNS)
    _as_tuple = staticmethod(operator.itemgetter(*_COLUMNS))
    # Binary COPY needs each column's type; it spares formatting every hash
    # as hex text here and parsing it back there.
    _TYPES = tuple(
        re.sub(r"\(.*\)", "", column.type.compile(dialect=postgresql.dialect())).lower()
        for column in Registration.__table__.columns
    )
    _STAGE = "registration_intake"

    def __init__(self, session: Session) -> None:
        self.session = session
        self.copying = session.get_bind().dialect.name == "postgresql"
        self.staged = False
        self.batch: list[dict] = []

    def __enter__(self) -> RegistrationWriter:
        if self.copying:
            self.staged = bool(
                self.session.scalar(text("SELECT row_security_active('registrations')"))
            )
            target = "registrations"
            if self.staged:
                self.session.execute(
                    text(
                        f"CREATE TEMPORARY TABLE {self._STAGE} (LIKE registrations) ON COMMIT DROP"
                    )
                )
                target = self._STAGE
            # COPY is psycopg's own API: the connection under SQLAlchemy's.
            cursor = db.driver_connection(self.session).cursor()
            self._cursor = cursor
            self._copy_context = cursor.copy(
                f"COPY {target} ({', '.join(self._COLUMNS)}) FROM STDIN (FORMAT BINARY)"
            )
            self._copy = self._copy_context.__enter__()
            self._copy.set_types(self._TYPES)
        return self

    def write(self, row: dict) -> None:
        if self.copying:
            self._copy.write_row(self._as_tuple({**self._EMPTY, **row}))
            return
        self.batch.append(row)
        if len(self.batch) >= _INSERT_BATCH:
            self._flush()

    def _flush(self) -> None:
        if self.batch:
            self.session.execute(insert(Registration), self.batch)
            self.batch = []

    def __exit__(self, exc_type, exc, traceback) -> None:
        if self.copying:
            self._copy_context.__exit__(exc_type, exc, traceback)
            self._cursor.close()
            if self.staged and exc_type is None:
                columns = ", ".join(self._COLUMNS)
                self.session.execute(
                    text(
                        f"INSERT INTO registrations ({columns}) SELECT {columns} FROM {self._STAGE}"
                    )
                )
                self.session.execute(text(f"DROP TABLE {self._STAGE}"))
        elif exc_type is None:
            self._flush()


def get_order(session: Session, order_pk: uuid.UUID) -> Order:
    order = session.get(Order, order_pk)
    if order is None:
        raise NotFound(N_("There is no order with this ID."))
    return order


def newest_first(session: Session) -> ExportableListing[Order]:
    """The orders in scope, newest first: a partner's own, or every order for
    a tenant, whoever submitted it. Read by key on (created_at, id), which
    the indexes (tenant_id | partner_id, created_at, id) walk."""
    return StatementListing(
        session,
        select(Order),
        Keyset(Order.created_at, Order.id, descending=True),
        key_of=lambda order: (order.created_at, order.id),
    )


def order_rows(
    session: Session,
    order_pk: uuid.UUID,
    *,
    state: str | None = None,
    error_code: str | None = None,
    serial_number: str | None = None,
) -> ExportableListing[Registration]:
    """The order's rows with their outcomes, in submission order, those of
    one (effective) state, error code or serial number when given. An order
    out of scope is not found. Read by key on (line_index, id); counted from
    the order's counters when they say it (all rows, or one error code)."""
    order = get_order(session, order_pk)
    known_count = None
    if state is None and serial_number is None:
        if error_code is None:
            known_count = order.row_count
        else:
            known_count = counters.stored_counts(session, order_pk).by_error_code.get(error_code, 0)
    # What a row's outcome needs, without the hash (kilobytes a row, for
    # failures.csv only) or support's internal detail.
    unread = (
        Registration.hardware_hash,
        Registration.hardware_hash_text,
        Registration.internal_error,
    )
    stmt = (
        select(Registration)
        .where(Registration.order_pk == order_pk)
        .options(*(defer(column, raiseload=True) for column in unread))
    )
    if state is not None:
        stmt = stmt.where(outcomes.effective_state_is(state))
    if error_code is not None:
        stmt = stmt.where(Registration.error_code == error_code)
    if serial_number is not None:
        stmt = stmt.where(Registration.serial_number == serial_number)
    return StatementListing(
        session,
        stmt,
        Keyset(Registration.line_index, Registration.id),
        key_of=lambda row: (row.line_index, row.id),
        known_count=known_count,
    )


# The columns of a failed row its CSV line is written from.
_FAILED_ROW_COLUMNS = (
    Registration.manufacturer,
    Registration.model,
    Registration.serial_number,
    Registration.hardware_hash,
    Registration.hardware_hash_length,
    Registration.hardware_hash_text,
    Registration.product_key_id,
    Registration.group_tag,
    Registration.assigned_user,
    Registration.error_code,
    Registration.message,
    Registration.message_params,
)
# Rows a server-side cursor hands over at a time.
STREAM_BATCH = 1000


def failed_rows(
    session: Session,
    order_pk: uuid.UUID,
    *,
    message_of: Callable[[Mapping], str | None] | None = None,
) -> Iterator[tuple[dict, str, str]]:
    """The order's failed rows as submitted, in order: (values, error code,
    message) -- the message as ``message_of(row)`` gives it (partner_api
    renders it in the reader's language), else its stored English text.

    Streams from a server-side cursor (on PostgreSQL; SQLite's cursor reads as
    it goes), ``STREAM_BATCH`` rows at a time, as plain rows (no ORM objects
    kept in the session): memory stays flat whatever the order's size. The
    rows come in the order of ix_registrations_order_state_line.
    """
    stmt = (
        select(*_FAILED_ROW_COLUMNS)
        .where(Registration.order_pk == order_pk, Registration.state == outcomes.FAILED)
        .order_by(Registration.line_index)
        .execution_options(stream_results=True, yield_per=STREAM_BATCH)
    )
    for row in session.execute(stmt):
        if row.hardware_hash is not None:
            hardware_hash: str | None = expand(row.hardware_hash, row.hardware_hash_length or 0)
        else:
            hardware_hash = row.hardware_hash_text
        values = {
            "manufacturer": row.manufacturer,
            "model": row.model,
            "serial_number": row.serial_number,
            "hardware_hash": hardware_hash,
            "product_key_id": row.product_key_id,
            "group_tag": row.group_tag,
            "assigned_user": row.assigned_user,
        }
        message = message_of(row._mapping) if message_of is not None else row.message
        yield values, row.error_code or "", message or ""


def order_counts(session: Session, order_pk: uuid.UUID) -> dict[str, dict[str, int]]:
    """The order's rows by state as people read them (``active`` and
    ``inactive`` included) and by error code, from its counters."""
    return counters.order_counts(session, [order_pk])[order_pk].as_dict()


def final_status(counts: dict[str, dict[str, int]]) -> str:
    by_state, by_error = counts["by_state"], counts["by_error_code"]
    total = sum(by_state.values())
    registered = sum(
        by_state.get(s, 0) for s in (*outcomes.REGISTERED_STATES, outcomes.DEREGISTERED)
    )
    held = registered + sum(by_error.get(code, 0) for code in outcomes.SUCCESS_ERROR_CODES)
    if total and held == total:
        return COMPLETED
    if held == 0:
        return FAILED
    return COMPLETED_WITH_ERRORS


def finalize_if_done(session: Session, order_pk: uuid.UUID) -> str | None:
    """Close the order when no row is pending; returns the final status then."""
    order = session.get(
        Order,
        order_pk,
        with_for_update=session.get_bind().dialect.name != "sqlite",
        # Locked as it is now, not as this session may have loaded it before.
        populate_existing=True,
    )
    if order is None or order.completed_at is not None:
        return None
    counts = counters.stored_counts(session, order_pk)
    if counts.by_state.get(outcomes.PENDING):
        return None
    status = final_status(counts.as_dict())
    counters.order_status_changed(session, order, order.status, status)
    order.status = status
    order.completed_at = utcnow()
    if order.started_at is None:
        order.started_at = order.completed_at
    _record_event(session, outbox.ORDER_COMPLETED, order)
    return order.status


_ORDER_FIELDS = (
    "id",
    "request_id",
    "tenant_id",
    "partner_id",
    "order_id",
    "purchase_id",
    "group_tag",
    "status",
    "row_count",
    "created_at",
    "started_at",
    "completed_at",
)


def as_dict(session: Session, order: Order) -> dict:
    """An order as the API answers it, the portal shows it and its events
    carry it: its fields, and its rows counted by state and by error code."""
    return as_dicts(session, [order])[0]


def as_dicts(session: Session, page: Sequence[Order]) -> list[dict]:
    """``as_dict`` of each order of a page, their counts read in one statement."""
    counts = counters.order_counts(session, [order.id for order in page])
    return [
        {name: getattr(order, name) for name in _ORDER_FIELDS}
        | {"counts": counts[order.id].as_dict()}
        for order in page
    ]


def _record_event(session: Session, type: str, order: Order) -> None:  # noqa: A002
    session.flush()  # the counters as this transaction left them
    outbox.record(
        session,
        type,
        tenant_id=order.tenant_id,
        partner_id=order.partner_id,
        data=as_dict(session, order),
    )
