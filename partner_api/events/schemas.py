"""Events, their filters, webhook endpoints and their deliveries (SPEC section 11)."""

from __future__ import annotations

from datetime import UTC

import marshmallow as ma
from marshmallow import validate

from tenants.events import outbox
from tenants.events.addresses import MAX_URL_LENGTH


class EventSchema(ma.Schema):
    id = ma.fields.String(required=True, metadata={"description": "`evt_` + opaque."})
    type = ma.fields.String(
        required=True,
        metadata={
            "description": "More types may be added: ignore the ones you do not know.",
            "example": outbox.ORDER_COMPLETED,
        },
    )
    created_at = ma.fields.DateTime(required=True)
    request_id = ma.fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The request behind the change: support looks it up."},
    )
    tenant_id = ma.fields.UUID(required=True, allow_none=True)
    partner_id = ma.fields.UUID(required=True, allow_none=True)
    data = ma.fields.Dict(
        required=True,
        metadata={"description": "The object the event is about; for orders, the order."},
    )


def _when(description: str) -> ma.fields.AwareDateTime:
    return ma.fields.AwareDateTime(default_timezone=UTC, metadata={"description": description})


class EventFilterSchema(ma.Schema):
    type = ma.fields.String(validate=validate.OneOf(outbox.TYPES))
    since = _when("Events at or after this time (ISO 8601; UTC unless it says otherwise).")
    until = _when("Events before this time.")

    @ma.validates_schema
    def _since_before_until(self, data: dict, **kwargs) -> None:
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise ma.ValidationError("`until` must be later than `since`.", "until")


class SupportEventFilterSchema(EventFilterSchema):
    tenant_id = ma.fields.UUID()
    partner_id = ma.fields.UUID()
    request_id = ma.fields.String(validate=validate.Length(min=1, max=128))


_EVENT_TYPES = ma.fields.List(
    ma.fields.String(validate=validate.OneOf(outbox.TYPES)),
    allow_none=True,
    metadata={"description": "The event types to send; empty or absent: every type."},
)


class WebhookEndpointSchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    url = ma.fields.String(required=True)
    description = ma.fields.String(required=True, allow_none=True)
    event_types = ma.fields.List(
        ma.fields.String(),
        required=True,
        metadata={"description": "The event types sent; empty: every type."},
    )
    enabled = ma.fields.Boolean(required=True)
    disabled_at = ma.fields.DateTime(
        required=True,
        allow_none=True,
        metadata={"description": "When it was disabled (by you, or after failing for days)."},
    )
    failing_since = ma.fields.DateTime(
        required=True,
        allow_none=True,
        metadata={"description": "Since when every delivery failed; null after a success."},
    )
    previous_secret_expires_at = ma.fields.DateTime(
        required=True,
        allow_none=True,
        metadata={"description": "After a rotation, until when the previous secret signs too."},
    )
    created_at = ma.fields.DateTime(required=True)


class WebhookEndpointWithSecretSchema(WebhookEndpointSchema):
    secret = ma.fields.String(
        required=True,
        metadata={
            "description": "`whsec_` + base64: verify deliveries with it. Shown only now; "
            "rotate it to get a new one."
        },
    )


class WebhookEndpointCreateSchema(ma.Schema):
    url = ma.fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_URL_LENGTH),
        metadata={"description": "https, on a host with public addresses only."},
    )
    event_types = _EVENT_TYPES
    description = ma.fields.String(allow_none=True, validate=validate.Length(max=500))


class WebhookEndpointChangeSchema(WebhookEndpointCreateSchema):
    url = ma.fields.String(validate=validate.Length(min=1, max=MAX_URL_LENGTH))
    enabled = ma.fields.Boolean()


class WebhookAttemptSchema(ma.Schema):
    attempted_at = ma.fields.DateTime(required=True)
    status_code = ma.fields.Integer(required=True, allow_none=True)
    duration_ms = ma.fields.Integer(required=True)
    succeeded = ma.fields.Boolean(required=True)
    error = ma.fields.String(required=True, allow_none=True)
    response_body = ma.fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The first bytes of the receiver's answer, as text."},
    )


class WebhookDeliverySchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    event_id = ma.fields.String(required=True, metadata={"description": "Sent as `webhook-id`."})
    event_type = ma.fields.String(attribute="event.type", required=True)
    status = ma.fields.String(required=True, metadata={"enum": ["pending", "succeeded", "failed"]})
    attempt_count = ma.fields.Integer(required=True)
    next_attempt_at = ma.fields.DateTime(required=True, allow_none=True)
    created_at = ma.fields.DateTime(required=True)
    completed_at = ma.fields.DateTime(required=True, allow_none=True)
    attempts = ma.fields.List(ma.fields.Nested(WebhookAttemptSchema), required=True)
