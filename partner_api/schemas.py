"""Schemas shared by the partner and customer APIs: device rows, orders,
registrations, relationships."""

from __future__ import annotations

from datetime import UTC

import marshmallow as ma
from marshmallow import validate

from partner_api.errors import ProblemSchema
from tenants import outcomes
from tenants.registration.devices import SORT_COLUMNS as DEVICE_SORT_COLUMNS
from tenants.registration.devices import DeviceQuery, effective_state

DEVICE_SORT_KEYS = tuple(DEVICE_SORT_COLUMNS)

_TEXT = validate.Length(max=200)


# One named schema for every row's error code, so that a client generated from
# the document has one enum type for it (registered in partner_api/app.py).
ERROR_CODE_SCHEMA = {
    "type": "string",
    "enum": list(outcomes.ERROR_CODES),
    "description": "Why a row failed, or what became of a row that needed no new claim.",
}


class ErrorCodeOrNull(ma.fields.String):
    """A row's error code, or null while it has none. Documented as
    ``anyOf: [ErrorCode, null]``: the codes' enum holds no null (generators
    would make several enum types of it), and a strict OpenAPI 3.0 validator
    still accepts the null."""

    def __init__(self, **kwargs) -> None:
        metadata = {
            "anyOf": [
                {"$ref": "#/components/schemas/ErrorCode"},
                {"type": "string", "nullable": True, "enum": [None]},
            ]
        }
        super().__init__(allow_none=True, metadata=metadata, **kwargs)


class DeviceRowSchema(ma.Schema):
    """One device in a JSON order. Identify it by hardware hash, or by
    manufacturer + model + serial number, or by product key ID."""

    class Meta:
        unknown = ma.RAISE

    manufacturer = ma.fields.String(allow_none=True, validate=_TEXT)
    model = ma.fields.String(allow_none=True, validate=_TEXT)
    serial_number = ma.fields.String(allow_none=True, validate=_TEXT)
    hardware_hash = ma.fields.String(
        allow_none=True,
        validate=validate.Length(max=65536),
        metadata={"description": "Base64 of the device's 4K hardware hash"},
    )
    product_key_id = ma.fields.String(allow_none=True, validate=validate.Length(max=32))
    group_tag = ma.fields.String(allow_none=True, validate=_TEXT)
    assigned_user = ma.fields.String(allow_none=True, validate=validate.Length(max=320))


class OrderFormSchema(ma.Schema):
    """The fields that come with the CSV files of a multipart order."""

    class Meta:
        unknown = ma.RAISE

    order_id = ma.fields.String(
        allow_none=True, validate=_TEXT, metadata={"description": "Your order reference"}
    )
    purchase_id = ma.fields.String(allow_none=True, validate=_TEXT)
    group_tag = ma.fields.String(
        allow_none=True, validate=_TEXT, metadata={"description": "Default group tag for every row"}
    )


class OrderCreateSchema(OrderFormSchema):
    """A JSON order: the same fields as the form, and the devices."""

    devices = ma.fields.List(
        ma.fields.Nested(DeviceRowSchema), required=True, validate=validate.Length(min=1)
    )


class CatalogCreateSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    devices = ma.fields.List(
        ma.fields.Nested(DeviceRowSchema), required=True, validate=validate.Length(min=1)
    )


class CatalogFormSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class CatalogRejectionSchema(ma.Schema):
    source = ma.fields.String(allow_none=True)
    line = ma.fields.Integer(required=True)
    message = ma.fields.String(required=True)


class CatalogResultSchema(ma.Schema):
    received = ma.fields.Integer(required=True)
    stored = ma.fields.Integer(required=True, metadata={"description": "Records added or replaced"})
    rejected = ma.fields.Integer(required=True)
    rejections = ma.fields.List(
        ma.fields.Nested(CatalogRejectionSchema),
        required=True,
        metadata={"description": "Rows that are not usable records (the first 1,000)"},
    )


class IdempotencyKeyHeaderSchema(ma.Schema):
    idempotency_key = ma.fields.String(
        data_key="Idempotency-Key",
        metadata={
            "minLength": 1,
            "maxLength": 200,
            "description": (
                "A key you generate once per order (a UUID, say) and send again with every "
                "retry: the same key and body replay the first answer (with "
                "`Idempotent-Replayed: true`) instead of storing a second order; the same key "
                "with another body is refused (422 `idempotency_key_reused`). 1 to 200 visible "
                "ASCII characters; keys are kept 24 hours."
            ),
        },
    )


