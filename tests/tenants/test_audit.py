"""The audit trail records who changed what, under which request, from the
context the HTTP layer or the job bound."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from config import logging as log_context
from tenants import audit, db
from tenants.models import AuditEvent
from tests.factories import new_tenant

pytestmark = pytest.mark.usefixtures("settings")


def recorded(object_id: str) -> list[AuditEvent]:
    with db.transaction() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.object_id == object_id).order_by(AuditEvent.id)
            )
        )


def test_an_event_carries_the_actor_and_request_of_its_context():
    tenant = new_tenant()
    device_id = uuid.uuid4()

    with log_context.bound(principal=f"tenant:{tenant.id}", request_id="req-audit-1"):
        with db.transaction() as session:
            audit.record(
                session,
                "device.deregistered",
                object_type="device",
                object_id=device_id,
                tenant_id=tenant.id,
                detail={"serial_number": "SN-1", "count": 2, "nested": {"ok": True}},
            )

    [event] = recorded(str(device_id))
    assert (event.actor, event.request_id, event.action, event.object_type) == (
        f"tenant:{tenant.id}",
        "req-audit-1",
        "device.deregistered",
        "device",
    )
    assert event.tenant_id == tenant.id
    assert event.detail == {"serial_number": "SN-1", "count": 2, "nested": {"ok": True}}
    assert event.at is not None and event.at.tzinfo is not None


def test_without_a_context_the_system_is_the_actor():
    object_id = f"client-{uuid.uuid4().hex}"

    with db.transaction() as session:
        audit.record(session, "client.created", object_type="client", object_id=object_id)

    [event] = recorded(object_id)
    assert (event.actor, event.request_id, event.tenant_id, event.detail) == (
        "system",
        None,
        None,
        None,
    )


def test_events_are_kept_in_the_order_they_happened_and_only_with_their_transaction():
    object_id = f"client-{uuid.uuid4().hex}"
    with db.transaction() as session:
        for action in ("client.created", "client.secret_rotated", "client.revoked"):
            audit.record(session, action, object_type="client", object_id=object_id)
    with pytest.raises(RuntimeError):
        with db.transaction() as session:
            audit.record(session, "client.revoked", object_type="client", object_id=object_id)
            raise RuntimeError("the change failed")

    assert [e.action for e in recorded(object_id)] == [
        "client.created",
        "client.secret_rotated",
        "client.revoked",
    ]
