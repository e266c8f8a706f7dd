"""The customer API's own schemas: a relationship decision's conflict, the
device list (its rows, filters and sort) and device check-ins."""

from __future__ import annotations

from datetime import UTC

import marshmallow as ma
from flask_babel import gettext
from marshmallow import validate

from partner_api import i18n
from partner_api.csv_downloads import FormatSchema
from partner_api.errors import ProblemSchema
from partner_api.schemas import RELATIONSHIP_STATES, TEXT_LENGTH, ErrorCodeOrNull, RowMessage
from tenants import outcomes
from tenants.registration.bulk import ACTIONS as BULK_ACTIONS
from tenants.registration.bulk import MAX_IDS as MAX_BULK_IDS
from tenants.registration.device_list import SORT_COLUMNS as DEVICE_SORT_COLUMNS
from tenants.registration.device_list import DeviceQuery

DEVICE_SORT_KEYS = tuple(DEVICE_SORT_COLUMNS)


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
    state_meaning = ma.fields.Function(
        lambda device: i18n.state_meaning(device["state"]),
        required=True,
        metadata={"type": "string", "description": "Plain language, in the reader's language"},
    )
    error_code = ErrorCodeOrNull()
    message = RowMessage()
    registered_by = ma.fields.Function(
        lambda device: (
            device["registered_by"] if device["partner_id"] else gettext(device["registered_by"])
        ),
        required=True,
        metadata={
            "type": "string",
            "description": "The partner's name, or 'Your organisation' (self-registered)",
        },
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


class DeviceDetailSchema(DeviceSchema):
    """One of your devices: what the list shows, and its hash's digest."""

    hash_digest = ma.fields.String(
        allow_none=True,
        metadata={
            "description": "SHA-256 (hex) of the hardware hash as submitted: tells captures "
            "apart without showing the hash"
        },
    )


HISTORY_EVENTS = ("submitted", "registered", "checked_in", "deregistered")


class DeviceHistoryEntrySchema(ma.Schema):
    """One thing that happened to the device while your organisation held it
    or tried to: an order's attempt (``submitted``, with its outcome), its
    registration, a check-in or a deregistration (who and under which
    request ID)."""

    event = ma.fields.String(required=True, metadata={"enum": list(HISTORY_EVENTS)})
    at = ma.fields.DateTime(required=True)
    device_id = ma.fields.UUID(
        required=True, metadata={"description": "The registration the event is about"}
    )
    order = ma.fields.UUID(required=True, metadata={"description": "Its order's id"})
    order_id = ma.fields.String(allow_none=True, metadata={"description": "Order reference"})
    registered_by = ma.fields.String(
        metadata={"description": "Who submitted the order (attempts and registrations)"}
    )
    state = ma.fields.String(
        metadata={
            "enum": list(outcomes.STATES),
            "description": "The attempt's state now (`submitted` only)",
        }
    )
    error_code = ErrorCodeOrNull()
    message = RowMessage()
    request_id = ma.fields.String(allow_none=True)
    actor = ma.fields.String(metadata={"description": "Who made the change"})
    client_id = ma.fields.String(
        allow_none=True,
        metadata={"description": "The API client, or `portal:<email>` for a person in the portal"},
    )
    user = ma.fields.String(allow_none=True, metadata={"description": "A check-in's user"})


class DeviceFilterSchema(FormatSchema):
    state = ma.fields.String(validate=validate.OneOf(outcomes.STATES))
    error_code = ma.fields.String(validate=validate.OneOf(outcomes.ERROR_CODES))
    serial_number = ma.fields.String(validate=TEXT_LENGTH)
    order_id = ma.fields.String(validate=TEXT_LENGTH, metadata={"description": "Order reference"})
    partner_id = ma.fields.UUID(metadata={"description": "Registered by this partner"})
    q = ma.fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={
            "description": "Free text: serial number, manufacturer, model, group tag, user, "
            "order or purchase reference"
        },
    )
    registered_on = ma.fields.Date(
        metadata={"description": "Registered on this day (UTC), YYYY-MM-DD"}
    )
    last_seen_on = ma.fields.Date(
        metadata={"description": "Last checked in on this day (UTC), YYYY-MM-DD"}
    )
    sort = ma.fields.String(
        load_default="-created_at",
        validate=validate.OneOf(
            [f"{d}{k}" for k in DEVICE_SORT_KEYS for d in ("", "-")],
            error="Sort by one of {choices}; a leading '-' sorts descending.",
        ),
    )


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
        registered_on=filters.get("registered_on"),
        last_seen_on=filters.get("last_seen_on"),
        sort=filters.get("sort") or "-created_at",
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


