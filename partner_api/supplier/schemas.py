"""The supplier API's schemas: factory records sent as JSON or CSV files,
and what became of them."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from partner_api.schemas import DeviceRowSchema


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
