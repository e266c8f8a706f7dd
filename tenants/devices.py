"""A tenant's devices: registered rows, their effective state, check-ins.

``active``/``inactive`` are never stored: they are computed at read time from
the last check-in, so they are always exact.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, literal
from sqlalchemy.sql.elements import ColumnElement

from tenants import outcomes
from tenants.models import Registration, utcnow

ACTIVE_WINDOW = timedelta(days=7)


def effective_state(state: str, last_seen_at: datetime | None, now: datetime | None = None) -> str:
    if state != outcomes.READY or last_seen_at is None:
        return state
    now = now or utcnow()
    return outcomes.ACTIVE if now - last_seen_at <= ACTIVE_WINDOW else outcomes.INACTIVE


def effective_state_sql(now: datetime | None = None) -> ColumnElement[str]:
    """The same rule as effective_state, as a SQL expression for filters and counts."""
    cutoff = (now or utcnow()) - ACTIVE_WINDOW
    return case(
        (
            (Registration.state == outcomes.READY) & Registration.last_seen_at.is_not(None),
            case(
                (Registration.last_seen_at >= cutoff, literal(outcomes.ACTIVE)),
                else_=literal(outcomes.INACTIVE),
            ),
        ),
        else_=Registration.state,
    )
