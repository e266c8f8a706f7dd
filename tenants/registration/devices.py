"""A tenant's devices: registered rows, their effective state, check-ins.

``active``/``inactive`` are never stored: they are computed at read time from
the last check-in, so they are always exact.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, case, func, literal, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from tenants import audit, db, outcomes
from tenants.errors import Conflict, InputError, NotFound
from tenants.models import Order, Partner, Registration, utcnow
from tenants.registration import ownership

ACTIVE_WINDOW = timedelta(days=7)
# How far ahead of our clock a reported check-in time may be.
CLOCK_SKEW = timedelta(minutes=5)


def effective_state(state: str, last_seen_at: datetime | None, now: datetime | None = None) -> str:
    if state != outcomes.READY or last_seen_at is None:
        return state
    now = now or utcnow()
    return outcomes.ACTIVE if now - last_seen_at <= ACTIVE_WINDOW else outcomes.INACTIVE


def effective_state_sql(now: datetime | None = None) -> ColumnElement[str]:
    """The same rule as effective_state, as a SQL expression for filters and counts."""
    cutoff = (now or utcnow()) - ACTIVE_WINDOW
    return case(
        (
            (Registration.state == outcomes.READY) & Registration.last_seen_at.is_not(None),
            case(
                (Registration.last_seen_at >= cutoff, literal(outcomes.ACTIVE)),
                else_=literal(outcomes.INACTIVE),
            ),
        ),
        else_=Registration.state,
    )


def get_device(session: Session, device_id: uuid.UUID) -> Registration:
    """One registration of the tenant in scope (another tenant's is not found)."""
    device = session.get(Registration, device_id)
    if device is None:
        raise NotFound("There is no device with this ID.")
    return device


def _require_registered(device: Registration, doing: str) -> None:
    if device.registered_at is None:
        raise Conflict(
            f"This row was never registered ({device.state}), so it cannot be {doing}.",
            code="device_not_registered",
        )


def deregister(session: Session, device_id: uuid.UUID, request_id: str) -> Registration:
    """Release the device: its claim goes, so another tenant may register it
    later (resale, repair); the row stays, ``deregistered``, as history.

    One conditional UPDATE from the registered state decides: of several
    deregistrations sent at once exactly one changes the row, releases the
    claim and records the event; the others answer the device as it now is.
    """
    device = get_device(session, device_id)
    _require_registered(device, "deregistered")
    now = utcnow()
    updated = session.execute(
        update(Registration)
        .where(Registration.id == device.id, Registration.state == outcomes.READY)
        .values(
            state=outcomes.DEREGISTERED,
            deregistered_at=now,
            updated_request_id=request_id,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    changed = db.affected_rows(updated)
    session.refresh(device)
    if not changed:
        return device
    ownership.release(session, device.id)
    audit.record(
        session,
        "device.deregistered",
        object_type="device",
        object_id=device.id,
        tenant_id=device.tenant_id,
        detail={"serial_number": device.serial_number, "manufacturer": device.manufacturer},
    )
    return device


def check_in(
    session: Session,
    device_id: uuid.UUID,
    *,
    seen_at: datetime | None,
    user: str | None,
    request_id: str,
) -> Registration:
    """The device reported in from the tenant's device management."""
    device = get_device(session, device_id)
    _require_registered(device, "checked in")
    if device.state != outcomes.READY:
        raise Conflict(
            "This device is deregistered; a check-in needs a registered device. Register it "
            "again first.",
            code="device_deregistered",
        )
    now = utcnow()
    seen_at = seen_at or now
    if seen_at.tzinfo is None:
        seen_at = seen_at.replace(tzinfo=UTC)
    if seen_at > now + CLOCK_SKEW:
        raise InputError(
            "seen_at is in the future; send the time the device reported in (UTC).",
            field="seen_at",
        )
    # Check-ins may arrive out of order: keep the latest.
    if device.last_seen_at is None or seen_at > device.last_seen_at:
        device.last_seen_at = seen_at
        device.last_seen_user = user or device.last_seen_user
    device.updated_request_id = request_id
    audit.record(
        session,
        "device.checked_in",
        object_type="device",
        object_id=device.id,
        tenant_id=device.tenant_id,
        detail={"seen_at": seen_at.isoformat(), "user": user},
    )
    return device


STATE_MEANINGS = {
    outcomes.PENDING: "Accepted; registration has not been processed yet.",
    outcomes.FAILED: "Could not be registered; the message says why and what to do.",
    outcomes.READY: "Registered to your organisation and waiting for its user.",
    outcomes.ACTIVE: "Delivered and in use: it checked in within the last 7 days.",
    outcomes.INACTIVE: "Delivered, but it has not checked in for more than 7 days.",
    outcomes.DEREGISTERED: "Released by your organisation; kept here as history.",
}

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
    Registration.partner_id,
    Registration.group_tag,
    Registration.assigned_user,
    Registration.registered_at,
    Registration.deregistered_at,
    Registration.last_seen_at,
    Registration.last_seen_user,
)


def device_rows(query: DeviceQuery, now: datetime | None = None) -> Select:
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


def _sorted(stmt: Select, sort: str) -> Select:
    descending = sort.startswith("-")
    column = SORT_COLUMNS[sort.lstrip("-")]
    ordered = column.desc() if descending else column.asc()
    tiebreak = Registration.id.desc() if descending else Registration.id.asc()
    # The id makes the order total, so pages are stable; NULLs go last.
    if column.nullable:
        return stmt.order_by(column.is_(None), ordered, tiebreak)
    return stmt.order_by(ordered, tiebreak)


def _registration_filters(stmt: Select, query: DeviceQuery, now: datetime | None) -> Select:
    """The filters that need no other table than registrations."""
    if not query.include_failed:
        stmt = stmt.where(Registration.state != outcomes.FAILED)
    if query.state:
        stmt = stmt.where(effective_state_sql(now) == query.state)
    if query.error_code:
        stmt = stmt.where(Registration.error_code == query.error_code)
    if query.serial_number:
        stmt = stmt.where(Registration.serial_number == query.serial_number)
    if query.partner_id:
        stmt = stmt.where(Registration.partner_id == query.partner_id)
    return stmt


def device_page(
    session: Session, query: DeviceQuery, *, limit: int, offset: int, now: datetime | None = None
) -> list[dict]:
    """One page of the device list: the ``LIST_COLUMNS`` of each row, plus
    ``order_reference``, ``purchase_id`` and ``partner_name``.

    Without filters on the order, the page is read from registrations alone
    (an index walk whatever the table statistics say), and the orders and
    partners of those rows are looked up after, in one query each.
    """
    if query.order_id or query.text or query.sort.lstrip("-") == "order_id":
        rows = session.execute(device_rows(query, now).limit(limit).offset(offset))
        return [dict(row._mapping) for row in rows]
    stmt = _registration_filters(select(*LIST_COLUMNS), query, now)
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


def device_count(query: DeviceQuery, now: datetime | None = None) -> Select:
    """The number of rows ``device_rows`` lists, without its joins when no
    filter needs them (the count is over every page, so it must be cheap)."""
    if not (query.state or query.error_code or query.serial_number or query.partner_id) and not (
        query.order_id or query.text
    ):
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
        return select(func.count()).select_from(device_rows(query, now).order_by(None).subquery())
    return _registration_filters(select(func.count()).select_from(Registration), query, now)


def age_in_days(registered_at: datetime | None, now: datetime | None = None) -> int | None:
    if registered_at is None:
        return None
    return ((now or utcnow()) - registered_at).days
