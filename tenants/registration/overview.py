"""The overview: a tenant's (or a partner's) devices, orders and failures at
a glance, read from the counters (tenants/registration/counters.py), so its
cost does not grow with the number of registrations.

Everything is in the scope in force: a customer sees its own devices, a
partner the rows it submitted for its customers. The active/inactive split
of ready_for_user devices is a customer's view (it needs the rows that last
checked in on the day the active window starts, counted on an index of the
tenant's check-ins); a partner sees them as registered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tenants import outcomes
from tenants.models import DailyTotal, utcnow
from tenants.registration import counters
from tenants.registration.orders import FINAL_STATUSES

# How far back the daily charts reach.
CHART_DAYS = 30
# The "going inactive" chart: days before today (went inactive, not seen
# since) and after it (will go inactive unless they check in).
INACTIVE_PAST_DAYS, INACTIVE_NEXT_DAYS = 14, 7
_WINDOW_DAYS = outcomes.ACTIVE_WINDOW.days


@dataclass
class Overview:
    # Devices by the state people read (failed rows are not devices).
    by_state: dict[str, int] = field(default_factory=dict)
    failed_rows: int = 0
    failures_by_code: dict[str, int] = field(default_factory=dict)
    failures_this_week: dict[str, int] = field(default_factory=dict)
    orders_by_status: dict[str, int] = field(default_factory=dict)
    orders_in_progress: int = 0
    # (day, rows registered that day), oldest first, every day of the range.
    registered_per_day: list[tuple[date, int]] = field(default_factory=list)
    # (day, devices whose active window ends that day), oldest first.
    going_inactive: list[tuple[date, int]] = field(default_factory=list)
    today: date = field(default_factory=lambda: utcnow().date())
    split_active: bool = True

    @property
    def devices(self) -> int:
        return sum(self.by_state.values())


def _date(day: int) -> date:
    return date(1970, 1, 1) + timedelta(days=day)


def overview(session: Session, *, split_active: bool, now: datetime | None = None) -> Overview:
    """The overview of the scope in force."""
    now = now or utcnow()
    today = counters.seen_day(now)
    found = Overview(today=_date(today), split_active=split_active)
    for state, error_code, n in counters.registration_totals(session):
        if state == outcomes.FAILED:
            found.failed_rows += n
            code = error_code or outcomes.UNEXPECTED_ERROR
            found.failures_by_code[code] = found.failures_by_code.get(code, 0) + n
        else:
            found.by_state[state] = found.by_state.get(state, 0) + n
    for status, n in counters.order_totals(session):
        found.orders_by_status[status] = n
        if status not in FINAL_STATUSES:
            found.orders_in_progress += n

    counters.flush(session, DailyTotal)
    first = today - max(CHART_DAYS, INACTIVE_PAST_DAYS + _WINDOW_DAYS)
    rows = session.execute(
        select(DailyTotal.kind, DailyTotal.day, DailyTotal.error_code, func.sum(DailyTotal.count))
        .where(DailyTotal.day >= first)
        .group_by(DailyTotal.kind, DailyTotal.day, DailyTotal.error_code)
    )
    registered: dict[int, int] = {}
    seen: dict[int, int] = {}
    for kind, day, error_code, n in rows:
        if kind == counters.REGISTERED_DAY:
            registered[day] = registered.get(day, 0) + int(n)
        elif kind == counters.SEEN_DAY:
            seen[day] = seen.get(day, 0) + int(n)
        elif kind == counters.FAILED_DAY and day > today - 7 and n:
            code = error_code or outcomes.UNEXPECTED_ERROR
            found.failures_this_week[code] = found.failures_this_week.get(code, 0) + int(n)
    found.registered_per_day = [
        (_date(day), registered.get(day, 0)) for day in range(today - CHART_DAYS + 1, today + 1)
    ]
    # A device last seen on day d leaves the active window on day d + 7.
    found.going_inactive = [
        (_date(day), seen.get(day - _WINDOW_DAYS, 0))
        for day in range(today - INACTIVE_PAST_DAYS + 1, today + INACTIVE_NEXT_DAYS + 1)
    ]
    if split_active and outcomes.READY in found.by_state:
        _split_ready(session, found, now)
    return found


def _split_ready(session: Session, found: Overview, now: datetime) -> None:
    found.by_state.pop(outcomes.READY)
    split = counters.ready_split(session, now)
    found.by_state.update({state: n for state, n in split.items() if n})
