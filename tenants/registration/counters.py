"""Counts kept as rows change, so no read counts rows.

Five counter tables (tenants/models.py): an order's rows by stored state and
error code (``order_counts``), its registered rows by the day of their last
check-in (``order_check_ins``), and per tenant and submitting partner, rows
by state and error code (``registration_totals``), orders by status
(``order_totals``) and, by UTC day, rows registered, rows failed (by error
code) and registered rows by their last check-in (``daily_totals``, what
the overview's charts read).

Every change to a registration's state or error code, to an order's status,
or to a registered row's last check-in records its delta here, in the
session of the transaction that makes the change (``rows_added``,
``rows_moved``, ``order_status_changed``, ``check_in_moved``). The deltas
are summed in memory and written just before COMMIT -- or, for the table a
read in the same transaction needs, before that read -- with one
``INSERT ... ON CONFLICT DO UPDATE`` per table: tables always in the same
order, keys sorted, after the row changes. Two transactions that update the
same counters take their locks in the same order, so they wait for each other
instead of deadlocking, and the counters' locks are held only from then
to COMMIT. A rollback drops the deltas with the rows' changes (no code here
uses savepoints: a rolled-back savepoint would keep its deltas).

``recount`` counts the rows again, for rows written around the service.

``active`` and ``inactive`` are not stored states (tenants/outcomes.py):
``order_counts`` splits an order's ``ready_for_user`` rows at read time, from
``order_check_ins``. Whole days before or after the 7-day window's start
need no row; only the rows last seen on the day the window starts are
counted, by an index on (order, last check-in).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import (
    Integer,
    Uuid,
    cast,
    delete,
    event,
    extract,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from tenants import db, outcomes
from tenants.models import (
    NO_PARTNER,
    DailyTotal,
    Order,
    OrderCheckIn,
    OrderCount,
    OrderTotal,
    Registration,
    RegistrationTotal,
    utcnow,
)
from tenants.scoping import unscoped

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = timedelta(days=1)
_PENDING_KEY = "tenants.counters"

# (stored state, error code or None)
Outcome = tuple[str, str | None]


class Owner(NamedTuple):
    """Whose rows a delta counts: the order, its tenant, its partner."""

    order_id: uuid.UUID
    tenant_id: uuid.UUID
    partner_id: uuid.UUID | None


def owner_of(obj: Order | Registration | Owner) -> Owner:
    if isinstance(obj, Owner):
        return obj
    if isinstance(obj, Registration):
        return Owner(obj.order_pk, obj.tenant_id, obj.partner_id)
    return Owner(obj.id, obj.tenant_id, obj.partner_id)


# The counter tables, in the order every transaction writes them, each with
# its key (rows are written in key order).
_TABLES: tuple[tuple[type, tuple[str, ...]], ...] = (
    (OrderCount, ("order_id", "state", "error_code")),
    (OrderCheckIn, ("order_id", "seen_day")),
    (RegistrationTotal, ("tenant_id", "partner_key", "state", "error_code")),
    (OrderTotal, ("tenant_id", "partner_key", "status")),
    (DailyTotal, ("tenant_id", "partner_key", "kind", "day", "error_code")),
)

# daily_totals' kinds.
REGISTERED_DAY, FAILED_DAY, SEEN_DAY = "registered", "failed", "seen"


class _Deltas:
    """This transaction's deltas not yet written, per counter table: key ->
    delta, and key -> the row's other columns (whose it is)."""

    def __init__(self) -> None:
        self.counts: dict[type, Counter[tuple]] = {model: Counter() for model, _ in _TABLES}
        self.owners: dict[type, dict[tuple, dict]] = {model: {} for model, _ in _TABLES}

    def add(self, model: type, key: tuple, owner: dict, n: int) -> None:
        self.counts[model][key] += n
        self.owners[model][key] = owner

    def rows(self, owner: Owner, state: str, error_code: str | None, n: int) -> None:
        code = error_code or ""
        whose = {"tenant_id": owner.tenant_id, "partner_id": owner.partner_id}
        self.add(OrderCount, (owner.order_id, state, code), whose, n)
        partner_key = owner.partner_id or NO_PARTNER
        total_key = (owner.tenant_id, partner_key, state, code)
        self.add(RegistrationTotal, total_key, {"partner_id": owner.partner_id}, n)

    def arrived(self, owner: Owner, state: str, error_code: str | None, n: int) -> None:
        """``n`` rows reached ``state`` today: registered or failed are events
        of the day, kept whatever happens to the rows after."""
        kind = {outcomes.READY: REGISTERED_DAY, outcomes.FAILED: FAILED_DAY}.get(state)
        if kind is None or n <= 0:
            return
        key = (owner.tenant_id, owner.partner_id or NO_PARTNER, kind, seen_day(utcnow()))
        self.add(DailyTotal, (*key, error_code or ""), {"partner_id": owner.partner_id}, n)

    def seen(self, row: Registration, day: int, n: int) -> None:
        key = (row.tenant_id, row.partner_id or NO_PARTNER, SEEN_DAY, day, "")
        self.add(DailyTotal, key, {"partner_id": row.partner_id}, n)


