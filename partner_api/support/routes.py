"""The support API: trace any request ID."""

from __future__ import annotations

import marshmallow as ma

from partner_api.blueprint import ApiBlueprint
from partner_api.request_context import request_session
from partner_api.schemas import CountsSchema, RegistrationSchema
from tenants import support
from tenants.errors import NotFound

blp = ApiBlueprint(
    "support", __name__, url_prefix="/v1/support", description="For support engineers."
)


class LoggedRequestSchema(ma.Schema):
    at = ma.fields.DateTime(required=True)
    principal_kind = ma.fields.String(allow_none=True)
    principal_id = ma.fields.String(allow_none=True)
    client_id = ma.fields.String(allow_none=True)
    method = ma.fields.String(required=True)
    path = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    duration_ms = ma.fields.Integer(allow_none=True)


class TracedOrderSchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    tenant_id = ma.fields.UUID(required=True)
    partner_id = ma.fields.UUID(allow_none=True)
    order_id = ma.fields.String(allow_none=True)
    status = ma.fields.String(required=True)
    row_count = ma.fields.Integer(required=True)
    created_at = ma.fields.DateTime(required=True)
    completed_at = ma.fields.DateTime(allow_none=True)
    counts = ma.fields.Nested(CountsSchema, required=True)


class SupportRegistrationSchema(RegistrationSchema):
    """A row with the internal detail only support may see."""

    tenant_id = ma.fields.UUID(required=True)
    partner_id = ma.fields.UUID(allow_none=True)
    request_id = ma.fields.String(required=True)
    updated_request_id = ma.fields.String(allow_none=True)
    support_reference = ma.fields.String(allow_none=True)
    internal_error = ma.fields.Dict(allow_none=True)


class TracedRelationshipSchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    partner_id = ma.fields.UUID(required=True)
    tenant_id = ma.fields.UUID(required=True)
    status = ma.fields.String(required=True)
    decided_at = ma.fields.DateTime(allow_none=True)


class AuditEventSchema(ma.Schema):
    at = ma.fields.DateTime(required=True)
    request_id = ma.fields.String(allow_none=True)
    actor = ma.fields.String(required=True)
    action = ma.fields.String(required=True)
    object_type = ma.fields.String(required=True)
    object_id = ma.fields.String(required=True)
    tenant_id = ma.fields.UUID(allow_none=True)
    detail = ma.fields.Dict(allow_none=True)


class RequestTraceSchema(ma.Schema):
    request_id = ma.fields.String(required=True)
    requests = ma.fields.List(ma.fields.Nested(LoggedRequestSchema), required=True)
    orders = ma.fields.List(ma.fields.Nested(TracedOrderSchema), required=True)
    registrations_touched = ma.fields.Integer(required=True)
    failed_registrations = ma.fields.List(
        ma.fields.Nested(SupportRegistrationSchema), required=True
    )
    relationships = ma.fields.List(ma.fields.Nested(TracedRelationshipSchema), required=True)
    audit_events = ma.fields.List(ma.fields.Nested(AuditEventSchema), required=True)


class DeviceOwnerSchema(ma.Schema):
    tenant_id = ma.fields.UUID(required=True)
    tenant_name = ma.fields.String(required=True)
    registration_id = ma.fields.UUID(required=True)


class HistoryEntrySchema(ma.Schema):
    registration = ma.fields.Nested(SupportRegistrationSchema, required=True)
    tenant_name = ma.fields.String(required=True)
    partner_name = ma.fields.String(allow_none=True)
    order_reference = ma.fields.String(allow_none=True)


class DeviceHistorySchema(ma.Schema):
    serial_number = ma.fields.String(required=True)
    owners = ma.fields.List(ma.fields.Nested(DeviceOwnerSchema), required=True)
    registrations = ma.fields.List(ma.fields.Nested(HistoryEntrySchema), required=True)
    events = ma.fields.List(ma.fields.Nested(AuditEventSchema), required=True)


class DeviceLookupSchema(ma.Schema):
    serial_number = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    manufacturer = ma.fields.String(validate=ma.validate.Length(min=1, max=200))


@blp.route("/devices")
@blp.auth("support", "support:read")
@blp.arguments(DeviceLookupSchema, location="query")
@blp.response(200, DeviceHistorySchema)
def device_history(query: dict):
    """Who owns a device now, every registration of it across organisations
    (oldest first), and the changes made to it."""
    return support.device_history(
        request_session(), query["serial_number"], query.get("manufacturer")
    )


@blp.route("/requests/<string:request_id>")
@blp.auth("support", "support:read")
@blp.response(200, RequestTraceSchema)
def trace_request(request_id: str):
    """Everything tied to a request ID: the request, the orders and rows it
    created or changed, and the internal errors behind failed rows."""
    trace = support.trace_request(request_session(), request_id)
    if trace is None:
        raise NotFound(f"Nothing is recorded under the request ID {request_id!r}.")
    return trace
