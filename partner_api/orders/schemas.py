"""Orders as partners and customers send and read them: the order (JSON or
form fields with CSV files), a dry run's verdicts, the order with its
counts, and its rows with their outcomes."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from partner_api.csv_downloads import FormatSchema
from partner_api.schemas import TEXT_LENGTH, DeviceRowSchema, ErrorCodeOrNull, RowMessage
from tenants import outcomes
from tenants.outcomes import effective_state


class OrderFormSchema(ma.Schema):
    """The fields that come with the CSV files of a multipart order."""

    class Meta:
        unknown = ma.RAISE

    order_id = ma.fields.String(
        allow_none=True, validate=TEXT_LENGTH, metadata={"description": "Your order reference"}
    )
    purchase_id = ma.fields.String(allow_none=True, validate=TEXT_LENGTH)
    group_tag = ma.fields.String(
        allow_none=True,
        validate=TEXT_LENGTH,
        metadata={"description": "Default group tag for every row"},
    )


class OrderCreateSchema(OrderFormSchema):
    """A JSON order: the same fields as the form, and the devices."""

    devices = ma.fields.List(
        ma.fields.Nested(DeviceRowSchema), required=True, validate=validate.Length(min=1)
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
    message = RowMessage()
    registered_at = ma.fields.DateTime(allow_none=True)
    last_seen_at = ma.fields.DateTime(allow_none=True)


class RegistrationFilterSchema(FormatSchema):
    state = ma.fields.String(validate=validate.OneOf(outcomes.STATES))
    error_code = ma.fields.String(validate=validate.OneOf(outcomes.ERROR_CODES))
    serial_number = ma.fields.String(validate=TEXT_LENGTH)
