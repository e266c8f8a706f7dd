"""The partner API: relationships with customers, orders and their outcomes."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from partner_api import views
from partner_api.auth.principals import require_principal
from partner_api.blueprint import ApiBlueprint
from partner_api.request_context import current_request_id, request_session
from partner_api.schemas import (
    DryRunQuerySchema,
    DryRunSchema,
    IdempotencyKeyHeaderSchema,
    OrderCreateSchema,
    OrderFormSchema,
    OrderSchema,
    PartnerRelationshipSchema,
    RegistrationFilterSchema,
    RegistrationSchema,
)
from tenants.access import relationships
from tenants.models import Order, Registration, Relationship
from tenants.registration import orders

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
    session = request_session()
    return session.scalars(select(Relationship).order_by(Relationship.requested_at)).all()


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
        ask_again_after=views.settings().relationship_ask_again_after,
    )
    session.commit()
    return relationship


@blp.route("/customers/<uuid:tenant_id>/orders", methods=["POST"])
@blp.auth("partner", "partner:write")
@blp.arguments(DryRunQuerySchema, location="query")
@blp.device_body(OrderCreateSchema, OrderFormSchema)
@blp.arguments(IdempotencyKeyHeaderSchema, location="headers", as_kwargs=True)
@blp.response(202, OrderSchema, headers=views.ORDER_ACCEPTED_HEADERS)
@blp.alt_response(200, schema=DryRunSchema, description="Dry run: each row's verdict.")
def submit_order(query: dict, body: dict, tenant_id: uuid.UUID, idempotency_key: str | None = None):
    """Submit an order of devices to register for a customer.

    Needs an active relationship with the customer (else 403
    ``relationship_required``). Answers 202 before any row is processed;
    poll the ``Location``.
    """
    return views.submit(
        tenant_id=tenant_id,
        partner_id=uuid.UUID(require_principal().own_id()),
        body=body,
        dry_run=query["dry_run"],
        idempotency_key=idempotency_key,
        location_endpoint="partner.get_order",
    )


@blp.route("/orders")
@blp.auth("partner", "partner:read")
@blp.response(200, OrderSchema(many=True))
@blp.paginate()
def list_orders(pagination_parameters):
    """The orders you submitted, newest first."""
    session = request_session()
    stmt = select(Order).order_by(Order.created_at.desc(), Order.id)
    page = views.paginate(session, stmt, pagination_parameters)
    return [views.order_body(session, order) for order in page]


@blp.route("/orders/<uuid:order_id>")
@blp.auth("partner", "partner:read")
@blp.response(200, OrderSchema)
def get_order(order_id: uuid.UUID):
    """One order: status and counts by state and error code."""
    session = request_session()
    return views.order_body(session, orders.get_order(session, order_id))


@blp.route("/orders/<uuid:order_id>/failures.csv")
@blp.auth("partner", "partner:read")
@blp.doc(**views.FAILURES_CSV_DOC)
def download_failures(order_id: uuid.UUID):
    """The order's failed rows as CSV, in the format submitted, plus ``Error Code``
    and ``Error Message`` columns: fix them and submit the file again."""
    return views.failures_csv(order_id)


@blp.route("/orders/<uuid:order_id>/registrations")
@blp.auth("partner", "partner:read")
@blp.arguments(RegistrationFilterSchema, location="query")
@blp.response(200, RegistrationSchema(many=True))
@blp.paginate()
def list_order_registrations(filters: dict, order_id: uuid.UUID, pagination_parameters):
    """The order's rows with their outcomes, in submission order."""
    session = request_session()
    orders.get_order(session, order_id)
    stmt = select(Registration).where(Registration.order_pk == order_id)
    stmt = views.filter_registrations(stmt, filters).order_by(Registration.line_index)
    return views.paginate(session, stmt, pagination_parameters)