class DryRunQuerySchema(ma.Schema):
    dry_run = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "Validate only: return each row's verdict, register nothing"},
    )


# The 202 order answer's Location header, as the OpenAPI document declares it.
ORDER_LOCATION_HEADER = {
    "Location": {
        "description": "The order's URL: poll it until `completed_at` is set.",
        "schema": {"type": "string"},
    },
}


class CountsSchema(ma.Schema):
    by_state = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), required=True)
    by_error_code = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.Integer(), required=True
    )


class OrderSchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    request_id = ma.fields.String(required=True)
    tenant_id = ma.fields.UUID(required=True)
    partner_id = ma.fields.UUID(allow_none=True, required=True)
    order_id = ma.fields.String(allow_none=True)
    purchase_id = ma.fields.String(allow_none=True)
    group_tag = ma.fields.String(allow_none=True)
    status = ma.fields.String(
        required=True,
        metadata={
            "enum": ["accepted", "processing", "completed", "completed_with_errors", "failed"]
        },
    )
    row_count = ma.fields.Integer(required=True)
    counts = ma.fields.Nested(CountsSchema, required=True)
    created_at = ma.fields.DateTime(required=True)
    started_at = ma.fields.DateTime(allow_none=True)
    completed_at = ma.fields.DateTime(allow_none=True)


class RowVerdictSchema(ma.Schema):
    line = ma.fields.Integer(required=True)
    source = ma.fields.String(allow_none=True)
    manufacturer = ma.fields.String(allow_none=True)
    model = ma.fields.String(allow_none=True)
    serial_number = ma.fields.String(allow_none=True)
    verdict = ma.fields.String(required=True, metadata={"enum": ["accepted", "rejected"]})
    error_code = ma.fields.String(allow_none=True)
    message = ma.fields.String(allow_none=True)
    warnings = ma.fields.List(ma.fields.String())


class DryRunSchema(ma.Schema):
    dry_run = ma.fields.Boolean(required=True)
    row_count = ma.fields.Integer(required=True)
    accepted = ma.fields.Integer(required=True)
    rejected = ma.fields.Integer(required=True)
    rows = ma.fields.List(ma.fields.Nested(RowVerdictSchema), required=True)


class RegistrationSchema(ma.Schema):
    """A submitted row and its outcome. Registered rows are the tenant's devices."""

    id = ma.fields.UUID(required=True)
    order = ma.fields.UUID(
        required=True, attribute="order_pk", metadata={"description": "The order's id"}
    )
    line = ma.fields.Integer(required=True)
    source = ma.fields.String(
        allow_none=True, metadata={"description": "Uploaded file the row came from"}
    )
    manufacturer = ma.fields.String(allow_none=True)
    model = ma.fields.String(allow_none=True)
    serial_number = ma.fields.String(allow_none=True)
    product_key_id = ma.fields.String(allow_none=True)
    group_tag = ma.fields.String(allow_none=True)
    assigned_user = ma.fields.String(allow_none=True)
    state = ma.fields.Function(
        lambda reg: effective_state(reg.state, reg.last_seen_at),
        required=True,
        metadata={"enum": list(outcomes.STATES)},
    )
    error_code = ErrorCodeOrNull()
    message = ma.fields.String(allow_none=True)
    registered_at = ma.fields.DateTime(allow_none=True)
    last_seen_at = ma.fields.DateTime(allow_none=True)


class RegistrationFilterSchema(ma.Schema):
    state = ma.fields.String(validate=validate.OneOf(outcomes.STATES))
    error_code = ma.fields.String(validate=validate.OneOf(outcomes.ERROR_CODES))
    serial_number = ma.fields.String(validate=_TEXT)


RELATIONSHIP_STATES = ["pending", "active", "declined", "revoked"]


