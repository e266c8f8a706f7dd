"""The customer API: partner relationships, self-registration, devices."""

from __future__ import annotations

import uuid

from flask import url_for

from partner_api import bulk_actions, i18n
from partner_api.auth.principals import require_principal
from partner_api.blueprint import ApiBlueprint
from partner_api.csv_downloads import csv_response, wants_csv
from partner_api.customer.schemas import (
    BulkActionSchema,
    BulkGroupTagSchema,
    BulkResultFilterSchema,
    BulkResultSchema,
    BulkSelectionSchema,
    CheckInSchema,
    DeviceDetailSchema,
    DeviceFilterSchema,
    DeviceHistoryEntrySchema,
    DeviceSchema,
    RelationshipConflictSchema,
    device_query,
)
from partner_api.events.routes import add_event_routes
from partner_api.orders.routes import add_order_reads, takes_order
from partner_api.orders.submission import submit
from partner_api.pagination import cursor_page
from partner_api.request_context import current_request_id, request_session
from partner_api.schemas import RelationshipSchema
from tenants.access import relationships
from tenants.registration import (
    bulk,
    device_history,
    device_list,
    devices,
    exports,
    revocation,
)

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
    return relationships.in_order_requested(request_session())


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
@takes_order(blp)
def submit_order(query: dict, body: dict, idempotency_key: str | None = None):
    """Register your own devices (self-registration: each row needs its hardware hash)."""
    return submit(
        tenant_id=uuid.UUID(require_principal().own_id()),
        partner_id=None,
        body=body,
        dry_run=query["dry_run"],
        idempotency_key=idempotency_key,
        location_endpoint="customer.get_order",
    )


# GET /orders, /orders/<id>, /orders/<id>/failures.csv, /orders/<id>/registrations
add_order_reads(
    blp,
    kind="tenant",
    scope="customer:read",
    list_summary="Every order for your organisation, whoever submitted it, newest first.",
)


@blp.route("/devices")
@blp.auth("tenant", "customer:read")
@blp.arguments(DeviceFilterSchema, location="query")
@blp.response(200, DeviceSchema(many=True))
@blp.exportable()
@blp.cursor_paginate()
def list_devices(filters: dict, pagination_parameters):
    """Your devices: every row registered, being registered, failed or
    deregistered for your organisation, whoever submitted it.

    Filter by state, error code, serial number, order reference, partner or
    free text (``q``); sort by ``sort`` (a leading ``-`` sorts descending).
    With ``format=csv`` (or ``Accept: text/csv``): every device the filters
    select, in that sort, as one CSV file.
    """
    query = device_query(filters)
    if wants_csv(filters):
        return csv_response(
            "devices.csv",
            lambda session: exports.devices_csv(session, query, message_of=i18n.row_message),
        )
    listing = device_list.matching(request_session(), query)
    return cursor_page(listing, pagination_parameters, list_name="devices", bound_to=vars(query))


@blp.route("/devices/<uuid:device_id>")
@blp.auth("tenant", "customer:read")
@blp.response(200, DeviceDetailSchema)
def get_device(device_id: uuid.UUID):
    """One device with its state and what it means, and its hash's digest."""
    return device_history.device_page(request_session(), device_id, with_history=False)


@blp.route("/devices/<uuid:device_id>/history")
@blp.auth("tenant", "customer:read")
@blp.response(200, DeviceHistoryEntrySchema(many=True))
def get_device_history(device_id: uuid.UUID):
    """What happened to the device while your organisation held it or tried
    to, oldest first: each order that tried to register it and the outcome,
    its registration, check-ins, deregistration (who, when, request ID), and
    its registration again after a resale. Another organisation's period of
    ownership is not part of it."""
    history = device_history.device_page(request_session(), device_id)["history"]
    return history


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
    return device_list.one_device(session, device_id)


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
    return device_list.one_device(session, device_id)


# GET /events; /webhooks and their deliveries
add_event_routes(
    blp,
    kind="tenant",
    read_scope="customer:read",
    write_scope="customer:write",
    whose="Your organisation's events: everything partners did for you, and what you did",
)


# --- bulk actions -------------------------------------------------------------------------------


def _selection(body: dict) -> bulk.Selection:
    if "ids" in body:
        return bulk.Selection(ids=tuple(body["ids"]))
    return bulk.Selection(query=device_query(body["filter"], include_failed=False))


def _started(action: str, body: dict):
    session = request_session()
    started = bulk_actions.start(
        session,
        uuid.UUID(require_principal().own_id()),
        action=action,
        selection=_selection(body),
        group_tag=body.get("group_tag"),
    )
    location = url_for("customer.get_bulk_action", bulk_action_id=started.id)
    return bulk_actions.body(started), 202, {"Location": location}


_BULK_ANSWER = (
    "The action, with its progress: small selections of ids are done when it is "
    "answered, larger ones run as a job; follow `Location` (or the action's `id`) "
    "until `status` is `completed`, and read what it did to each device in its results."
)


@blp.route("/devices/bulk-deregister", methods=["POST"])
@blp.auth("tenant", "customer:write")
@blp.arguments(BulkSelectionSchema)
@blp.response(202, BulkActionSchema, description=_BULK_ANSWER)
@blp.problem(422)
def bulk_deregister(body: dict):
    """Deregister many devices in one action: the devices given by `ids`, or
    every device `filter` matches. Each is deregistered as by
    `DELETE /devices/{id}`; one that cannot be (not found, never registered)
    is reported in the results and the others go on."""
    return _started(bulk.DEREGISTER, body)


@blp.route("/devices/bulk-group-tag", methods=["POST"])
@blp.auth("tenant", "customer:write")
@blp.arguments(BulkGroupTagSchema)
@blp.response(202, BulkActionSchema, description=_BULK_ANSWER)
@blp.problem(422)
def bulk_group_tag(body: dict):
    """Give many registered devices a group tag (null: none), selected by
    `ids` or `filter`; the tag is checked against your tag list first."""
    return _started(bulk.SET_GROUP_TAG, body)


@blp.route("/bulk-actions/<uuid:bulk_action_id>")
@blp.auth("tenant", "customer:read")
@blp.response(200, BulkActionSchema)
def get_bulk_action(bulk_action_id: uuid.UUID):
    """A bulk action and its progress."""
    return bulk_actions.body(bulk.get(request_session(), bulk_action_id))


@blp.route("/bulk-actions/<uuid:bulk_action_id>/results")
@blp.auth("tenant", "customer:read")
@blp.arguments(BulkResultFilterSchema, location="query")
@blp.response(200, BulkResultSchema(many=True))
@blp.cursor_paginate(page_size=100, max_page_size=1000)
def list_bulk_results(filters: dict, bulk_action_id: uuid.UUID, pagination_parameters):
    """What the action did to each selected device, in selection order
    (``outcome`` null: not reached yet); filter by ``outcome``."""
    listing = bulk.items(request_session(), bulk_action_id, outcome=filters.get("outcome"))
    return cursor_page(
        listing,
        pagination_parameters,
        list_name="bulk-results",
        bound_to={"bulk_action_id": str(bulk_action_id), **filters},
    )
