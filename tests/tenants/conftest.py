"""The domain tests store orders and leave some unfinished on purpose; the
database is shared with the job tests, whose sweeps would take such orders
for lost work. Whatever a test leaves pending is settled after it, as the
worker would settle it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tenants import db
from tenants.models import Order, utcnow
from tenants.registration import processing
from tenants.scoping import unscoped


@pytest.fixture(autouse=True)
def no_pending_work_left_behind(request):
    if "settings" not in request.fixturenames:
        yield  # a test without the database
        return
    started = utcnow()
    yield
    with unscoped("test: orders a test left open"), db.transaction() as session:
        left_open = session.execute(
            select(Order.id, Order.row_count).where(
                Order.completed_at.is_(None), Order.created_at >= started
            )
        ).all()
    for order_pk, row_count in left_open:
        processing.register_chunk(order_pk, 0, row_count)
