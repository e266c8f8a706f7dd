"""Partners and tenants: created by operators (CLI), not through the API."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from tenants import db
from tenants.access.relationships import ACTIVE
from tenants.models import Partner, Relationship, Tenant, utcnow
from tenants.scoping import Scope, scoped


def create_partner(name: str) -> Partner:
    with db.transaction() as session:
        partner = Partner(name=name)
        session.add(partner)
    return partner


def create_tenant(name: str, domain: str | None = None) -> Tenant:
    with db.transaction() as session:
        tenant = Tenant(name=name, domain=domain)
        session.add(tenant)
    return tenant


def find_partner(name: str) -> Partner | None:
    with db.transaction() as session:
        return session.scalars(select(Partner).where(Partner.name == name)).first()


def find_tenant(name: str) -> Tenant | None:
    with db.transaction() as session:
        return session.scalars(select(Tenant).where(Tenant.name == name)).first()


def activate_relationship(partner_id: uuid.UUID, tenant_id: uuid.UUID) -> Relationship:
    """Request and approve in one step (operators and demos only)."""
    with scoped(Scope.tenant(tenant_id)), db.transaction() as session:
        relationship = session.scalars(
            select(Relationship).where(Relationship.partner_id == partner_id)
        ).first()
        if relationship is None:
            relationship = Relationship(partner_id=partner_id, tenant_id=tenant_id, status=ACTIVE)
            session.add(relationship)
        relationship.status = ACTIVE
        relationship.decided_at = utcnow()
    return relationship