def _deltas(session: Session) -> _Deltas:
    return session.info.setdefault(_PENDING_KEY, _Deltas())


# --- recording changes ----------------------------------------------------------------------


def rows_added(session: Session, order: Order, outcomes_: Mapping[Outcome, int]) -> None:
    """New rows of ``order``, by (state, error code)."""
    owner = owner_of(order)
    deltas = _deltas(session)
    for (state, error_code), n in outcomes_.items():
        deltas.rows(owner, state, error_code, n)
        deltas.arrived(owner, state, error_code, n)


def rows_moved(
    session: Session, of: Order | Registration | Owner, n: int, before: Outcome, after: Outcome
) -> None:
    """``n`` rows of an order (or this one row's order) went from one (state,
    error code) to another."""
    if not n or before == after:
        return
    owner = owner_of(of)
    deltas = _deltas(session)
    deltas.rows(owner, *before, -n)
    deltas.rows(owner, *after, n)
    deltas.arrived(owner, *after, n)


def order_status_changed(session: Session, order: Order, before: str | None, after: str) -> None:
    """An order was stored (``before`` None) or changed status."""
    if before == after:
        return
    deltas = _deltas(session)
    partner_key = order.partner_id or NO_PARTNER
    whose = {"partner_id": order.partner_id}
    if before is not None:
        deltas.add(OrderTotal, (order.tenant_id, partner_key, before), whose, -1)
    deltas.add(OrderTotal, (order.tenant_id, partner_key, after), whose, 1)


def seen_day(seen_at: datetime) -> int:
    """The UTC day of a check-in, in days since 1970-01-01."""
    return (seen_at - _EPOCH) // _DAY


def check_in_moved(
    session: Session, row: Registration, before: datetime | None, after: datetime | None
) -> None:
    """A registered row's last check-in changed (``after`` None: the row left
    ``ready_for_user``, so it no longer counts as checked in)."""
    deltas = _deltas(session)
    whose = {"tenant_id": row.tenant_id, "partner_id": row.partner_id}
    if before is not None:
        deltas.add(OrderCheckIn, (row.order_pk, seen_day(before)), whose, -1)
        deltas.seen(row, seen_day(before), -1)
    if after is not None:
        deltas.add(OrderCheckIn, (row.order_pk, seen_day(after)), whose, 1)
        deltas.seen(row, seen_day(after), 1)


# --- writing them, before COMMIT ------------------------------------------------------------


def flush(session: Session, *models: type) -> None:
    """Write the deltas recorded in this transaction to these counter tables
    (all of them by default; ``before_commit`` writes whatever is left).

    A read writes only the tables it reads: a transaction that goes on to
    lock orders (a revoke closing them, a sweep) takes no lock on the
    tenant-wide totals before it, so it cannot wait on an order's lock
    while holding a total that the order's own transaction needs."""
    deltas: _Deltas | None = session.info.get(_PENDING_KEY)
    if deltas is None:
        return
    for model, key in _TABLES:
        if models and model not in models:
            continue
        counts, owners = deltas.counts[model], deltas.owners[model]
        rows = [
            {**dict(zip(key, values, strict=True)), **owners[values], "count": n}
            for values, n in sorted(counts.items())
            if n
        ]
        counts.clear()
        owners.clear()
        _add(session, model, key, rows)


