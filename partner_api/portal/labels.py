"""The words the portal shows for the statuses it lists, in the reader's
language. The values themselves (``completed_with_errors``, ``revoked``)
stay as they are in data attributes, classes, filters and CSV files; only
the label a person reads is translated (SPEC section 12)."""

from __future__ import annotations

from flask import Flask
from flask_babel import format_decimal, gettext

from partner_api.i18n import state_meaning, state_name
from tenants import outcomes
from tenants.texts import N_

ORDER_STATUSES = {
    "accepted": N_("accepted"),
    "processing": N_("processing"),
    "completed": N_("completed"),
    "completed_with_errors": N_("completed with errors"),
    "failed": N_("failed"),
}
RELATIONSHIP_STATUSES = {
    "pending": N_("pending"),
    "active": N_("active"),
    "declined": N_("declined"),
    "revoked": N_("revoked"),
}
# Bulk actions (their status and each device's outcome) and webhook deliveries.
PROGRESS = {
    "queued": N_("queued"),
    "running": N_("running"),
    "completed": N_("completed"),
    "pending": N_("pending"),
    "succeeded": N_("succeeded"),
    "unchanged": N_("unchanged"),
    "failed": N_("failed"),
}


def _label(labels: dict[str, str]):
    def label(value: str | None) -> str:
        english = labels.get(value or "")
        return gettext(english) if english else (value or "")

    return label


order_status_name = _label(ORDER_STATUSES)
relationship_status_name = _label(RELATIONSHIP_STATUSES)
progress_name = _label(PROGRESS)


def number(value) -> str:
    """A count with the language's digit grouping (1,234 / 1 234 / 1.234)."""
    return "" if value is None else format_decimal(value)


def init_app(app: Flask) -> None:
    app.jinja_env.filters["number"] = number
    app.jinja_env.globals.update(
        state_name=state_name,
        state_meaning=state_meaning,
        order_status_name=order_status_name,
        relationship_status_name=relationship_status_name,
        progress_name=progress_name,
        # A catalogue text stored as it is (a bulk action's per-device message).
        translate=gettext,
    )


def state_meanings() -> dict[str, str]:
    return {state: state_meaning(state) for state in outcomes.STATES}
