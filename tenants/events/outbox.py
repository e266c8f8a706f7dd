"""The outbox: an event is written in the transaction of the change it
describes, so none is lost and none tells of a change that rolled back.

``record`` is the one way in. It also fans the event out to the webhook
endpoints that want it (one ``WebhookDelivery`` each, in the same
transaction) and, once the transaction committed, hands the new deliveries
to whatever listens (jobs/webhooks.py enqueues them; the sweeper catches any
it missed). Who sees an event follows from its two owner columns:

- ``tenant_id``: the organisation the change touched; its customer sees
  every event on it, whichever partner acted;
- ``partner_id``: the partner that acted, or that a relationship decision is
  about; a partner sees only those. A customer's own action has none.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from config import logging as log_context
from tenants import db
from tenants.listing import Keyset, KeysetListing, StatementListing
from tenants.models import Event, WebhookDelivery, WebhookEndpoint, utcnow
from tenants.scoping import unscoped

ORDER_ACCEPTED = "order.accepted"
ORDER_COMPLETED = "order.completed"
DEVICE_DEREGISTERED = "device.deregistered"
DEVICE_ACTIVE = "device.active"
DEVICE_INACTIVE = "device.inactive"
RELATIONSHIP_REQUESTED = "relationship.requested"
RELATIONSHIP_APPROVED = "relationship.approved"
RELATIONSHIP_DECLINED = "relationship.declined"
RELATIONSHIP_REVOKED = "relationship.revoked"
WEBHOOK_ENDPOINT_DISABLED = "webhook_endpoint.disabled"
# Sent to one endpoint on request, to test it; not in the feeds.
PING = "ping"

TYPES = (
    ORDER_ACCEPTED,
    ORDER_COMPLETED,
    DEVICE_DEREGISTERED,
    DEVICE_ACTIVE,
    DEVICE_INACTIVE,
    RELATIONSHIP_REQUESTED,
    RELATIONSHIP_APPROVED,
    RELATIONSHIP_DECLINED,
    RELATIONSHIP_REVOKED,
    WEBHOOK_ENDPOINT_DISABLED,
)

# Called after COMMIT with the IDs of the deliveries the transaction created.
_listeners: list[Callable[[list[uuid.UUID]], None]] = []


def on_new_deliveries(listener: Callable[[list[uuid.UUID]], None]) -> None:
    """Be told of every committed delivery (jobs/webhooks.py enqueues them)."""
    if listener not in _listeners:
        _listeners.append(listener)


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(16)


def record(
    session: Session,
    type: str,  # noqa: A002 (the event's field name)
    *,
    tenant_id: uuid.UUID | None,
    partner_id: uuid.UUID | None,
    data: dict,
    event_id: str | None = None,
) -> Event:
    """Write an event in the session's transaction and its deliveries to
    every enabled endpoint that wants it; the caller commits. ``event_id``:
    an ID the change itself determines (so it is written once), else a new one."""
    event = Event(
        id=event_id or new_event_id(),
        type=type,
        tenant_id=tenant_id,
        partner_id=partner_id,
        created_at=utcnow(),
        request_id=log_context.context().get("request_id"),
        data=_json_safe(data),
    )
    session.add(event)
    session.flush()  # (checked against the scope like any tenant-owned row)
    with unscoped("events: a change on a tenant reaches the endpoints of each owner"):
        endpoints = [e for e in _subscribed(session, event) if wants(e, event.type)]
        deliver_to(session, event, endpoints)
    return event


def deliver_to(
    session: Session, event: Event, endpoints: list[WebhookEndpoint]
) -> list[WebhookDelivery]:
    """One delivery of ``event`` to each endpoint, handed out after COMMIT."""
    deliveries = [
        WebhookDelivery(
            id=uuid.uuid4(),
            tenant_id=endpoint.tenant_id,
            partner_id=endpoint.partner_id,
            endpoint_id=endpoint.id,
            event_id=event.id,
            event=event,
            status="pending",
            attempt_count=0,
            next_attempt_at=event.created_at,
            created_at=event.created_at,
        )
        for endpoint in endpoints
    ]
    if not deliveries:
        return []
    with unscoped("events: a delivery belongs to its endpoint's owner"):
        session.add_all(deliveries)
        session.flush()
    ids = [d.id for d in deliveries]
    db.after_commit(session, lambda: _tell(ids))
    return deliveries


def _tell(ids: list[uuid.UUID]) -> None:
    for listener in _listeners:
        listener(ids)


def _subscribed(session: Session, event: Event) -> list[WebhookEndpoint]:
    owners = []
    if event.tenant_id is not None:
        owners.append(
            (WebhookEndpoint.tenant_id == event.tenant_id) & WebhookEndpoint.partner_id.is_(None)
        )
    if event.partner_id is not None:
        owners.append(
            (WebhookEndpoint.partner_id == event.partner_id) & WebhookEndpoint.tenant_id.is_(None)
        )
    if not owners:
        return []
    return list(
        session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.enabled.is_(True), or_(*owners))
            .order_by(WebhookEndpoint.id)
        )
    )


def wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return not endpoint.event_types or event_type in endpoint.event_types


def _json_safe(data: dict) -> dict:
    """The data as JSON gives it back (UUIDs and times as strings), so the
    feed and every delivery show the same values."""
    return json.loads(json.dumps(data, default=_encode))


def _encode(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def as_json(event: Event) -> dict:
    """The event as the feeds answer it and deliveries send it (SPEC section 11)."""
    return {
        "id": event.id,
        "type": event.type,
        "created_at": event.created_at.isoformat(),
        "request_id": event.request_id,
        "tenant_id": str(event.tenant_id) if event.tenant_id else None,
        "partner_id": str(event.partner_id) if event.partner_id else None,
        "data": event.data,
    }


# --- the feeds -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedFilter:
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    # Support's filters.
    tenant_id: uuid.UUID | None = None
    partner_id: uuid.UUID | None = None
    request_id: str | None = None


def feed(session: Session, filters: FeedFilter) -> KeysetListing[Event]:
    """The events in scope (a tenant's, a partner's, or any for support),
    newest first, read by key on (created_at, id)."""
    stmt = select(Event).where(Event.type != PING)
    if filters.type is not None:
        stmt = stmt.where(Event.type == filters.type)
    if filters.since is not None:
        stmt = stmt.where(Event.created_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(Event.created_at < filters.until)
    if filters.tenant_id is not None:
        stmt = stmt.where(Event.tenant_id == filters.tenant_id)
    if filters.partner_id is not None:
        stmt = stmt.where(Event.partner_id == filters.partner_id)
    if filters.request_id is not None:
        stmt = stmt.where(Event.request_id == filters.request_id)
    return StatementListing(
        session,
        stmt,
        Keyset(Event.created_at, Event.id, descending=True),
        key_of=lambda event: (event.created_at, event.id),
    )