def _add(session: Session, model, key: tuple[str, ...], rows: list[dict]) -> None:
    """Add each row's ``count`` to its counter, creating it when missing: one
    statement for the batch (its rows in the order given).

    Unscoped: the deltas count changes this transaction made under its own
    scope (a scoped UPDATE of another tenant's rows changes none, so moves
    nothing), and they are written at COMMIT, when the scope they were
    made in may have been left."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)
    count = model.__table__.c["count"]
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key), set_={"count": count + stmt.excluded["count"]}
    )
    with unscoped("counters: the deltas of this transaction's own changes"):
        session.execute(stmt, rows)


@event.listens_for(Session, "before_commit")
def _flush_before_commit(session: Session) -> None:
    flush(session)


@event.listens_for(Session, "after_transaction_end")
def _drop_unwritten(session: Session, transaction) -> None:
    # The transaction is over: a COMMIT wrote its deltas, a rollback (or a
    # close without COMMIT) undid the changes they count.
    if transaction.parent is None:
        session.info.pop(_PENDING_KEY, None)


# --- reading them ---------------------------------------------------------------------------


@dataclass
class Counts:
    """One order's rows by state (``by_state``) and by error code."""

    by_state: dict[str, int] = field(default_factory=dict)
    by_error_code: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {"by_state": self.by_state, "by_error_code": self.by_error_code}


def stored_counts(session: Session, order_pk: uuid.UUID) -> Counts:
    """The order's rows by stored state (``ready_for_user`` not split) and
    error code, this transaction's changes included."""
    flush(session, OrderCount)
    counts = Counts()
    for state, error_code, n in session.execute(
        select(OrderCount.state, OrderCount.error_code, OrderCount.count).where(
            OrderCount.order_id == order_pk, OrderCount.count != 0
        )
    ):
        counts.by_state[state] = counts.by_state.get(state, 0) + n
        if error_code:
            counts.by_error_code[error_code] = counts.by_error_code.get(error_code, 0) + n
    return counts


def order_counts(
    session: Session, order_pks: Iterable[uuid.UUID], now: datetime | None = None
) -> dict[uuid.UUID, Counts]:
    """Each order's rows by the state people read (``ready_for_user`` split
    into ``active`` and ``inactive`` by check-ins) and by error code. One
    statement, so every figure is of one moment. Orders of another scope
    come back empty."""
    flush(session, OrderCount, OrderCheckIn)
    wanted = list(order_pks)
    found = {order_pk: Counts() for order_pk in wanted}
    if not wanted:
        return found
    cutoff = (now or utcnow()) - outcomes.ACTIVE_WINDOW
    first_day = seen_day(cutoff)
    # Checked in after the day the window starts, on that day (rows counted),
    # and ever: correlated with the order of each counter row.
    later_days = (
        select(func.coalesce(func.sum(OrderCheckIn.count), 0))
        .where(OrderCheckIn.order_id == OrderCount.order_id, OrderCheckIn.seen_day > first_day)
        .scalar_subquery()
    )
    on_the_day = (
        select(func.count())
        .select_from(Registration)
        .where(
            Registration.order_pk == OrderCount.order_id,
            Registration.state == outcomes.READY,
            Registration.last_seen_at >= cutoff,
            Registration.last_seen_at < _EPOCH + (first_day + 1) * _DAY,
        )
        .scalar_subquery()
    )
    ever = (
        select(func.coalesce(func.sum(OrderCheckIn.count), 0))
        .where(OrderCheckIn.order_id == OrderCount.order_id)
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            OrderCount.order_id,
            OrderCount.state,
            OrderCount.error_code,
            OrderCount.count,
            later_days + on_the_day,
            ever,
        ).where(db.one_of(session, OrderCount.order_id, wanted), OrderCount.count != 0)
    )
    checked_in: dict[uuid.UUID, tuple[int, int]] = {}
    for order_pk, state, error_code, n, active, seen in rows:
        counts = found[order_pk]
        counts.by_state[state] = counts.by_state.get(state, 0) + n
        if error_code:
            counts.by_error_code[error_code] = counts.by_error_code.get(error_code, 0) + n
        checked_in[order_pk] = (active, seen)
    for order_pk, (active, seen) in checked_in.items():
        by_state = found[order_pk].by_state
        ready = by_state.pop(outcomes.READY, 0)
        split = {
            outcomes.READY: ready - seen,
            outcomes.ACTIVE: active,
            outcomes.INACTIVE: seen - active,
        }
        by_state.update({shown: m for shown, m in split.items() if m})
    return found