class RelationshipSchema(ma.Schema):
    """A relationship as the customer sees it."""

    id = ma.fields.UUID(required=True)
    partner_id = ma.fields.UUID(required=True)
    partner_name = ma.fields.String(attribute="partner.name", required=True)
    tenant_id = ma.fields.UUID(required=True)
    tenant_name = ma.fields.String(attribute="tenant.name", required=True)
    status = ma.fields.String(required=True, metadata={"enum": RELATIONSHIP_STATES})
    requested_at = ma.fields.DateTime(required=True)
    decided_at = ma.fields.DateTime(allow_none=True)


class PartnerRelationshipSchema(RelationshipSchema):
    """A relationship as the partner sees it: the customer's name only once
    the customer approved (before, a partner knows only the ID it asked for)."""

    tenant_name = ma.fields.String(
        attribute="tenant_name_for_partner",
        required=True,
        allow_none=True,
        metadata={"description": "The customer's name; null until the customer approved."},
    )


class RelationshipConflictSchema(ProblemSchema):
    """409 ``relationship_state_conflict``: another decision changed the
    relationship first; ``current_status`` is the state it is in now (the
    decision that won)."""

    current_status = ma.fields.String(required=True, metadata={"enum": RELATIONSHIP_STATES})


class DeviceSchema(ma.Schema):
    """One of your devices (a registration) with what the device list shows."""

    id = ma.fields.UUID(required=True)
    order = ma.fields.UUID(required=True, metadata={"description": "The order's id"})
    serial_number = ma.fields.String(allow_none=True)
    manufacturer = ma.fields.String(allow_none=True)
    model = ma.fields.String(allow_none=True)
    product_key_id = ma.fields.String(allow_none=True)
    state = ma.fields.String(required=True, metadata={"enum": list(outcomes.STATES)})
    state_meaning = ma.fields.String(required=True, metadata={"description": "Plain language"})
    error_code = ErrorCodeOrNull()
    message = ma.fields.String(allow_none=True)
    registered_by = ma.fields.String(
        required=True,
        metadata={"description": "The partner's name, or 'Your organisation' (self-registered)"},
    )
    partner_id = ma.fields.UUID(allow_none=True)
    order_id = ma.fields.String(allow_none=True, metadata={"description": "Order reference"})
    purchase_id = ma.fields.String(allow_none=True)
    group_tag = ma.fields.String(allow_none=True)
    assigned_user = ma.fields.String(allow_none=True)
    registered_at = ma.fields.DateTime(allow_none=True)
    deregistered_at = ma.fields.DateTime(allow_none=True)
    last_seen_at = ma.fields.DateTime(allow_none=True)
    last_seen_user = ma.fields.String(allow_none=True)
    age_days = ma.fields.Integer(
        allow_none=True, metadata={"description": "Whole days since registration"}
    )


class DeviceFilterSchema(ma.Schema):
    state = ma.fields.String(validate=validate.OneOf(outcomes.STATES))
    error_code = ma.fields.String(validate=validate.OneOf(outcomes.ERROR_CODES))
    serial_number = ma.fields.String(validate=_TEXT)
    order_id = ma.fields.String(validate=_TEXT, metadata={"description": "Order reference"})
    partner_id = ma.fields.UUID(metadata={"description": "Registered by this partner"})
    q = ma.fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={
            "description": "Free text: serial number, manufacturer, model, group tag, user, "
            "order or purchase reference"
        },
    )
    sort = ma.fields.String(
        load_default="-created_at",
        validate=validate.OneOf(
            [f"{d}{k}" for k in DEVICE_SORT_KEYS for d in ("", "-")],
            error="Sort by one of {choices}; a leading '-' sorts descending.",
        ),
    )


class CheckInSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    seen_at = ma.fields.AwareDateTime(
        default_timezone=UTC,
        load_default=None,
        allow_none=True,
        metadata={"description": "When the device reported in (default: now)"},
    )
    user = ma.fields.String(allow_none=True, validate=validate.Length(max=320))


def device_query(filters: dict, *, include_failed: bool = True) -> DeviceQuery:
    """The device list's query from its loaded filters (``DeviceFilterSchema``)."""
    return DeviceQuery(
        include_failed=include_failed,
        state=filters.get("state"),
        error_code=filters.get("error_code"),
        serial_number=filters.get("serial_number"),
        order_id=filters.get("order_id"),
        partner_id=filters.get("partner_id"),
        text=filters.get("q"),
        sort=filters.get("sort") or "-created_at",
    )