class BulkSelectionSchema(ma.Schema):
    """The devices a bulk action is for: ``ids``, or every device that
    ``filter`` (the device list's filters) matches; exactly one of them."""

    class Meta:
        unknown = ma.RAISE

    ids = ma.fields.List(
        ma.fields.UUID(),
        validate=validate.Length(
            min=1,
            max=MAX_BULK_IDS,
            error=f"Send from 1 to {MAX_BULK_IDS:,} ids; select more devices by `filter`.",
        ),
        metadata={
            "description": f"Device ids (at most {MAX_BULK_IDS:,}); another "
            "organisation's or an unknown id is reported as not found"
        },
    )
    filter = ma.fields.Nested(
        DeviceFilterSchema(exclude=("sort", "error_code")),
        metadata={
            "description": "Every device the device list's filters match now (`{}`: every device)"
        },
    )

    @ma.validates_schema
    def _one_of(self, data: dict, **_kwargs) -> None:
        if ("ids" in data) == ("filter" in data):
            raise ma.ValidationError(
                "Send either `ids` (a list of device ids) or `filter` (the device list's "
                "filters, `{}` for every device), not both and not neither.",
                field_name="ids",
            )


class BulkGroupTagSchema(BulkSelectionSchema):
    group_tag = ma.fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The new group tag (null: none), held to your tag list"},
    )


class BulkActionSchema(ma.Schema):
    """A bulk action on your devices and its progress; what it did to each
    device is in its results."""

    id = ma.fields.UUID(required=True)
    action = ma.fields.String(required=True, metadata={"enum": list(BULK_ACTIONS)})
    group_tag = ma.fields.String(allow_none=True)
    selection = ma.fields.String(required=True, metadata={"enum": ["ids", "filter"]})
    filter = ma.fields.Dict(allow_none=True)
    status = ma.fields.String(required=True, metadata={"enum": ["queued", "running", "completed"]})
    total = ma.fields.Integer(required=True, metadata={"description": "Devices selected"})
    done = ma.fields.Integer(required=True, metadata={"description": "Devices reached so far"})
    percent = ma.fields.Integer(required=True)
    succeeded = ma.fields.Integer(required=True, metadata={"description": "Devices changed"})
    unchanged = ma.fields.Integer(
        required=True, metadata={"description": "Devices that needed no change"}
    )
    failed = ma.fields.Integer(
        required=True, metadata={"description": "Devices the action could not touch"}
    )
    request_id = ma.fields.String(required=True)
    created_at = ma.fields.DateTime(required=True)
    completed_at = ma.fields.DateTime(allow_none=True)


class BulkResultSchema(ma.Schema):
    """What a bulk action did to one selected device."""

    position = ma.fields.Integer(required=True, metadata={"description": "Place in the selection"})
    device_id = ma.fields.UUID(required=True)
    serial_number = ma.fields.String(allow_none=True)
    outcome = ma.fields.String(
        allow_none=True,
        metadata={"enum": ["succeeded", "unchanged", "failed"], "description": "null: not yet"},
    )
    code = ma.fields.String(allow_none=True, metadata={"description": "Why, when not succeeded"})
    message = ma.fields.String(allow_none=True)


class BulkResultFilterSchema(ma.Schema):
    outcome = ma.fields.String(validate=validate.OneOf(["succeeded", "unchanged", "failed"]))