def registration_totals(session: Session) -> list[tuple[str, str | None, int]]:
    """Rows by stored state and error code, summed over the tenants and
    partners in scope: (state, error code or None, count), none zero."""
    flush(session, RegistrationTotal)
    total = func.sum(RegistrationTotal.count)
    rows = session.execute(
        select(RegistrationTotal.state, RegistrationTotal.error_code, total)
        .group_by(RegistrationTotal.state, RegistrationTotal.error_code)
        .having(total != 0)
        .order_by(RegistrationTotal.state, RegistrationTotal.error_code)
    )
    return [(state, error_code or None, int(n)) for state, error_code, n in rows]


def order_totals(session: Session) -> list[tuple[str, int]]:
    """Orders by status in scope: (status, count), none zero."""
    flush(session, OrderTotal)
    total = func.sum(OrderTotal.count)
    rows = session.execute(
        select(OrderTotal.status, total)
        .group_by(OrderTotal.status)
        .having(total != 0)
        .order_by(OrderTotal.status)
    )
    return [(status, int(n)) for status, n in rows]


def ready_split(session: Session, now: datetime | None = None) -> dict[str, int]:
    """The ready_for_user rows in scope as people read them: never checked
    in (``ready_for_user``), ``active`` and ``inactive``, as
    ``order_counts`` splits an order's: whole days from the daily check-in
    totals, the day the active window starts counted row by row (on an
    index of the tenant's check-ins, so for a tenant's scope)."""
    flush(session, RegistrationTotal, DailyTotal)
    ready = session.scalar(
        select(func.coalesce(func.sum(RegistrationTotal.count), 0)).where(
            RegistrationTotal.state == outcomes.READY
        )
    )
    cutoff = (now or utcnow()) - outcomes.ACTIVE_WINDOW
    first_day = seen_day(cutoff)
    later = func.sum(DailyTotal.count).filter(DailyTotal.day > first_day)
    ever_seen, seen_later = session.execute(
        select(func.coalesce(func.sum(DailyTotal.count), 0), func.coalesce(later, 0)).where(
            DailyTotal.kind == SEEN_DAY
        )
    ).one()
    on_the_day = session.scalar(
        select(func.count())
        .select_from(Registration)
        .where(
            Registration.last_seen_at >= cutoff,
            Registration.last_seen_at < _EPOCH + (first_day + 1) * _DAY,
            Registration.state == outcomes.READY,
        )
    )
    active = int(seen_later) + int(on_the_day or 0)
    return {
        outcomes.READY: int(ready or 0) - int(ever_seen),
        outcomes.ACTIVE: active,
        outcomes.INACTIVE: int(ever_seen) - active,
    }


# --- counting them again --------------------------------------------------------------------


