"""Reads that must stay index walks at any size, checked in PostgreSQL's own
plans as the service's role sees them: under row-level security, where a
condition can use an index only if its functions are leakproof.

The tables here are small, so sequential scans and sorts are switched off
for the plan: where an index can serve, the plan then uses it; where none
can (the condition not usable under row security, or the order not an
index's), the plan still scans the table or sorts, and the test fails.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import Select, select, text

from tenants import db
from tenants.models import Registration, identity_serial
from tenants.registration.device_list import LIST_COLUMNS, keyset
from tenants.scoping import Scope, scoped, unscoped
from tests.factories import devices, new_tenant, process, submit

pytestmark = [
    pytest.mark.usefixtures("settings"),
    pytest.mark.skipif(
        not os.environ.get("TEST_DATABASE_URL", "").startswith(("postgresql", "postgres://")),
        reason="PostgreSQL's plans and row-level security",
    ),
]


def _plan(session, stmt: Select) -> str:
    compiled = stmt.compile(
        dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
    )
    # Too small a table to plan as a large one would be: where an index can
    # serve the condition and the order, these make the planner take it.
    session.execute(text("SET LOCAL enable_seqscan = off"))
    session.execute(text("SET LOCAL enable_sort = off"))
    return "\n".join(session.execute(text(f"EXPLAIN {compiled}")).scalars())


def test_support_finds_a_device_by_serial_through_its_index_under_row_security():
    tenant = new_tenant()
    process(submit(tenant, devices(3)))
    with unscoped("test: support's lookup"), db.transaction() as session:
        plan = _plan(
            session,
            select(Registration.id)
            .where(identity_serial(Registration.identity_key) == "sn-1")
            .order_by(Registration.created_at, Registration.id),
        )
    assert "ix_registrations_identity_serial_created" in plan, plan
    assert "Seq Scan" not in plan and "Sort" not in plan, plan


@pytest.mark.parametrize(
    ("sort", "index"),
    [
        ("serial_number", "ix_registrations_tenant_serial_id"),
        ("-serial_number", "ix_registrations_tenant_serial_desc"),
    ],
)
def test_the_device_list_sorted_by_serial_is_a_walk_of_an_index(sort, index):
    tenant = new_tenant()
    process(submit(tenant, devices(3)))
    with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
        plan = _plan(
            session,
            select(*LIST_COLUMNS)
            .where(Registration.tenant_id == tenant.id)
            .order_by(*keyset(sort).order_by())
            .limit(51),
        )
    assert index in plan, plan
    assert "Sort" not in plan, plan
