"""Schema pieces several audiences use: the device rows that orders and
catalogs carry, a row's error code, the ``Idempotency-Key`` header, and a
relationship as both sides see it.

Each audience's own schemas are beside its routes (partner/, customer/,
supplier/, support/ and orders/ ``schemas.py``); problems are in
partner_api/errors.py.
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from partner_api import i18n
from tenants import outcomes

# The longest free text a field takes (references, names, tags).
TEXT_LENGTH = validate.Length(max=200)


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

    manufacturer = ma.fields.String(allow_none=True, validate=TEXT_LENGTH)
    model = ma.fields.String(allow_none=True, validate=TEXT_LENGTH)
    serial_number = ma.fields.String(allow_none=True, validate=TEXT_LENGTH)
    hardware_hash = ma.fields.String(
        allow_none=True,
        validate=validate.Length(max=65536),
        metadata={"description": "Base64 of the device's 4K hardware hash"},
    )
    product_key_id = ma.fields.String(allow_none=True, validate=validate.Length(max=32))
    group_tag = ma.fields.String(allow_none=True, validate=TEXT_LENGTH)
    assigned_user = ma.fields.String(allow_none=True, validate=validate.Length(max=320))


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


class RowMessage(ma.fields.String):
    """A row's message in the reader's language (``Accept-Language``), rendered
    from how it was made; null while the row has none."""

    def __init__(self, **kwargs) -> None:
        metadata = {"description": "Why the row failed and what to do, in the reader's language"}
        super().__init__(allow_none=True, metadata=metadata, **kwargs)

    def serialize(self, attr, obj, accessor=None, **kwargs):
        return i18n.row_message(obj)