def _seen_day_sql(session: Session, column) -> ColumnElement[int]:
    """``seen_day`` in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(extract("epoch", column) / 86400), Integer)
    # SQLite stores naive UTC text; '%s' is its Unix time.
    return cast(func.strftime("%s", column), Integer) // 86400


def recount(session: Session, tenant_ids: Iterable[uuid.UUID] | None = None) -> None:
    """Count the rows again and replace the counters of these tenants (or of
    every tenant) with what they say: for rows written around the service
    (a bulk load in SQL, a repair by hand). Takes the tables' write locks
    on PostgreSQL, so no change of rows or counters runs meanwhile. The
    caller commits."""
    flush(session)
    tenants = None if tenant_ids is None else list(tenant_ids)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(
                "LOCK TABLE orders, registrations, order_counts, order_check_ins, "
                "registration_totals, order_totals, daily_totals IN SHARE ROW EXCLUSIVE MODE"
            )
        )

    def only(stmt, model):
        return stmt if tenants is None else stmt.where(model.tenant_id.in_(tenants))

    error_code = func.coalesce(Registration.error_code, literal_column("''"))
    no_partner = literal(NO_PARTNER, Uuid())
    day = _seen_day_sql(session, Registration.last_seen_at)
    with unscoped("counters: count the rows again"):
        for model in (OrderCount, OrderCheckIn, RegistrationTotal, OrderTotal, DailyTotal):
            session.execute(only(delete(model), model))
        session.execute(
            insert(OrderCount).from_select(
                ["order_id", "tenant_id", "partner_id", "state", "error_code", "count"],
                only(
                    select(
                        Order.id,
                        Order.tenant_id,
                        Order.partner_id,
                        Registration.state,
                        error_code,
                        func.count(),
                    )
                    .join(Order, Order.id == Registration.order_pk)
                    .group_by(
                        Order.id, Order.tenant_id, Order.partner_id, Registration.state, error_code
                    ),
                    Order,
                ),
            )
        )
        session.execute(
            insert(OrderCheckIn).from_select(
                ["order_id", "tenant_id", "partner_id", "seen_day", "count"],
                only(
                    select(Order.id, Order.tenant_id, Order.partner_id, day, func.count())
                    .join(Order, Order.id == Registration.order_pk)
                    .where(
                        Registration.state == outcomes.READY,
                        Registration.last_seen_at.is_not(None),
                    )
                    .group_by(Order.id, Order.tenant_id, Order.partner_id, day),
                    Order,
                ),
            )
        )
        session.execute(
            insert(RegistrationTotal).from_select(
                ["tenant_id", "partner_key", "partner_id", "state", "error_code", "count"],
                only(
                    select(
                        Registration.tenant_id,
                        func.coalesce(Registration.partner_id, no_partner),
                        Registration.partner_id,
                        Registration.state,
                        error_code,
                        func.count(),
                    ).group_by(
                        Registration.tenant_id,
                        Registration.partner_id,
                        Registration.state,
                        error_code,
                    ),
                    Registration,
                ),
            )
        )
        session.execute(
            insert(OrderTotal).from_select(
                ["tenant_id", "partner_key", "partner_id", "status", "count"],
                only(
                    select(
                        Order.tenant_id,
                        func.coalesce(Order.partner_id, no_partner),
                        Order.partner_id,
                        Order.status,
                        func.count(),
                    ).group_by(Order.tenant_id, Order.partner_id, Order.status),
                    Order,
                ),
            )
        )
        _recount_days(session, only, no_partner)


def _recount_days(session: Session, only, no_partner) -> None:
    """``daily_totals`` from the rows: registered on the day of
    ``registered_at``, failed on the day of their last change, seen on the
    day of the last check-in of a ready_for_user row."""
    partner_key = func.coalesce(Registration.partner_id, no_partner)
    # No error code: a constant, which PostgreSQL refuses in GROUP BY.
    none: ColumnElement[str] = literal_column("''")
    for kind, column, error_code, condition in (
        (REGISTERED_DAY, Registration.registered_at, none, None),
        (
            FAILED_DAY,
            Registration.updated_at,
            func.coalesce(Registration.error_code, literal_column("''")),
            Registration.state == outcomes.FAILED,
        ),
        (SEEN_DAY, Registration.last_seen_at, none, Registration.state == outcomes.READY),
    ):
        day = _seen_day_sql(session, column)
        stmt = (
            select(
                Registration.tenant_id,
                partner_key,
                Registration.partner_id,
                literal(kind),
                day,
                error_code,
                func.count(),
            )
            .where(column.is_not(None))
            .group_by(
                Registration.tenant_id,
                Registration.partner_id,
                day,
                *([] if error_code is none else [error_code]),
            )
        )
        if condition is not None:
            stmt = stmt.where(condition)
        session.execute(
            insert(DailyTotal).from_select(
                ["tenant_id", "partner_key", "partner_id", "kind", "day", "error_code", "count"],
                only(stmt, Registration),
            )
        )
