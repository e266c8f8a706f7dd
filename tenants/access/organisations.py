"""Partners and tenants: created by operators (CLI), not through the API."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

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


def display_name(
    session: Session, *, tenant_id: uuid.UUID | None, partner_id: uuid.UUID | None
) -> str | None:
    """The tenant's name, else the partner's; None for neither (support)."""
    if tenant_id:
        return session.get_one(Tenant, tenant_id).name
    if partner_id:
        return session.get_one(Partner, partner_id).name
    return None


def tenant_names(session: Session, tenant_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The names of these tenants, by ID."""
    rows = session.execute(select(Tenant.id, Tenant.name).where(Tenant.id.in_(tenant_ids)))
    return {tenant_id: name for tenant_id, name in rows}


def partner_names(session: Session, partner_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The names of these partners, by ID."""
    rows = session.execute(select(Partner.id, Partner.name).where(Partner.id.in_(partner_ids)))
    return {partner_id: name for partner_id, name in rows}
