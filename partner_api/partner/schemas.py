"""The partner API's own schemas: a relationship as the partner sees it."""

from __future__ import annotations

import marshmallow as ma

from partner_api.schemas import RelationshipSchema


class PartnerRelationshipSchema(RelationshipSchema):
    """A relationship as the partner sees it: the customer's name only once
    the customer approved (before, a partner knows only the ID it asked for)."""

    tenant_name = ma.fields.String(
        attribute="tenant_name_for_partner",
        required=True,
        allow_none=True,
        metadata={"description": "The customer's name; null until the customer approved."},
    )
