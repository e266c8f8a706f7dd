"""What support sees: everything tied to a request ID, across tenants."""

from __future__ import annotations

import uuid

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tenants import orders
from tenants.hardware_hash import identity_key, normalize_identity_part, uuid_identity_key
from tenants.models import (
    AuditEvent,
    DeviceClaim,
    Order,
    Partner,
    Registration,
    Relationship,
    RequestLog,
    Tenant,
)
from tenants.scoping import unscoped

_ROW_LIMIT = 200


def trace_request(session: Session, request_id: str) -> dict | None:
    """The request(s) logged under this ID and the objects they created or
    changed; None when nothing carries the ID."""
    with unscoped("support: trace a request ID across tenants"):
        requests = session.scalars(
            select(RequestLog).where(RequestLog.request_id == request_id).order_by(RequestLog.at)
        ).all()
        created_orders = session.scalars(
            select(Order).where(Order.request_id == request_id).order_by(Order.created_at)
        ).all()
        touched = or_(
            Registration.request_id == request_id, Registration.updated_request_id == request_id
        )
        row_total = session.scalar(select(func.count()).select_from(Registration).where(touched))
        failed_rows = session.scalars(
            select(Registration)
            .where(touched, Registration.error_code.is_not(None))
            .order_by(Registration.order_pk, Registration.line_index)
            .limit(_ROW_LIMIT)
        ).all()
        changed_relationships = session.scalars(
            select(Relationship).where(Relationship.request_id == request_id)
        ).all()
        events = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.request_id == request_id)
            .order_by(AuditEvent.at, AuditEvent.id)
            .limit(_ROW_LIMIT)
        ).all()
        order_bodies = [
            {
                "id": order.id,
                "tenant_id": order.tenant_id,
                "partner_id": order.partner_id,
                "order_id": order.order_id,
                "status": order.status,
                "row_count": order.row_count,
                "created_at": order.created_at,
                "completed_at": order.completed_at,
                "counts": orders.order_counts(session, order.id),
            }
            for order in created_orders
        ]
    if not (requests or created_orders or row_total or changed_relationships or events):
        return None
    return {
        "request_id": request_id,
        "requests": requests,
        "orders": order_bodies,
        "registrations_touched": row_total,
        "failed_registrations": failed_rows,
        "relationships": changed_relationships,
        "audit_events": events,
    }


def device_history(session: Session, serial_number: str, manufacturer: str | None = None) -> dict:
    """Who owns a device now, and every registration of it across tenants,
    oldest first. Matches the serial number case- and space-insensitively."""
    wanted = normalize_identity_part(serial_number)
    # A device whose serial number is a firmware placeholder is known by its
    # SMBIOS UUID, which support can look up in its place.
    patterns = [f"%\x1f{_escape_like(wanted)}"]
    keys_wanted = [identity_key(manufacturer or "", serial_number)]
    try:
        smbios_uuid = str(uuid.UUID(serial_number.strip()))
    except ValueError:
        pass
    else:
        patterns.append(f"%\x1fuuid:{smbios_uuid}")
        keys_wanted.append(uuid_identity_key(manufacturer or "", smbios_uuid))
    with unscoped("support: a device's owners across tenants"):
        stmt = (
            select(Registration, Tenant.name, Partner.name, Order.order_id)
            .join(Order, Order.id == Registration.order_pk)
            .join(Tenant, Tenant.id == Registration.tenant_id)
            .outerjoin(Partner, Partner.id == Registration.partner_id)
            .where(or_(*(Registration.identity_key.like(p, escape="\\") for p in patterns)))
            .order_by(Registration.created_at, Registration.id)
            .limit(_ROW_LIMIT)
        )
        if manufacturer:
            stmt = stmt.where(Registration.identity_key.in_(keys_wanted))
        rows = session.execute(stmt).all()
        keys = {reg.identity_key for reg, *_ in rows}
        claims = session.execute(
            select(
                DeviceClaim.identity_key,
                DeviceClaim.tenant_id,
                DeviceClaim.registration_id,
                Tenant.name,
            )
            .join(Tenant, Tenant.id == DeviceClaim.tenant_id)
            .where(DeviceClaim.identity_key.in_(keys))
        ).all()
        events = session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.object_type == "device",
                AuditEvent.object_id.in_([str(reg.id) for reg, *_ in rows]),
            )
            .order_by(AuditEvent.at, AuditEvent.id)
        ).all()
    return {
        "serial_number": serial_number,
        "owners": [
            {"tenant_id": tenant_id, "tenant_name": name, "registration_id": registration_id}
            for _key, tenant_id, registration_id, name in claims
        ],
        "registrations": [
            {
                "registration": reg,
                "tenant_name": tenant_name,
                "partner_name": partner_name,
                "order_reference": order_reference,
            }
            for reg, tenant_name, partner_name, order_reference in rows
        ],
        "events": events,
    }


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
