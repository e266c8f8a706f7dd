"""The partner API: relationships with customers, orders and their outcomes."""

from __future__ import annotations

import uuid

from flask import current_app

from partner_api.auth.principals import require_principal
from partner_api.blueprint import ApiBlueprint
from partner_api.events.routes import add_event_routes
from partner_api.orders.routes import add_order_reads, takes_order
from partner_api.orders.submission import submit
from partner_api.partner.schemas import PartnerRelationshipSchema
from partner_api.request_context import current_request_id, request_session
from tenants.access import relationships

blp = ApiBlueprint(
    "partner",
    __name__,
    url_prefix="/v1/partner",
    description="For resellers and OEMs: customers, orders, outcomes.",
)


@blp.route("/customers")
@blp.auth("partner", "partner:read")
@blp.response(200, PartnerRelationshipSchema(many=True))
def list_customers():
    """Your relationships with customer tenants."""
    return relationships.in_order_requested(request_session())


@blp.route("/customers/<uuid:tenant_id>/relationship-requests", methods=["POST"])
@blp.auth("partner", "partner:write")
@blp.response(201, PartnerRelationshipSchema)
def request_relationship(tenant_id: uuid.UUID):
    """Ask a customer tenant for a relationship; the customer approves or declines it.

    The answer is the same for any tenant ID (asking again answers the same
    request), and names the customer only once it approved. After a decline
    or a revoke you may ask again once ``RELATIONSHIP_ASK_AGAIN_HOURS`` have
    passed (429 ``relationship_request_too_soon`` with ``Retry-After`` before).
    """
    session = request_session()
    relationship = relationships.request_relationship(
        session,
        uuid.UUID(require_principal().own_id()),
        tenant_id,
        current_request_id(),
        ask_again_after=current_app.extensions["partner_api.settings"].relationship_ask_again_after,
    )
    session.commit()
    return relationship


@blp.route("/customers/<uuid:tenant_id>/orders", methods=["POST"])
@blp.auth("partner", "partner:write")
@takes_order(blp)
def submit_order(query: dict, body: dict, tenant_id: uuid.UUID, idempotency_key: str | None = None):
    """Submit an order of devices to register for a customer.

    Needs an active relationship with the customer (else 403
    ``relationship_required``). Answers 202 before any row is processed;
    poll the ``Location``.
    """
    return submit(
        tenant_id=tenant_id,
        partner_id=uuid.UUID(require_principal().own_id()),
        body=body,
        dry_run=query["dry_run"],
        idempotency_key=idempotency_key,
        location_endpoint="partner.get_order",
    )


# GET /orders, /orders/<id>, /orders/<id>/failures.csv, /orders/<id>/registrations
add_order_reads(
    blp,
    kind="partner",
    scope="partner:read",
    list_summary="The orders you submitted, newest first.",
)


# GET /events; /webhooks and their deliveries
add_event_routes(
    blp,
    kind="partner",
    read_scope="partner:read",
    write_scope="partner:write",
    whose="Your events: what you did, and customers' decisions on your relationships",
)
