"""The customer API: partner relationships, self-registration, devices."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from partner_api import views
from partner_api.auth import current_principal
from partner_api.blueprint import ApiBlueprint
from partner_api.request_context import current_request_id, request_session
from partner_api.schemas import (
    DryRunQuerySchema,
    DryRunSchema,
    OrderCreateSchema,
    OrderFormSchema,
    OrderSchema,
    RegistrationFilterSchema,
    RegistrationSchema,
    RelationshipSchema,
)
from tenants import orders, outcomes, relationships
from tenants.errors import NotFound
from tenants.models import Order, Registration, Relationship

blp = ApiBlueprint(
    "customer",
    __name__,
    url_prefix="/v1/customer",
    description="For customer administrators: relationships, orders, devices.",
)


@blp.route("/relationships")
@blp.auth("tenant", "customer:read")
@blp.response(200, RelationshipSchema(many=True))
def list_relationships():
    """Partners that asked for, hold, or held a relationship with your organisation."""
    session = request_session()
    return session.scalars(select(Relationship).order_by(Relationship.requested_at)).all()


def _change_relationship(relationship_id: uuid.UUID, action: str):
    session = request_session()
    relationship = relationships.change(session, relationship_id, action, current_request_id())
    session.commit()
    return relationship


@blp.route("/relationships/<uuid:relationship_id>/approve", methods=["POST"])
@blp.auth("tenant", "customer:write")
@blp.response(200, RelationshipSchema)
@blp.problem(409)
def approve_relationship(relationship_id: uuid.UUID):
    """Approve a pending request: the partner may then register devices for you."""
    return _change_relationship(relationship_id, "approve")


@blp.route("/relationships/<uuid:relationship_id>/decline", methods=["POST"])
@blp.auth("tenant", "customer:write")
@blp.response(200, RelationshipSchema)
@blp.problem(409)
def decline_relationship(relationship_id: uuid.UUID):
    """Decline a pending request."""
    return _change_relationship(relationship_id, "decline")


@blp.route("/relationships/<uuid:relationship_id>/revoke", methods=["POST"])
@blp.auth("tenant", "customer:write")
@blp.response(200, RelationshipSchema)
@blp.problem(409)
def revoke_relationship(relationship_id: uuid.UUID):
    """Revoke a relationship: new orders stop at once, queued rows fail."""
    return _change_relationship(relationship_id, "revoke")


@blp.route("/orders", methods=["POST"])
@blp.auth("tenant", "customer:write")
@blp.arguments(DryRunQuerySchema, location="query")
@blp.device_body(OrderCreateSchema, OrderFormSchema)
@blp.response(202, OrderSchema)
@blp.alt_response(200, schema=DryRunSchema, description="Dry run: each row's verdict.")
def submit_order(query: dict, body: dict):
    """Register your own devices (self-registration: each row needs its hardware hash)."""
    return views.submit(
        tenant_id=current_principal().tenant_id,
        partner_id=None,
        body=body,
        dry_run=query["dry_run"],
        location_endpoint="customer.get_order",
    )


@blp.route("/orders")
@blp.auth("tenant", "customer:read")
@blp.response(200, OrderSchema(many=True))
@blp.paginate()
def list_orders(pagination_parameters):
    """Every order for your organisation, whoever submitted it, newest first."""
    session = request_session()
    stmt = select(Order).order_by(Order.created_at.desc(), Order.id)
    page = views.paginate(session, stmt, pagination_parameters)
    return [views.order_body(session, order) for order in page]


@blp.route("/orders/<uuid:order_id>")
@blp.auth("tenant", "customer:read")
@blp.response(200, OrderSchema)
def get_order(order_id: uuid.UUID):
    """One order: status and counts by state and error code."""
    session = request_session()
    return views.order_body(session, orders.get_order(session, order_id))


@blp.route("/orders/<uuid:order_id>/failures.csv")
@blp.auth("tenant", "customer:read")
@blp.doc(**views.FAILURES_CSV_DOC)
def download_failures(order_id: uuid.UUID):
    """The order's failed rows as CSV, in the format submitted, plus ``Error Code``
    and ``Error Message`` columns: fix them and submit the file again."""
    return views.failures_csv(order_id)


@blp.route("/orders/<uuid:order_id>/registrations")
@blp.auth("tenant", "customer:read")
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


@blp.route("/devices")
@blp.auth("tenant", "customer:read")
@blp.arguments(RegistrationFilterSchema, location="query")
@blp.response(200, RegistrationSchema(many=True))
@blp.paginate()
def list_devices(filters: dict, pagination_parameters):
    """Your registered devices (and those you deregistered), newest first."""
    session = request_session()
    stmt = select(Registration).where(
        Registration.state.in_((outcomes.READY, outcomes.DEREGISTERED))
    )
    stmt = views.filter_registrations(stmt, filters).order_by(
        Registration.registered_at.desc(), Registration.id
    )
    return views.paginate(session, stmt, pagination_parameters)


@blp.route("/devices/<uuid:device_id>")
@blp.auth("tenant", "customer:read")
@blp.response(200, RegistrationSchema)
def get_device(device_id: uuid.UUID):
    """One device with its state."""
    session = request_session()
    device = session.get(Registration, device_id)
    if device is None or device.registered_at is None:
        raise NotFound("There is no device with this ID.")
    return device
