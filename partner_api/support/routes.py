"""The support API: trace any request ID."""

from __future__ import annotations

import uuid

from partner_api.blueprint import ApiBlueprint
from partner_api.events.routes import feed_filter
from partner_api.events.schemas import EventSchema, SupportEventFilterSchema
from partner_api.orders.routes import failures_csv
from partner_api.pagination import cursor_page
from partner_api.request_context import request_session
from partner_api.support.schemas import (
    ClientRequestLookupSchema,
    DeviceHistorySchema,
    DeviceLookupSchema,
    LoggedRequestSchema,
    RequestTraceSchema,
)
from tenants.errors import NotFound
from tenants.events import outbox
from tenants.operations import support
from tenants.scoping import unscoped

blp = ApiBlueprint(
    "support", __name__, url_prefix="/v1/support", description="For support engineers."
)


@blp.route("/devices")
@blp.auth("support", "support:read")
@blp.arguments(DeviceLookupSchema, location="query")
@blp.response(200, DeviceHistorySchema)
@blp.cursor_paginate(page_size=support.HISTORY_PAGE, max_page_size=200)
def device_history(query: dict, pagination_parameters):
    """Who owns a device now, its registrations across organisations (oldest
    first, a page at a time: follow `Link: rel="next"`), and the changes made
    to the registrations on the page."""
    session = request_session()
    serial, manufacturer = query["serial_number"], query.get("manufacturer")
    entries = cursor_page(
        support.device_registrations(session, serial, manufacturer),
        pagination_parameters,
        list_name="support_device_history",
        bound_to=query,
    )
    return support.device_history(session, serial, manufacturer, entries=entries)


@blp.route("/orders/<uuid:order_id>/failures.csv")
@blp.auth("support", "support:read")
@blp.csv_download("The failed rows as CSV (text/csv), with Error Code and Error Message.")
def order_failures(order_id: uuid.UUID):
    """Any organisation's order's failed rows as CSV, as its submitter
    downloads them: every failed row a request trace does not show."""
    return failures_csv(order_id, across_tenants="support: an order's failed rows")


@blp.route("/requests")
@blp.auth("support", "support:read")
@blp.arguments(ClientRequestLookupSchema, location="query")
@blp.response(200, LoggedRequestSchema(many=True))
def requests_by_client_id(query: dict):
    """The requests whose callers sent this as their own `X-Request-ID`,
    newest first (at most 200). Each is a request of its own: trace it by
    its `request_id`; a caller's ID never ties records together."""
    return support.requests_by_client_id(request_session(), query["client_request_id"])


@blp.route("/requests/<string:request_id>")
@blp.auth("support", "support:read")
@blp.response(200, RequestTraceSchema)
def trace_request(request_id: str):
    """Everything tied to a request ID (matched case-insensitively): the
    request, with the exception behind a 5xx answer, the orders and rows it
    created or changed, and the internal errors behind failed rows."""
    trace = support.trace_request(request_session(), request_id)
    if trace is None:
        raise NotFound(
            f"Nothing is recorded under the request ID {request_id!r}. If it is an ID the "
            "caller chose, search for it with GET /v1/support/requests?client_request_id=..."
        )
    return trace


@blp.route("/events")
@blp.auth("support", "support:read")
@blp.arguments(SupportEventFilterSchema, location="query")
@blp.response(200, EventSchema(many=True))
@blp.cursor_paginate()
def list_events(filters: dict, pagination_parameters):
    """Any organisation's events, newest first: filter by ``tenant_id``,
    ``partner_id``, ``request_id``, ``type``, ``since`` and ``until``."""
    with unscoped("support: events of any organisation"):
        listing = outbox.feed(request_session(), feed_filter(filters))
        return cursor_page(listing, pagination_parameters, list_name="events", bound_to=filters)
