"""Totals across every tenant, for the metrics scrape: rows by state and
error code, orders by status. Callers read them outside any tenant's scope."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tenants.models import Order, Registration


def rows_by_state(session: Session) -> list[tuple[str, str | None, int]]:
    """(stored state, error code, number of rows) for every pair that occurs."""
    stmt = select(Registration.state, Registration.error_code, func.count()).group_by(
        Registration.state, Registration.error_code
    )
    return [(state, error_code, count) for state, error_code, count in session.execute(stmt)]


def orders_by_status(session: Session) -> list[tuple[str, int]]:
    """(status, number of orders) for every status that occurs."""
    stmt = select(Order.status, func.count()).group_by(Order.status)
    return [(status, count) for status, count in session.execute(stmt)]
