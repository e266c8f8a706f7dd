"""The customer API: partner relationships, self-registration, devices."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from partner_api import views
from partner_api.auth.principals import require_principal
from partner_api.blueprint import ApiBlueprint
from partner_api.request_context import current_request_id, request_session
from partner_api.schemas import (
    CheckInSchema,
    DeviceFilterSchema,
    DeviceSchema,
    DryRunQuerySchema,
    DryRunSchema,
    IdempotencyKeyHeaderSchema,
    OrderCreateSchema,
    OrderFormSchema,
    OrderSchema,
    RegistrationFilterSchema,
    RegistrationSchema,
    RelationshipConflictSchema,
    RelationshipSchema,
)
from tenants.errors import NotFound
from tenants.models import Order, Registration, Relationship
from tenants.registration import device_list, devices, orders, revocation

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


# A decision sent while another is taken: exactly one wins.
_DECISION_CONFLICT = (
    "Another decision changed this relationship first (`relationship_state_conflict`); "
    "`current_status` is the state it is in now."
)


def _change_relationship(relationship_id: uuid.UUID, action: str):
    session = request_session()
    relationship = revocation.change_relationship(
        session, relationship_id, action, current_request_id()
    )
    session.commit()
    return relationship


@blp.route("/relationships/<uuid:relationship_id>/approve", methods=["POST"])
@blp.auth("tenant", "customer:write")
@blp.response(200, RelationshipSchema)
@blp.problem(409, schema=RelationshipConflictSchema, description=_DECISION_CONFLICT)
def approve_relationship(relationship_id: uuid.UUID):
    """Approve a pending request: the partner may then register devices for you.

    When another decision on the same relationship wins the race, the answer
    is 409 ``relationship_state_conflict`` with the state that won.
    """
    return _change_relationship(relationship_id, "approve")


@blp.route("/relationships/<uuid:relationship_id>/decline", methods=["POST"])
@blp.auth("tenant", "customer:write")
@blp.response(200, RelationshipSchema)
@blp.problem(409, schema=RelationshipConflictSchema, description=_DECISION_CONFLICT)
def decline_relationship(relationship_id: uuid.UUID):
    """Decline a pending request."""
    return _change_relationship(relationship_id, "decline")


@blp.route("/relationships/<uuid:relationship_id>/revoke", methods=["POST"])
@blp.auth("tenant", "customer:write")
@blp.response(200, RelationshipSchema)
@blp.problem(409, schema=RelationshipConflictSchema, description=_DECISION_CONFLICT)
def revoke_relationship(relationship_id: uuid.UUID):
    """Revoke a relationship: new orders stop at once, queued rows fail.

    An order being stored while the revoke arrives is finished first and its
    rows then fail ``relationship_revoked`` with the others; no order is
    accepted once the revoke has been answered.
    """
    return _change_relationship(relationship_id, "revoke")


@blp.route("/orders", methods=["POST"])
@blp.auth("tenant", "customer:write")
@blp.arguments(DryRunQuerySchema, location="query")
@blp.device_body(OrderCreateSchema, OrderFormSchema)
@blp.arguments(IdempotencyKeyHeaderSchema, location="headers", as_kwargs=True)
@blp.response(202, OrderSchema, headers=views.ORDER_ACCEPTED_HEADERS)
@blp.alt_response(200, schema=DryRunSchema, description="Dry run: each row's verdict.")
def submit_order(query: dict, body: dict, idempotency_key: str | None = None):
    """Register your own devices (self-registration: each row needs its hardware hash)."""
    return views.submit(
        tenant_id=uuid.UUID(require_principal().own_id()),
        partner_id=None,
        body=body,
        dry_run=query["dry_run"],
        idempotency_key=idempotency_key,
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
@blp.arguments(DeviceFilterSchema, location="query")
@blp.response(200, DeviceSchema(many=True))
@blp.paginate()
def list_devices(filters: dict, pagination_parameters):
    """Your devices: every row registered, being registered, failed or
    deregistered for your organisation, whoever submitted it.

    Filter by state, error code, serial number, order reference, partner or
    free text (``q``); sort by ``sort`` (a leading ``-`` sorts descending).
    """
    session = request_session()
    query = views.device_query(filters)
    window = views.page_window(
        pagination_parameters, session.scalar(device_list.device_count(query))
    )
    if window is None:
        return []
    limit, offset = window
    rows = device_list.device_page(session, query, limit=limit, offset=offset)
    return [views.device_body(row) for row in rows]


def _one_device(device_id: uuid.UUID) -> dict:
    session = request_session()
    stmt = device_list.select_devices(device_list.DeviceQuery()).where(Registration.id == device_id)
    row = session.execute(stmt).first()
    if row is None:
        raise NotFound("There is no device with this ID.")
    return views.device_body(dict(row._mapping))


@blp.route("/devices/<uuid:device_id>")
@blp.auth("tenant", "customer:read")
@blp.response(200, DeviceSchema)
def get_device(device_id: uuid.UUID):
    """One device with its state and what it means."""
    return _one_device(device_id)


@blp.route("/devices/<uuid:device_id>", methods=["DELETE"])
@blp.auth("tenant", "customer:write")
@blp.response(200, DeviceSchema)
@blp.problem(409)
def deregister_device(device_id: uuid.UUID):
    """Deregister a device: its claim is released, so another organisation can
    register it later (resale, repair). The row stays, ``deregistered``, as history."""
    session = request_session()
    devices.deregister(session, device_id, current_request_id())
    session.commit()
    return _one_device(device_id)


@blp.route("/devices/<uuid:device_id>/check-ins", methods=["POST"])
@blp.auth("tenant", "customer:write")
@blp.arguments(CheckInSchema)
@blp.response(200, DeviceSchema)
@blp.problem(409, 422)
def check_in_device(body: dict, device_id: uuid.UUID):
    """The device reported in from your device management: it is ``active``
    until 7 days pass without a check-in, then ``inactive``."""
    session = request_session()
    devices.check_in(
        session,
        device_id,
        seen_at=body.get("seen_at"),
        user=body.get("user"),
        request_id=current_request_id(),
    )
    session.commit()
    return _one_device(device_id)
