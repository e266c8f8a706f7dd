"""What support sees: everything tied to a request ID, across tenants."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tenants import orders
from tenants.models import Order, Registration, Relationship, RequestLog
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
    if not (requests or created_orders or row_total or changed_relationships):
        return None
    return {
        "request_id": request_id,
        "requests": requests,
        "orders": order_bodies,
        "registrations_touched": row_total,
        "failed_registrations": failed_rows,
        "relationships": changed_relationships,
    }
