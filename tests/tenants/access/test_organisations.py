"""Partners and tenants as operators create them, and the operator's
one-step relationship."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tenants import db
from tenants.access import organisations, relationships
from tenants.models import Relationship
from tenants.registration import relationship_rule, revocation
from tenants.scoping import Scope, scoped
from tests.factories import new_partner, new_tenant, unique

pytestmark = pytest.mark.usefixtures("settings")


def test_organisations_are_found_by_their_exact_name():
    name = unique("Partner")
    partner = organisations.create_partner(name)
    tenant = organisations.create_tenant(unique("Tenant"), "contoso.example")

    assert organisations.find_partner(name).id == partner.id
    assert organisations.find_partner(name.lower()) is None
    assert organisations.find_tenant(tenant.name).domain == "contoso.example"
    assert organisations.find_tenant(unique("nobody")) is None


def test_activating_makes_one_active_relationship_whatever_it_was():
    partner, tenant = new_partner(), new_tenant()
    with scoped(Scope.partner(partner.id)), db.transaction() as session:
        asked = relationships.request_relationship(session, partner.id, tenant.id, "req-1")
    with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
        revocation.change_relationship(session, asked.id, "decline", "req-2")

    first = organisations.activate_relationship(partner.id, tenant.id)
    again = organisations.activate_relationship(partner.id, tenant.id)

    assert first.id == again.id == asked.id
    with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Relationship)) == 1
        assert relationship_rule.is_active(session, partner.id, tenant.id)
