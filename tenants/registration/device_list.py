"""The device list: a tenant's devices as people read them, filtered, sorted
and paged, with the order and the partner beside each, for the customer API
and the portal alike.

Each row carries its state as of now and what that state means, who
registered it and its order's reference (see ``listed``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from tenants import outcomes
from tenants.errors import NotFound
from tenants.listing import Key, Keyset, Window, window_of
from tenants.models import Order, Partner, Registration, utcnow
from tenants.registration import counters
from tenants.texts import N_

# sort key -> column; "-" in front of a key sorts descending.
SORT_COLUMNS = {
    "created_at": Registration.created_at,
    "registered_at": Registration.registered_at,
    "last_seen_at": Registration.last_seen_at,
    "serial_number": Registration.serial_number,
    "manufacturer": Registration.manufacturer,
    "model": Registration.model,
    "state": Registration.state,
    "order_id": Order.order_id,
}


@dataclass(frozen=True)
class DeviceQuery:
    state: str | None = None
    error_code: str | None = None
    serial_number: str | None = None
    order_id: str | None = None
    partner_id: uuid.UUID | None = None
    text: str | None = None
    # Registered, or last checked in, on this UTC day (the overview's bars).
    registered_on: date | None = None
    last_seen_on: date | None = None
    sort: str = "-created_at"
    # False: the devices alone, without the failed attempts (those belong to
    # their order), as the portal's device list shows them.
    include_failed: bool = True


# What the device list shows of a registration (never its hash or internal detail).
LIST_COLUMNS = (
    Registration.id,
    Registration.order_pk,
    Registration.serial_number,
    Registration.manufacturer,
    Registration.model,
    Registration.product_key_id,
    Registration.state,
    Registration.error_code,
    Registration.message,
    Registration.message_params,
    Registration.partner_id,
    Registration.group_tag,
    Registration.assigned_user,
    Registration.registered_at,
    Registration.deregistered_at,
    Registration.last_seen_at,
    Registration.last_seen_user,
    Registration.created_at,
)


def select_devices(query: DeviceQuery, now: datetime | None = None) -> Select:
    """The tenant's registrations with what the device list shows beside each:
    the order's references and the name of the partner that registered it.
    Runs in the tenant's scope, which filters Registration and Order."""
    stmt: Select = (
        select(
            *LIST_COLUMNS,
            Order.order_id.label("order_reference"),
            Order.purchase_id,
            Partner.name.label("partner_name"),
        )
        .join(Order, Order.id == Registration.order_pk)
        .outerjoin(Partner, Partner.id == Registration.partner_id)
    )
    stmt = _registration_filters(stmt, query, now)
    if query.order_id:
        stmt = stmt.where(Order.order_id == query.order_id)
    if query.text:
        pattern = (
            "%" + query.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        stmt = stmt.where(
            or_(
                *(
                    column.ilike(pattern, escape="\\")
                    for column in (
                        Registration.serial_number,
                        Registration.manufacturer,
                        Registration.model,
                        Registration.group_tag,
                        Registration.assigned_user,
                        Order.order_id,
                        Order.purchase_id,
                    )
                )
            )
        )
    return _sorted(stmt, query.sort)


def keyset(sort: str) -> Keyset:
    """The order ``sort`` names, on (sort column, id): the id makes it total,
    so pages are stable; NULLs go last."""
    column = SORT_COLUMNS[sort.lstrip("-")]
    return Keyset(
        column, Registration.id, descending=sort.startswith("-"), nullable=bool(column.nullable)
    )


def _sorted(stmt: Select, sort: str) -> Select:
    return stmt.order_by(*keyset(sort).order_by())


# The field of a page's row that holds the sort column's value.
_KEY_FIELDS = {"order_id": "order_reference"}


def key_of(row: dict, sort: str) -> Key:
    """A device-list row's key in the order ``sort`` names (the row as
    ``device_page`` reads it, before ``listed``)."""
    name = sort.lstrip("-")
    return (row[_KEY_FIELDS.get(name, name)], row["id"])


def _registration_filters(stmt: Select, query: DeviceQuery, now: datetime | None) -> Select:
    """The filters that need no other table than registrations."""
    if not query.include_failed:
        stmt = stmt.where(Registration.state != outcomes.FAILED)
    if query.state:
        stmt = stmt.where(outcomes.effective_state_is(query.state, now))
    if query.error_code:
        stmt = stmt.where(Registration.error_code == query.error_code)
    if query.serial_number:
        stmt = stmt.where(Registration.serial_number == query.serial_number)
    if query.partner_id:
        stmt = stmt.where(Registration.partner_id == query.partner_id)
    for column, day in (
        (Registration.registered_at, query.registered_on),
        (Registration.last_seen_at, query.last_seen_on),
    ):
        if day is not None:
            start = datetime.combine(day, time(), UTC)
            stmt = stmt.where(column >= start, column < start + timedelta(days=1))
    return stmt


def device_page(
    session: Session,
    query: DeviceQuery,
    *,
    limit: int,
    offset: int = 0,
    after: Key | None = None,
    now: datetime | None = None,
) -> list[dict]:
    """One page of the device list: the ``LIST_COLUMNS`` of each row, plus
    ``order_reference``, ``purchase_id`` and ``partner_name``.

    Without filters on the order, the page is read from registrations alone
    (an index walk whatever the table statistics say), and the orders and
    partners of those rows are looked up after, in one query each.

    With ``after`` (a row's ``key_of``), the page is the rows after that
    row, read from the key on: as cheap on the millionth row as on the first.
    """
    cut = keyset(query.sort).after(after) if after is not None else None
    if query.order_id or query.text or query.sort.lstrip("-") == "order_id":
        joined = select_devices(query, now)
        if cut is not None:
            joined = joined.where(cut)
        rows = session.execute(joined.limit(limit).offset(0 if cut is not None else offset))
        return [dict(row._mapping) for row in rows]
    stmt = _registration_filters(select(*LIST_COLUMNS), query, now)
    if cut is not None:
        stmt, offset = stmt.where(cut), 0
    page = [
        dict(row._mapping)
        for row in session.execute(_sorted(stmt, query.sort).limit(limit).offset(offset))
    ]
    order_refs = {
        row.id: (row.order_id, row.purchase_id)
        for row in session.execute(
            select(Order.id, Order.order_id, Order.purchase_id).where(
                Order.id.in_({r["order_pk"] for r in page})
            )
        )
    }
    partner_names = dict(
        session.execute(
            select(Partner.id, Partner.name).where(
                Partner.id.in_({r["partner_id"] for r in page if r["partner_id"]})
            )
        ).all()
    )
    for row in page:
        row["order_reference"], row["purchase_id"] = order_refs.get(row["order_pk"], (None, None))
        row["partner_name"] = partner_names.get(row["partner_id"])
    return page


def _filters_rows(query: DeviceQuery, *, but_state: bool = False) -> bool:
    """Whether ``query`` filters on the registrations' own columns (the
    state aside, with ``but_state``)."""
    return bool(
        (query.state and not but_state)
        or query.error_code
        or query.serial_number
        or query.partner_id
        or query.registered_on
        or query.last_seen_on
    )


def device_count(query: DeviceQuery, now: datetime | None = None) -> Select:
    """The number of rows ``select_devices`` lists, without its joins when no
    filter needs them (the count is over every page, so it must be cheap)."""
    if not _filters_rows(query) and not (query.order_id or query.text):
        # Every row of every order: the orders know how many rows they hold,
        # which is cheap to add up however many devices there are; failed
        # rows, when left out, are counted on their index.
        every_row = select(func.coalesce(func.sum(Order.row_count), 0)).scalar_subquery()
        if query.include_failed:
            return select(every_row)
        failed = (
            select(func.count())
            .select_from(Registration)
            .where(Registration.state == outcomes.FAILED)
            .scalar_subquery()
        )
        return select(every_row - failed)
    if query.order_id or query.text:
        listed = select_devices(query, now).order_by(None).subquery()
        return select(func.count()).select_from(listed)
    return _registration_filters(select(func.count()).select_from(Registration), query, now)


def _counted(session: Session, query: DeviceQuery) -> int | None:
    """The number of devices ``query`` lists, read from the counters when it
    filters by state at most (else None: ``device_count`` counts rows)."""
    if _filters_rows(query, but_state=True) or query.order_id or query.text:
        return None
    if query.state in (outcomes.READY, outcomes.ACTIVE, outcomes.INACTIVE):
        return counters.ready_split(session)[query.state]
    by_state: dict[str, int] = {}
    for state, _error_code, n in counters.registration_totals(session):
        by_state[state] = by_state.get(state, 0) + n
    if not query.include_failed:
        by_state.pop(outcomes.FAILED, None)
    if query.state:
        return by_state.get(query.state, 0)
    return sum(by_state.values())


def age_in_days(registered_at: datetime | None, now: datetime | None = None) -> int | None:
    if registered_at is None:
        return None
    return ((now or utcnow()) - registered_at).days


@dataclass(frozen=True)
class DeviceListing:
    """The devices ``query`` selects, in the tenant's scope."""

    session: Session
    query: DeviceQuery

    def count(self) -> int:
        counted = _counted(self.session, self.query)
        if counted is not None:
            return counted
        return self.session.scalar(device_count(self.query)) or 0

    def page(self, limit: int, offset: int) -> list[dict]:
        rows = device_page(self.session, self.query, limit=limit, offset=offset)
        return [listed(row) for row in rows]

    def window(self, limit: int, *, offset: int = 0, after: Key | None = None) -> Window[dict]:
        rows = device_page(self.session, self.query, limit=limit + 1, offset=offset, after=after)
        page = window_of(rows, limit, lambda row: key_of(row, self.query.sort))
        return Window([listed(row) for row in page.items], page.next_key)

    def batches(self, size: int) -> Iterator[list[dict]]:
        # One statement with its joins (the orders and partners of a whole
        # export are few beside its rows), read from a server-side cursor.
        stmt = select_devices(self.query).execution_options(yield_per=size)
        for batch in self.session.execute(stmt).partitions():
            yield [listed(dict(row._mapping)) for row in batch]


def matching(session: Session, query: DeviceQuery) -> DeviceListing:
    """The tenant's devices that ``query`` selects, sorted as it says."""
    return DeviceListing(session, query)


def one_device(session: Session, device_id: uuid.UUID) -> dict:
    """One device of the tenant in scope, as the list shows it (another
    tenant's is not found)."""
    stmt = select_devices(DeviceQuery()).where(Registration.id == device_id)
    row = session.execute(stmt).first()
    if row is None:
        raise NotFound(N_("There is no device with this ID."))
    return listed(dict(row._mapping))


# Who registered a device the organisation registered itself.
SELF_REGISTERED = N_("Your organisation")


def listed(row: dict) -> dict:
    """A device-list row as people read it: the state as of now and what it
    means, who registered it, its order's reference and its age."""
    state = outcomes.effective_state(row["state"], row["last_seen_at"])
    return {
        **row,
        "order": row["order_pk"],
        "state": state,
        "state_meaning": outcomes.STATE_MEANINGS[state],
        "registered_by": row["partner_name"] or SELF_REGISTERED,
        "order_id": row["order_reference"],
        "age_days": age_in_days(row["registered_at"]),
    }
