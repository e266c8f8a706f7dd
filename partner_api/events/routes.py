"""The routes partner and customer share for events, written once.

``add_event_routes`` routes, on an audience's blueprint, the organisation's
event feed and its webhook endpoints (create, list, read, change, delete,
rotate the secret, ping, the delivery log, redeliver). The audience's data
scope decides whose they are: a partner's own, or a customer's.
"""

from __future__ import annotations

import uuid

from flask import current_app
from sqlalchemy.orm import Session

from partner_api.auth.principals import require_principal
from partner_api.blueprint import ApiBlueprint
from partner_api.events.schemas import (
    EventFilterSchema,
    EventSchema,
    WebhookDeliverySchema,
    WebhookEndpointChangeSchema,
    WebhookEndpointCreateSchema,
    WebhookEndpointSchema,
    WebhookEndpointWithSecretSchema,
)
from partner_api.pagination import cursor_page
from partner_api.request_context import request_session
from tenants.events import delivery, endpoints, outbox
from tenants.models import WebhookDelivery
from tenants.scoping import Scope


def _allow_private() -> bool:
    return current_app.extensions["partner_api.settings"].webhook_allow_private


def feed_filter(filters: dict) -> outbox.FeedFilter:
    return outbox.FeedFilter(**filters)


def delivery_bodies(session: Session, deliveries: list[WebhookDelivery]) -> list[dict]:
    """Deliveries as the delivery log shows them, each with its attempts."""
    attempts = delivery.attempts_of(session, [d.id for d in deliveries])
    return [
        {
            "id": d.id,
            "event_id": d.event_id,
            "event": d.event,
            "status": d.status,
            "attempt_count": d.attempt_count,
            "next_attempt_at": d.next_attempt_at,
            "created_at": d.created_at,
            "completed_at": d.completed_at,
            "attempts": attempts[d.id],
        }
        for d in deliveries
    ]


def add_event_routes(
    blp: ApiBlueprint, *, kind: str, read_scope: str, write_scope: str, whose: str
) -> None:
    """Route the feed and the webhook endpoints on ``blp`` for principals of
    ``kind``; ``whose`` says which events the feed holds."""

    def owner() -> Scope:
        own = uuid.UUID(require_principal().own_id())
        return Scope.partner(own) if kind == "partner" else Scope.tenant(own)

    @blp.route("/events")
    @blp.auth(kind, read_scope)
    @blp.arguments(EventFilterSchema, location="query")
    @blp.response(200, EventSchema(many=True))
    @blp.cursor_paginate()
    def list_events(filters: dict, pagination_parameters):
        listing = outbox.feed(request_session(), feed_filter(filters))
        return cursor_page(listing, pagination_parameters, list_name="events", bound_to=filters)

    list_events.__doc__ = f"""{whose}, newest first.

    Filter by ``type``, ``since`` and ``until``; each event's ``request_id``
    is the request behind the change (support traces it)."""

    @blp.route("/webhooks", methods=["POST"])
    @blp.auth(kind, write_scope)
    @blp.arguments(WebhookEndpointCreateSchema)
    @blp.response(201, WebhookEndpointWithSecretSchema)
    @blp.problem(422)
    def create_webhook(body: dict):
        """Add an endpoint to send your events to. The answer carries its
        signing ``secret``, shown this once.

        The URL must be https on a host whose addresses are all public."""
        session = request_session()
        endpoint = endpoints.create(
            session,
            owner(),
            url=body["url"],
            event_types=body.get("event_types"),
            description=body.get("description"),
            allow_private=_allow_private(),
        )
        session.commit()
        return endpoint

    @blp.route("/webhooks")
    @blp.auth(kind, read_scope)
    @blp.response(200, WebhookEndpointSchema(many=True))
    def list_webhooks():
        """Your webhook endpoints, the first made first."""
        return endpoints.in_order_created(request_session())

    @blp.route("/webhooks/<uuid:webhook_id>")
    @blp.auth(kind, read_scope)
    @blp.response(200, WebhookEndpointSchema)
    def get_webhook(webhook_id: uuid.UUID):
        """One webhook endpoint (never its secret)."""
        return endpoints.get(request_session(), webhook_id)

    @blp.route("/webhooks/<uuid:webhook_id>", methods=["PATCH"])
    @blp.auth(kind, write_scope)
    @blp.arguments(WebhookEndpointChangeSchema)
    @blp.response(200, WebhookEndpointSchema)
    @blp.problem(422)
    def change_webhook(body: dict, webhook_id: uuid.UUID):
        """Change the endpoint's ``url``, ``event_types``, ``description``, or
        ``enabled`` (enable one that was disabled after failing)."""
        session = request_session()
        endpoint = endpoints.change(session, webhook_id, body, allow_private=_allow_private())
        session.commit()
        return endpoint

    @blp.route("/webhooks/<uuid:webhook_id>", methods=["DELETE"])
    @blp.auth(kind, write_scope)
    @blp.response(204)
    def delete_webhook(webhook_id: uuid.UUID):
        """Remove the endpoint and its delivery log; nothing more is sent to it."""
        session = request_session()
        endpoints.delete(session, webhook_id)
        session.commit()

    @blp.route("/webhooks/<uuid:webhook_id>/rotate-secret", methods=["POST"])
    @blp.auth(kind, write_scope)
    @blp.response(200, WebhookEndpointWithSecretSchema)
    def rotate_webhook_secret(webhook_id: uuid.UUID):
        """A new signing secret, shown this once. For 24 hours deliveries carry
        two signatures, one with each secret, so you can switch without a gap."""
        session = request_session()
        endpoint = endpoints.rotate_secret(session, webhook_id)
        session.commit()
        return endpoint

    @blp.route("/webhooks/<uuid:webhook_id>/ping", methods=["POST"])
    @blp.auth(kind, write_scope)
    @blp.response(202, WebhookDeliverySchema)
    @blp.problem(409)
    def ping_webhook(webhook_id: uuid.UUID):
        """Send a ``ping`` event to this endpoint; follow it in the delivery log."""
        session = request_session()
        sent = endpoints.ping(session, webhook_id)
        session.commit()
        return delivery_bodies(session, [sent])[0]

    @blp.route("/webhooks/<uuid:webhook_id>/deliveries")
    @blp.auth(kind, read_scope)
    @blp.response(200, WebhookDeliverySchema(many=True))
    @blp.cursor_paginate()
    def list_webhook_deliveries(webhook_id: uuid.UUID, pagination_parameters):
        """The endpoint's deliveries, newest first, each with every attempt:
        its status code, duration and error."""
        session = request_session()
        page = cursor_page(
            endpoints.deliveries(session, webhook_id),
            pagination_parameters,
            list_name="webhook-deliveries",
            bound_to={"webhook_id": webhook_id},
        )
        return delivery_bodies(session, page)

    @blp.route(
        "/webhooks/<uuid:webhook_id>/deliveries/<uuid:delivery_id>/redeliver", methods=["POST"]
    )
    @blp.auth(kind, write_scope)
    @blp.response(202, WebhookDeliverySchema)
    @blp.problem(409)
    def redeliver_webhook(webhook_id: uuid.UUID, delivery_id: uuid.UUID):
        """Send the delivery's event again, as a new delivery with the same ``webhook-id``."""
        session = request_session()
        sent = endpoints.redeliver(session, webhook_id, delivery_id)
        session.commit()
        return delivery_bodies(session, [sent])[0]
