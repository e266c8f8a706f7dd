"""Webhook endpoints: a partner's or a customer's own, managed in its scope
(another organisation's endpoint is not found).

The signing secret is ``whsec_`` + base64 of 32 random bytes, shown once when
it is made. A rotation keeps the previous secret signing beside the new one
for ``ROTATION_OVERLAP``, so receivers can switch without losing a delivery.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from tenants.errors import Conflict, InputError, NotFound
from tenants.events import addresses, outbox
from tenants.listing import Keyset, KeysetListing, StatementListing
from tenants.models import Event, WebhookDelivery, WebhookEndpoint, utcnow
from tenants.scoping import Scope

ROTATION_OVERLAP = timedelta(hours=24)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _check_types(event_types: list[str] | None) -> list[str]:
    """The types to send, sorted; empty sends every type."""
    if not event_types:
        return []
    unknown = sorted(set(event_types) - set(outbox.TYPES))
    if unknown:
        raise InputError(
            f"Unknown event type {unknown[0]!r}; the types are: {', '.join(outbox.TYPES)}. "
            "Leave event_types out (or empty) to receive every type.",
            field="event_types",
        )
    return sorted(set(event_types))


def create(
    session: Session,
    owner: Scope,
    *,
    url: str,
    event_types: list[str] | None,
    description: str | None,
    allow_private: bool,
) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(
        id=uuid.uuid4(),
        tenant_id=owner.tenant_id,
        partner_id=owner.partner_id,
        url=addresses.check_url(url, allow_private=allow_private),
        event_types=_check_types(event_types),
        description=description,
        enabled=True,
        secret=new_secret(),
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def get(session: Session, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound("There is no webhook endpoint with this ID.")
    return endpoint


def in_order_created(session: Session) -> list[WebhookEndpoint]:
    """The endpoints in scope (a handful per organisation), the first made first."""
    return list(
        session.scalars(
            select(WebhookEndpoint).order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        )
    )


def change(
    session: Session, endpoint_id: uuid.UUID, changes: dict, *, allow_private: bool
) -> WebhookEndpoint:
    """Change ``url``, ``event_types``, ``description`` or ``enabled``.
    Enabling a disabled endpoint starts its failure clock again."""
    endpoint = get(session, endpoint_id)
    if "url" in changes:
        endpoint.url = addresses.check_url(changes["url"], allow_private=allow_private)
    if "event_types" in changes:
        endpoint.event_types = _check_types(changes["event_types"])
    if "description" in changes:
        endpoint.description = changes["description"]
    if "enabled" in changes and changes["enabled"] != endpoint.enabled:
        endpoint.enabled = changes["enabled"]
        endpoint.disabled_at = None if endpoint.enabled else utcnow()
        endpoint.failing_since = None
    session.flush()
    return endpoint


def delete(session: Session, endpoint_id: uuid.UUID) -> None:
    session.delete(get(session, endpoint_id))
    session.flush()


def rotate_secret(session: Session, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    """A new secret; the current one keeps signing beside it for ``ROTATION_OVERLAP``."""
    endpoint = get(session, endpoint_id)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = utcnow() + ROTATION_OVERLAP
    endpoint.secret = new_secret()
    session.flush()
    return endpoint


def signing_secrets(endpoint: WebhookEndpoint) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the
    previous one while its overlap lasts."""
    found = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > utcnow():
        found.append(endpoint.previous_secret)
    return found


def ping(session: Session, endpoint_id: uuid.UUID) -> WebhookDelivery:
    """Send a ``ping`` event to this endpoint alone (whatever types it takes)."""
    endpoint = get(session, endpoint_id)
    if not endpoint.enabled:
        raise Conflict(
            "This endpoint is disabled; enable it (PATCH enabled=true) before pinging it.",
            code="webhook_endpoint_disabled",
        )
    event = Event(
        id=outbox.new_event_id(),
        type=outbox.PING,
        tenant_id=endpoint.tenant_id,
        partner_id=endpoint.partner_id,
        created_at=utcnow(),
        request_id=None,
        data={"webhook_endpoint_id": str(endpoint.id)},
    )
    session.add(event)
    session.flush()
    return outbox.deliver_to(session, event, [endpoint])[0]


def deliveries(session: Session, endpoint_id: uuid.UUID) -> KeysetListing[WebhookDelivery]:
    """The endpoint's deliveries, newest first, read by key on (created_at, id)."""
    get(session, endpoint_id)
    return StatementListing(
        session,
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .options(joinedload(WebhookDelivery.event)),
        Keyset(WebhookDelivery.created_at, WebhookDelivery.id, descending=True),
        key_of=lambda delivery: (delivery.created_at, delivery.id),
    )


def redeliver(session: Session, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDelivery:
    """Send a delivery's event again, as a new delivery with the same ``webhook-id``."""
    endpoint = get(session, endpoint_id)
    earlier = session.get(WebhookDelivery, delivery_id)
    if earlier is None or earlier.endpoint_id != endpoint.id:
        raise NotFound("This endpoint has no delivery with this ID.")
    if not endpoint.enabled:
        raise Conflict(
            "This endpoint is disabled; enable it (PATCH enabled=true) before redelivering.",
            code="webhook_endpoint_disabled",
        )
    event = session.get(Event, earlier.event_id)
    if event is None:  # (a foreign key keeps it)
        raise NotFound("This delivery's event is gone.")
    return outbox.deliver_to(session, event, [endpoint])[0]
