"""Registration states, error codes and the messages people read (SPEC section 5).

``active``/``inactive`` are never stored: they are computed at read time from
the last check-in (``effective_state``), so they are always exact.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, literal
from sqlalchemy.sql.elements import ColumnElement

from tenants.models import Registration, utcnow
from tenants.texts import N_, Message

PENDING = "registration_pending"
FAILED = "registration_failed"
READY = "ready_for_user"
ACTIVE = "active"
INACTIVE = "inactive"
DEREGISTERED = "deregistered"

STATES = (PENDING, FAILED, READY, ACTIVE, INACTIVE, DEREGISTERED)
# States in which the device belongs to the tenant (stored state is READY;
# ACTIVE/INACTIVE are derived from check-ins at read time).
REGISTERED_STATES = (READY, ACTIVE, INACTIVE)
# A registered device that checked in this recently is active, else inactive.
ACTIVE_WINDOW = timedelta(days=7)

# The names and meanings people read (GLOSSARY.md has them in sv and nl).
STATE_NAMES = {
    PENDING: N_("Registration pending"),
    FAILED: N_("Registration failed"),
    READY: N_("Ready for user"),
    ACTIVE: N_("Active"),
    INACTIVE: N_("Inactive"),
    DEREGISTERED: N_("Deregistered"),
}

STATE_MEANINGS = {
    PENDING: N_("Accepted; registration has not been processed yet."),
    FAILED: N_("Could not be registered; the message says why and what to do."),
    READY: N_("Registered to your organisation and waiting for its user."),
    ACTIVE: N_("Delivered and in use: it checked in within the last 7 days."),
    INACTIVE: N_("Delivered, but it has not checked in for more than 7 days."),
    DEREGISTERED: N_("Released by your organisation; kept here as history."),
}

DEVICE_NOT_FOUND = "device_not_found"
HARDWARE_HASH_INVALID = "hardware_hash_invalid"
ALREADY_REGISTERED = "device_already_registered"
CLAIMED_ELSEWHERE = "device_claimed_by_another_organization"
DUPLICATE_IN_ORDER = "duplicate_in_order"
RELATIONSHIP_REVOKED = "relationship_revoked"
GROUP_TAG_INVALID = "group_tag_invalid"
UNEXPECTED_ERROR = "unexpected_error"

MESSAGES = {
    DEVICE_NOT_FOUND: N_(
        "We couldn't register this device because we could not find a match for the "
        "provided manufacturer, model, or serial number. Confirm these values with your "
        "device supplier."
    ),
    HARDWARE_HASH_INVALID: N_(
        "The hardware hash provided for this device is not formatted correctly: {detail}. "
        "Double-check the hardware hash and resubmit."
    ),
    ALREADY_REGISTERED: N_(
        "This device is already registered to your organization. No further action required."
    ),
    CLAIMED_ELSEWHERE: N_(
        "This device has already been claimed by another organization. "
        "Check with your device supplier."
    ),
    DUPLICATE_IN_ORDER: N_(
        "This device appears more than once in the order; only the first row was processed."
    ),
    RELATIONSHIP_REVOKED: N_(
        "The customer revoked the relationship before this row was processed."
    ),
    GROUP_TAG_INVALID: N_("The group tag is not one this service accepts: {detail}."),
    UNEXPECTED_ERROR: N_(
        "Your request could not be automatically processed. Contact support and provide "
        "the request ID: {request_id}"
    ),
}

ERROR_CODES = tuple(MESSAGES)

ERROR_TITLES = {
    DEVICE_NOT_FOUND: N_("Device not found"),
    HARDWARE_HASH_INVALID: N_("Hardware hash not valid"),
    ALREADY_REGISTERED: N_("Device already registered"),
    CLAIMED_ELSEWHERE: N_("Device claimed by another organization"),
    DUPLICATE_IN_ORDER: N_("Duplicate in order"),
    RELATIONSHIP_REVOKED: N_("Relationship revoked"),
    GROUP_TAG_INVALID: N_("Group tag not valid"),
    UNEXPECTED_ERROR: N_("Unexpected error"),
}


def message(code: str, **values: str | Message) -> Message:
    return Message(MESSAGES[code], **values)


def message_columns(message: Message | None) -> dict:
    """A registration's message columns: the English text (for search, old
    clients) and the message as made, to render in the reader's language."""
    if message is None:
        return {"message": None, "message_params": None}
    return {"message": str(message), "message_params": message.as_json()}


def message_with_detail(code: str, detail: Message) -> Message:
    """``code``'s message followed by what exactly is wrong, in parentheses."""
    return Message(N_("{message} ({detail})"), message=message(code), detail=detail)


def duplicate_message(first_source: str | None, first_line: int) -> Message:
    """``duplicate_in_order``'s message, naming the row that was processed."""
    if first_source:
        return Message(
            N_("{message} (First seen on {source}, line {line}.)"),
            message=message(DUPLICATE_IN_ORDER),
            source=first_source,
            line=str(first_line),
        )
    return Message(
        N_("{message} (First seen on line {line}.)"),
        message=message(DUPLICATE_IN_ORDER),
        line=str(first_line),
    )


# Outcomes that count as success for an order: the tenant holds the device.
SUCCESS_ERROR_CODES = (ALREADY_REGISTERED,)


def effective_state(state: str, last_seen_at: datetime | None, now: datetime | None = None) -> str:
    """The state people read: a registered device is active or inactive by its last check-in."""
    if state != READY or last_seen_at is None:
        return state
    now = now or utcnow()
    return ACTIVE if now - last_seen_at <= ACTIVE_WINDOW else INACTIVE


def effective_state_sql(now: datetime | None = None) -> ColumnElement[str]:
    """The same rule as effective_state, as a SQL expression for filters and counts."""
    cutoff = (now or utcnow()) - ACTIVE_WINDOW
    return case(
        (
            (Registration.state == READY) & Registration.last_seen_at.is_not(None),
            case(
                (Registration.last_seen_at >= cutoff, literal(ACTIVE)),
                else_=literal(INACTIVE),
            ),
        ),
        else_=Registration.state,
    )


def effective_state_is(state: str, now: datetime | None = None) -> ColumnElement[bool]:
    """Rows whose effective state (``effective_state_sql``) is ``state``, as a
    condition on the stored state an index on (..., state, ...) serves."""
    cutoff = (now or utcnow()) - ACTIVE_WINDOW
    if state == ACTIVE:
        return (Registration.state == READY) & (Registration.last_seen_at >= cutoff)
    if state == INACTIVE:
        return (Registration.state == READY) & (Registration.last_seen_at < cutoff)
    if state == READY:
        return (Registration.state == READY) & Registration.last_seen_at.is_(None)
    return Registration.state == state
