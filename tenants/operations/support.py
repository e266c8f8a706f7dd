"""What support sees: everything tied to a request ID, across tenants."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import Session

from tenants.ingest.hardware_hash import (
    digest,
    identity_key,
    normalize_identity_part,
    uuid_identity_key,
)
from tenants.listing import Key, Keyset, Window, window_of
from tenants.models import (
    AuditEvent,
    DeviceClaim,
    Order,
    Partner,
    Registration,
    Relationship,
    RequestLog,
    Tenant,
    identity_serial,
)
from tenants.registration import orders
from tenants.scoping import unscoped

_ROW_LIMIT = 200
# Failed rows a trace shows; each order's failures.csv has them all.
FAILED_ROWS_SHOWN = 50

# Request log columns support sees for each request.
_REQUEST_FIELDS = (
    "request_id",
    "client_request_id",
    "at",
    "principal_kind",
    "principal_id",
    "client_id",
    "method",
    "path",
    "status",
    "duration_ms",
    "error",
)


def request_id_forms(request_id: str) -> set[str]:
    """The stored forms a looked-up request ID may have: the service's IDs are
    lower-case hex, so a pasted upper-case copy matches; IDs recorded before
    the service generated every one are matched as typed."""
    typed = request_id.strip()
    return {typed, typed.lower()}


def trace_request(session: Session, request_id: str) -> dict | None:
    """The request(s) logged under this ID and the objects they created or
    changed, every organisation named; None when nothing carries the ID."""
    forms = request_id_forms(request_id)
    with unscoped("support: trace a request ID across tenants"):
        requests = session.scalars(
            select(RequestLog).where(RequestLog.request_id.in_(forms)).order_by(RequestLog.at)
        ).all()
        created_orders = session.scalars(
            select(Order).where(Order.request_id.in_(forms)).order_by(Order.created_at)
        ).all()
        created_pks = sorted(order.id for order in created_orders)
        counts = {pk: orders.order_counts(session, pk) for pk in created_pks}
        row_total = sum(sum(c["by_state"].values()) for c in counts.values())
        row_total += _rows_changed_elsewhere(session, forms, created_pks)
        failed_rows, more_failed = _first_failed_rows(session, forms, created_pks)
        changed_relationships = session.scalars(
            select(Relationship).where(Relationship.request_id.in_(forms))
        ).all()
        events = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.request_id.in_(forms))
            .order_by(AuditEvent.at, AuditEvent.id)
            .limit(_ROW_LIMIT)
        ).all()
        names = Names(session)
        order_bodies = [
            {
                "id": order.id,
                "tenant_id": order.tenant_id,
                "tenant_name": names.tenant(order.tenant_id),
                "partner_id": order.partner_id,
                "partner_name": names.partner(order.partner_id),
                "order_id": order.order_id,
                "status": order.status,
                "row_count": order.row_count,
                "created_at": order.created_at,
                "completed_at": order.completed_at,
                "counts": counts[order.id],
                "failures_csv_url": f"/v1/support/orders/{order.id}/failures.csv",
            }
            for order in created_orders
        ]
        request_bodies = [_request_body(names, r) for r in requests]
        relationship_bodies = [
            {
                "id": r.id,
                "partner_id": r.partner_id,
                "partner_name": r.partner.name,
                "tenant_id": r.tenant_id,
                "tenant_name": names.tenant(r.tenant_id),  # None: the ID is no tenant
                "status": r.status,
                "decided_at": r.decided_at,
            }
            for r in changed_relationships
        ]
        event_bodies = [
            {**_columns(e, _EVENT_FIELDS), "actor_name": names.label(e.actor)} for e in events
        ]
    if not (requests or created_orders or row_total or changed_relationships or events):
        return None
    return {
        "request_id": next(iter(r.request_id for r in requests), request_id.strip()),
        "requests": request_bodies,
        # A request answered 5xx failed, whatever became of the rows it touched.
        "failed": any(r.status >= 500 for r in requests),
        "orders": order_bodies,
        "registrations_touched": row_total,
        "failed_registrations": failed_rows,
        "more_failed_registrations": more_failed,
        "relationships": relationship_bodies,
        "audit_events": event_bodies,
    }


def _outside(forms: set[str], created_pks: list[uuid.UUID]) -> list[ColumnElement[bool]]:
    """Rows a request changed in orders it did not create: for each form of
    its ID, the key ranges of ``ix_registrations_updated_request`` between
    the orders it created (whose rows its counters already count)."""
    bounds = [None, *created_pks, None]
    ranges = []
    for form in sorted(forms):
        for low, high in zip(bounds, bounds[1:], strict=False):
            where = [Registration.updated_request_id == form]
            if low is not None:
                where.append(Registration.order_pk > low)
            if high is not None:
                where.append(Registration.order_pk < high)
            ranges.append(and_(*where))
    return ranges


def _rows_changed_elsewhere(session: Session, forms: set[str], created_pks: list) -> int:
    """Rows the request changed outside the orders it created (a revoke that
    failed an order's queued rows, a deregistration): rows are created with
    their order's request ID, so these are all the others it touched."""
    return sum(
        session.scalar(select(func.count()).select_from(Registration).where(where)) or 0
        for where in _outside(forms, created_pks)
    )


def _first_failed_rows(
    session: Session, forms: set[str], created_pks: list[uuid.UUID]
) -> tuple[list[Registration], bool]:
    """The first failed rows the request created or changed, by order and
    line, each read from an index in order; and whether there are more."""
    wanted = FAILED_ROWS_SHOWN + 1
    found: list[Registration] = []
    for order_pk in created_pks:
        found += session.scalars(
            select(Registration)
            .where(Registration.order_pk == order_pk, Registration.error_code.is_not(None))
            .order_by(Registration.line_index)
            .limit(wanted)
        ).all()
    for where in _outside(forms, created_pks):
        found += session.scalars(
            select(Registration)
            .where(where, Registration.error_code.is_not(None))
            .order_by(Registration.order_pk, Registration.line_index)
            .limit(wanted)
        ).all()
    unique = {row.id: row for row in found}.values()  # two forms may find a row twice
    first = sorted(unique, key=lambda row: (row.order_pk, row.line_index))
    return first[:FAILED_ROWS_SHOWN], len(first) > FAILED_ROWS_SHOWN


def requests_by_client_id(session: Session, client_request_id: str) -> list[dict]:
    """The requests whose callers sent this as their own X-Request-ID (matched
    case-insensitively), newest first: each is its own request, traced under
    its own request ID."""
    with unscoped("support: search the callers' own request IDs"):
        rows = session.scalars(
            select(RequestLog)
            .where(func.lower(RequestLog.client_request_id) == client_request_id.strip().lower())
            .order_by(RequestLog.at.desc(), RequestLog.id.desc())
            .limit(_ROW_LIMIT)
        ).all()
        names = Names(session)
        return [_request_body(names, r) for r in rows]


def _request_body(names: Names, logged: RequestLog) -> dict:
    return {
        **_columns(logged, _REQUEST_FIELDS),
        "principal_name": names.label(f"{logged.principal_kind}:{logged.principal_id}")
        if logged.principal_kind
        else None,
    }


_EVENT_FIELDS = (
    "at",
    "request_id",
    "actor",
    "action",
    "object_type",
    "object_id",
    "tenant_id",
    "detail",
)


def _columns(row, fields: tuple[str, ...]) -> dict:
    return {name: getattr(row, name) for name in fields}


class Names:
    """The names of partners and tenants, each looked up once (support reads
    names, not only IDs). Runs inside the caller's unscoped block."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._cache: dict[tuple[type, uuid.UUID], str | None] = {}

    def _name(self, model, object_id) -> str | None:
        if object_id is None:
            return None
        try:
            key = (model, object_id if isinstance(object_id, uuid.UUID) else uuid.UUID(object_id))
        except ValueError:
            return None
        if key not in self._cache:
            found = self.session.get(model, key[1])
            self._cache[key] = found.name if found else None
        return self._cache[key]

    def tenant(self, tenant_id) -> str | None:
        return self._name(Tenant, tenant_id)

    def partner(self, partner_id) -> str | None:
        return self._name(Partner, partner_id)

    def label(self, label: str) -> str | None:
        """The name behind a principal label such as ``partner:<id>``; a
        supplier is named by its ID, support by its kind."""
        kind, _, object_id = label.partition(":")
        if kind == "tenant":
            return self.tenant(object_id)
        if kind == "partner":
            return self.partner(object_id)
        if kind == "supplier":
            return object_id or None
        if kind == "support":
            return "Support"
        return None


# Registrations of a device a history page shows unless asked otherwise.
HISTORY_PAGE = 100
# A device's history, oldest first: (created_at, id), which
# ix_registrations_identity_serial_created walks for each form of the serial.
_HISTORY_ORDER = Keyset(Registration.created_at, Registration.id)
_ACROSS_TENANTS = "support: a device's registrations across tenants"


def _history_key(entry: dict) -> Key:
    return (entry["registration"].created_at, entry["registration"].id)


@dataclass(frozen=True)
class DeviceRegistrations:
    """Every registration of a device across tenants, oldest first, with its
    organisation's and partner's names and its order's reference; read a page
    at a time by key (``window``), as ``cursor_page`` does.

    ``serials`` are the stored forms of the serial number looked up (one, or
    two for an SMBIOS UUID); each is read from its index in order, and the
    pages merged, so a page costs its size however long the history."""

    session: Session
    serials: tuple[str, ...]
    # With a manufacturer: the identity keys it and the serial number make.
    keys: tuple[str, ...] | None = None

    def _of(self, serial: str, stmt: Select) -> Select:
        stmt = stmt.where(identity_serial(Registration.identity_key) == serial)
        if self.keys is not None:
            stmt = stmt.where(Registration.identity_key.in_(self.keys))
        return stmt

    def claimed(self, stmt: Select) -> Select:
        """``stmt`` over device_claims, narrowed to the devices looked up:
        who holds one now (ix_device_claims_identity_serial)."""
        stmt = stmt.where(identity_serial(DeviceClaim.identity_key).in_(self.serials))
        if self.keys is not None:
            stmt = stmt.where(DeviceClaim.identity_key.in_(self.keys))
        return stmt

    def count(self) -> int:
        with unscoped(_ACROSS_TENANTS):
            return sum(
                self.session.scalar(self._of(s, select(func.count()).select_from(Registration)))
                or 0
                for s in self.serials
            )

    def page(self, limit: int, offset: int) -> list[dict]:
        return self.window(limit, offset=offset).items

    def window(self, limit: int, *, offset: int = 0, after: Key | None = None) -> Window[dict]:
        wanted = limit + 1 + (0 if after is not None else offset)
        found: list[dict] = []
        with unscoped(_ACROSS_TENANTS):
            for serial in self.serials:
                stmt = self._of(
                    serial,
                    select(Registration, Tenant.name, Partner.name, Order.order_id)
                    .join(Order, Order.id == Registration.order_pk)
                    .join(Tenant, Tenant.id == Registration.tenant_id)
                    .outerjoin(Partner, Partner.id == Registration.partner_id),
                )
                if after is not None:
                    stmt = stmt.where(_HISTORY_ORDER.after(after))
                stmt = stmt.order_by(*_HISTORY_ORDER.order_by()).limit(wanted)
                found += [
                    {
                        "registration": reg,
                        "hash_digest": digest(reg.hardware_hash, reg.hardware_hash_length or 0)
                        if reg.hardware_hash is not None
                        else None,
                        "tenant_name": tenant_name,
                        "partner_name": partner_name,
                        "order_reference": order_reference,
                    }
                    for reg, tenant_name, partner_name, order_reference in self.session.execute(
                        stmt
                    )
                ]
        found.sort(key=_history_key)
        if after is None:
            found = found[offset:]
        return window_of(found, limit, _history_key)


def device_registrations(
    session: Session, serial_number: str, manufacturer: str | None = None
) -> DeviceRegistrations:
    """Every registration of a device across tenants, oldest first. Matches
    the serial number case- and space-insensitively; a device whose serial
    number is a firmware placeholder is known by its SMBIOS UUID, which
    support can look up in its place."""
    # The serial number part of identity keys, as stored (an index lookup).
    serials = [normalize_identity_part(serial_number)]
    keys = [identity_key(manufacturer or "", serial_number)]
    try:
        smbios_uuid = str(uuid.UUID(serial_number.strip()))
    except ValueError:
        pass
    else:
        serials.append(f"uuid:{smbios_uuid}")
        keys.append(uuid_identity_key(manufacturer or "", smbios_uuid))
    return DeviceRegistrations(session, tuple(serials), tuple(keys) if manufacturer else None)


def device_history(
    session: Session,
    serial_number: str,
    manufacturer: str | None = None,
    *,
    entries: list[dict] | None = None,
) -> dict:
    """Who owns a device now, a page of its registrations across tenants
    (``entries``, a page of ``device_registrations``; by default its first
    ``HISTORY_PAGE``), and the changes made to the registrations on it."""
    history = device_registrations(session, serial_number, manufacturer)
    if entries is None:
        entries = history.page(HISTORY_PAGE, 0)
    with unscoped("support: a device's owners across tenants"):
        claims = session.execute(
            history.claimed(
                select(
                    DeviceClaim.tenant_id,
                    DeviceClaim.registration_id,
                    Tenant.name,
                ).join(Tenant, Tenant.id == DeviceClaim.tenant_id)
            ).order_by(DeviceClaim.claimed_at, DeviceClaim.identity_key)
        ).all()
        events = session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.object_type == "device",
                AuditEvent.object_id.in_([str(e["registration"].id) for e in entries]),
            )
            .order_by(AuditEvent.at, AuditEvent.id)
        ).all()
        names = Names(session)
        event_bodies = [
            {**_columns(e, _EVENT_FIELDS), "actor_name": names.label(e.actor)} for e in events
        ]
    return {
        "serial_number": serial_number,
        "owners": [
            {"tenant_id": tenant_id, "tenant_name": name, "registration_id": registration_id}
            for tenant_id, registration_id, name in claims
        ],
        "registrations": entries,
        "events": event_bodies,
    }
