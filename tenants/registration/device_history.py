"""One device as its owner reads it: every field, and what happened to it
while the organisation in scope held it or tried to (a partner: the rows it
submitted for it).

The history is the organisation's own rows for the same physical device
(the same decoded identity): each order that tried to register it and the
outcome, and the changes recorded on those rows (check-ins,
deregistrations: who, when, under which request ID). The scope keeps it to
the organisation's own period: another organisation's registration of the
device, before or after, is not its history (support reads that, across
organisations, in tenants/operations/support.py).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenants import outcomes
from tenants.access import organisations
from tenants.errors import NotFound
from tenants.ingest.hardware_hash import digest
from tenants.models import AuditEvent, Order, Partner, Registration, RequestLog
from tenants.operations.support import Names
from tenants.registration import device_list
from tenants.scoping import current_scope

# The changes a history shows, newest kept (a device checking in daily for
# years has thousands; the last check-in is on the device itself).
EVENTS_SHOWN = 500


def hash_digest(registration: Registration) -> str | None:
    """SHA-256 of the device's hardware hash as submitted (hex): tells two
    captures apart without showing the hash itself."""
    if registration.hardware_hash is None:
        return None
    return digest(registration.hardware_hash, registration.hardware_hash_length or 0)


def device_page(session: Session, device_id: uuid.UUID, *, with_history: bool = True) -> dict:
    """The device (a registration in scope: a tenant's device, or a row a
    partner submitted) as the device list shows it, plus the customer's
    name, its hash digest and (``with_history``) its ``history``, oldest
    first."""
    scope = current_scope()
    if scope is None:
        raise RuntimeError("a device page is read in a tenant's or a partner's scope")
    device = device_list.one_device(session, device_id)  # out of scope: not found
    registration = session.get(Registration, device_id)
    if registration is None:  # gone between the two reads
        raise NotFound("There is no device with this ID.")
    customer = organisations.tenant_names(session, {registration.tenant_id})
    return {
        **device,
        "tenant_id": registration.tenant_id,
        "customer": customer.get(registration.tenant_id),
        "hash_digest": hash_digest(registration),
        "history": history(session, registration, scope.tenant_id) if with_history else None,
    }


def history(
    session: Session, registration: Registration, tenant_id: uuid.UUID | None
) -> list[dict]:
    """What happened to the device in scope, oldest first: each attempt to
    register it (its order, who sent it, the outcome) and its registration;
    for its tenant (``tenant_id``) also each recorded change of those rows
    (check-ins, deregistrations: who, and under which request ID). A
    partner reads its own attempts and when a device it registered was
    deregistered, not the customer's changes."""
    same_device = (
        Registration.identity_key == registration.identity_key
        if registration.identity_key is not None
        else Registration.id == registration.id
    )
    attempts = session.execute(
        select(Registration, Order.order_id, Partner.name)
        .join(Order, Order.id == Registration.order_pk)
        .outerjoin(Partner, Partner.id == Registration.partner_id)
        .where(same_device)
        .order_by(Registration.created_at, Registration.id)
    ).all()
    entries = []
    for attempt, order_reference, partner_name in attempts:
        base = {
            "device_id": attempt.id,
            "order": attempt.order_pk,
            "order_id": order_reference,
            "registered_by": partner_name or device_list.SELF_REGISTERED,
        }
        entries.append(
            {
                **base,
                "event": "submitted",
                "at": attempt.created_at,
                "request_id": attempt.request_id,
                "state": outcomes.effective_state(attempt.state, attempt.last_seen_at),
                "error_code": attempt.error_code,
                "message": attempt.message,
                "message_params": attempt.message_params,
            }
        )
        if attempt.registered_at is not None:
            entries.append({**base, "event": "registered", "at": attempt.registered_at})
        if tenant_id is None and attempt.deregistered_at is not None:
            entries.append({**base, "event": "deregistered", "at": attempt.deregistered_at})
    if tenant_id is not None:
        entries += _changes(session, {str(a.id): a for a, *_ in attempts}, tenant_id)
    return sorted(entries, key=lambda e: (e["at"], _ORDER_OF_EVENTS.get(e["event"], 9)))


def _changes(session: Session, ids: dict[str, Registration], tenant_id: uuid.UUID) -> list[dict]:
    """The tenant's recorded changes of these rows (by id), the newest
    ``EVENTS_SHOWN``."""
    events = session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.object_type == "device",
            AuditEvent.object_id.in_(ids),
            AuditEvent.tenant_id == tenant_id,
        )
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(EVENTS_SHOWN)
    ).all()
    clients = _clients(session, {e.request_id for e in events if e.request_id}, tenant_id)
    names = Names(session)
    changes = []
    for event in events:
        attempt = ids[event.object_id]
        detail = event.detail or {}
        changes.append(
            {
                "device_id": attempt.id,
                "order": attempt.order_pk,
                "event": event.action.removeprefix("device."),
                "at": event.at,
                "request_id": event.request_id,
                "actor": names.label(event.actor) or event.actor,
                "client_id": clients.get(event.request_id) if event.request_id else None,
                "user": detail.get("user"),
            }
        )
    return changes


# Within one moment: submitted, then registered, then what followed.
_ORDER_OF_EVENTS = {"submitted": 0, "registered": 1}


def _clients(session: Session, request_ids: set[str], tenant_id: uuid.UUID) -> dict[str, str]:
    """The client (an API client ID, or ``portal:<email>``) that sent each
    of these requests of the tenant."""
    if not request_ids:
        return {}
    rows = session.execute(
        select(RequestLog.request_id, RequestLog.client_id).where(
            RequestLog.request_id.in_(request_ids),
            RequestLog.principal_kind == "tenant",
            RequestLog.principal_id == str(tenant_id),
        )
    )
    return {request_id: client_id for request_id, client_id in rows if client_id}
