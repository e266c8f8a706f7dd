"""The audit trail: one append-only row per change a person or client made.

The actor and request ID come from the context the HTTP layer or the job
bound (config/logging.py), so callers name only what changed.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from config import logging as log_context
from tenants.models import AuditEvent


def record(
    session: Session,
    action: str,
    *,
    object_type: str,
    object_id: uuid.UUID | str,
    tenant_id: uuid.UUID | None = None,
    detail: dict | None = None,
) -> AuditEvent:
    context = log_context.context()
    event = AuditEvent(
        request_id=context.get("request_id"),
        actor=context.get("principal") or "system",
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        tenant_id=tenant_id,
        detail=detail,
    )
    session.add(event)
    return event
