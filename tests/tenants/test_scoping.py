"""Tenant scoping fails closed, in the data layer, on the real database."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, insert, select, update

from tenants import db
from tenants.access import organisations
from tenants.models import (
    Order,
    OrderCheckIn,
    OrderCount,
    OrderTotal,
    Registration,
    RegistrationTotal,
    TenantOwned,
)
from tenants.scoping import Scope, ScopeMissing, scoped, unscoped
from tests.factories import device, submit


@pytest.fixture
def two_tenants(settings):
    a = organisations.create_tenant(f"Scope A {uuid.uuid4().hex[:6]}")
    b = organisations.create_tenant(f"Scope B {uuid.uuid4().hex[:6]}")
    for tenant in (a, b):
        with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
            session.add(
                Order(tenant_id=tenant.id, request_id="scope-test", order_id=str(tenant.id))
            )
    return a, b


def test_a_query_without_scope_raises(two_tenants):
    with db.transaction() as session:
        with pytest.raises(ScopeMissing):
            session.scalars(select(Order)).all()
        with pytest.raises(ScopeMissing):  # hidden in a subquery
            session.scalar(select(func.count()).select_from(select(Order.id).subquery()))
        with pytest.raises(ScopeMissing):
            session.execute(update(Registration).values(message="x"))


def test_scope_shows_only_the_tenants_rows(two_tenants):
    a, b = two_tenants
    b_order_id = _order_of(b).id
    with scoped(Scope.tenant(a.id)), db.transaction() as session:
        seen = {o.tenant_id for o in session.scalars(select(Order)).all()}
        assert seen == {a.id}
        assert session.get(Order, b_order_id) is None


def test_writing_another_tenants_row_raises(two_tenants):
    a, b = two_tenants
    with pytest.raises(ScopeMissing):
        with scoped(Scope.tenant(a.id)), db.transaction() as session:
            session.add(Order(tenant_id=b.id, request_id="scope-test"))
    with pytest.raises(ScopeMissing):
        with scoped(Scope.tenant(a.id)), db.transaction() as session:
            session.execute(
                insert(Order), [{"id": uuid.uuid4(), "tenant_id": b.id, "request_id": "x"}]
            )
    with unscoped("test: count B's orders"), db.transaction() as session:
        assert session.scalar(select(func.count()).where(Order.tenant_id == b.id)) == 1


def test_unscoped_needs_a_reason_and_sees_everything(two_tenants):
    a, b = two_tenants
    with pytest.raises(ValueError):
        with unscoped(""):
            pass
    with unscoped("test: read across tenants"), db.transaction() as session:
        seen = set(session.scalars(select(Order.tenant_id)).all())
    assert {a.id, b.id} <= seen


@pytest.mark.parametrize("counter", [OrderCount, OrderCheckIn, RegistrationTotal, OrderTotal])
def test_the_counters_are_scoped_like_the_rows_they_count(settings, counter):
    assert issubclass(counter, TenantOwned)
    a = organisations.create_tenant(f"Scope A {uuid.uuid4().hex[:6]}")
    b = organisations.create_tenant(f"Scope B {uuid.uuid4().hex[:6]}")
    for tenant in (a, b):
        submit(tenant, [device()])
    with db.transaction() as session:
        with pytest.raises(ScopeMissing):
            session.scalars(select(counter)).all()
    with scoped(Scope.tenant(a.id)), db.transaction() as session:
        assert {c.tenant_id for c in session.scalars(select(counter))} <= {a.id}
        if counter is not OrderCheckIn:  # no device of theirs checked in
            assert session.scalars(select(counter)).first() is not None


def _order_of(tenant):
    with unscoped("test: find a tenant's order"), db.transaction() as session:
        return session.scalars(select(Order).where(Order.tenant_id == tenant.id)).one()
