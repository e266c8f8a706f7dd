"""Commands on a tenant's devices: deregister one, change its group tag,
record its check-in; and the sweeper's telling of devices gone silent.

The device list and its query are in tenants/registration/device_list.py;
what a state means, and the ``active``/``inactive`` computed from check-ins,
in tenants/outcomes.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tenants import audit, db, outcomes
from tenants.errors import Conflict, InputError, NotFound
from tenants.events import outbox
from tenants.ingest import group_tags
from tenants.models import Event, Registration, utcnow
from tenants.registration import counters, ownership
from tenants.scoping import unscoped
from tenants.texts import N_

# How far ahead of our clock a reported check-in time may be.
CLOCK_SKEW = timedelta(minutes=5)


def get_device(session: Session, device_id: uuid.UUID, *, lock: bool = False) -> Registration:
    """One registration of the tenant in scope (another tenant's is not found).
    With ``lock``, read as it is now and held until COMMIT."""
    device = (
        session.get(Registration, device_id, with_for_update=True, populate_existing=True)
        if lock
        else session.get(Registration, device_id)
    )
    if device is None:
        raise NotFound(N_("There is no device with this ID."))
    return device


def _require_registered(device: Registration, doing: str) -> None:
    if device.registered_at is None:
        raise Conflict(
            f"This row was never registered ({device.state}), so it cannot be {doing}.",
            code="device_not_registered",
        )


def deregister(session: Session, device_id: uuid.UUID, request_id: str) -> Registration:
    """Release the device (see ``deregister_once``); the device as it now is."""
    return deregister_once(session, device_id, request_id)[0]


def deregister_once(
    session: Session, device_id: uuid.UUID, request_id: str
) -> tuple[Registration, bool]:
    """Release the device: its claim goes, so another tenant may register it
    later (resale, repair); the row stays, ``deregistered``, as history.

    One conditional UPDATE from the registered state decides: of several
    deregistrations sent at once exactly one changes the row, releases the
    claim and records the event; the others answer the device as it now is.
    """
    device = get_device(session, device_id)
    _require_registered(device, "deregistered")
    now = utcnow()
    updated = session.execute(
        update(Registration)
        .where(Registration.id == device.id, Registration.state == outcomes.READY)
        .values(
            state=outcomes.DEREGISTERED,
            deregistered_at=now,
            updated_request_id=request_id,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    changed = db.affected_rows(updated)
    session.refresh(device)
    if not changed:
        return device, False
    counters.rows_moved(session, device, 1, (outcomes.READY, None), (outcomes.DEREGISTERED, None))
    # No longer ready_for_user: its check-in no longer splits active from inactive.
    counters.check_in_moved(session, device, device.last_seen_at, None)
    ownership.release(session, device.id)
    audit.record(
        session,
        "device.deregistered",
        object_type="device",
        object_id=device.id,
        tenant_id=device.tenant_id,
        detail={"serial_number": device.serial_number, "manufacturer": device.manufacturer},
    )
    _record_event(session, outbox.DEVICE_DEREGISTERED, device)
    return device, True


def set_group_tag(
    session: Session, device_id: uuid.UUID, tag: str | None, request_id: str
) -> tuple[Registration, bool]:
    """Give a registered device another group tag (None: none), held to the
    tenant's group-tag policy (tenants/ingest/group_tags.py); whether it
    changed. Locked, so of two changes sent at once each sees the other's."""
    device = get_device(session, device_id, lock=True)
    _require_registered(device, "given a group tag")
    if device.state != outcomes.READY:
        raise Conflict(
            "This device is deregistered; only a registered device has a group tag.",
            code="device_deregistered",
        )
    problem = group_tags.policy_for(session, device.tenant_id).problem(tag)
    if problem:
        raise InputError(f"The group tag is not accepted: {problem}.", field="group_tag")
    if device.group_tag == tag:
        return device, False
    before = device.group_tag
    device.group_tag = tag
    device.updated_request_id = request_id
    device.updated_at = utcnow()
    audit.record(
        session,
        "device.group_tag_changed",
        object_type="device",
        object_id=device.id,
        tenant_id=device.tenant_id,
        detail={"serial_number": device.serial_number, "before": before, "after": tag},
    )
    return device, True


def check_in(
    session: Session,
    device_id: uuid.UUID,
    *,
    seen_at: datetime | None,
    user: str | None,
    request_id: str,
) -> Registration:
    """The device reported in from the tenant's device management."""
    # Locked: a deregistration or another check-in of this device waits, so
    # the counters move from the check-in that is really stored.
    device = get_device(session, device_id, lock=True)
    _require_registered(device, "checked in")
    if device.state != outcomes.READY:
        raise Conflict(
            "This device is deregistered; a check-in needs a registered device. Register it "
            "again first.",
            code="device_deregistered",
        )
    now = utcnow()
    seen_at = seen_at or now
    if seen_at.tzinfo is None:
        seen_at = seen_at.replace(tzinfo=UTC)
    if seen_at > now + CLOCK_SKEW:
        raise InputError(
            "seen_at is in the future; send the time the device reported in (UTC).",
            field="seen_at",
        )
    was = outcomes.effective_state(device.state, device.last_seen_at, now)
    # Check-ins may arrive out of order: keep the latest.
    if device.last_seen_at is None or seen_at > device.last_seen_at:
        counters.check_in_moved(session, device, device.last_seen_at, seen_at)
        device.last_seen_at = seen_at
        device.last_seen_user = user or device.last_seen_user
    device.updated_request_id = request_id
    audit.record(
        session,
        "device.checked_in",
        object_type="device",
        object_id=device.id,
        tenant_id=device.tenant_id,
        detail={"seen_at": seen_at.isoformat(), "user": user},
    )
    if (
        was != outcomes.ACTIVE
        and outcomes.effective_state(device.state, device.last_seen_at, now) == outcomes.ACTIVE
    ):
        _record_event(session, outbox.DEVICE_ACTIVE, device)
    return device


# How far back the sweep looks for devices that went inactive: a sweeper
# stopped for longer misses those older (their state still reads inactive).
INACTIVE_LOOKBACK = timedelta(days=3)
# At most this many per sweep; the next sweep takes the rest.
INACTIVE_BATCH = 5000


def record_gone_inactive(session: Session, now: datetime | None = None) -> int:
    """Write ``device.inactive`` for each registered device whose last
    check-in has just left the active window (the sweeper calls this; no one
    acts when a device falls silent). The event's ID follows from the device
    and that check-in, so a device's silence is told once however often or
    concurrently the sweep runs; a later check-in makes it active again
    (``check_in``), and its next silence is a new event."""
    now = now or utcnow()
    cutoff = now - outcomes.ACTIVE_WINDOW
    told = 0
    with unscoped("sweeper: devices of every tenant that went inactive"):
        silent = session.scalars(
            select(Registration)
            .where(
                Registration.state == outcomes.READY,
                Registration.last_seen_at < cutoff,
                Registration.last_seen_at >= cutoff - INACTIVE_LOOKBACK,
            )
            .order_by(Registration.last_seen_at)
            .limit(INACTIVE_BATCH)
        ).all()
        by_event = {_inactive_event_id(device): device for device in silent}
        told_before = set(
            session.scalars(select(Event.id).where(Event.id.in_(list(by_event)))).all()
        )
        for event_id, device in by_event.items():
            if event_id in told_before:
                continue
            try:
                with session.begin_nested():  # a concurrent sweep may write it first
                    _record_event(session, outbox.DEVICE_INACTIVE, device, event_id=event_id)
            except IntegrityError:
                continue
            told += 1
    return told


def _inactive_event_id(device: Registration) -> str:
    seen = device.last_seen_at
    assert seen is not None
    if seen.tzinfo is None:
        seen = seen.replace(tzinfo=UTC)
    name = f"{outbox.DEVICE_INACTIVE}:{device.id}:{round(seen.timestamp() * 1_000_000)}"
    return "evt_" + uuid.uuid5(uuid.NAMESPACE_URL, name).hex


def _record_event(
    session: Session,
    type: str,  # noqa: A002
    device: Registration,
    *,
    event_id: str | None = None,
) -> None:
    """A change to the customer's device (no partner acted): its event."""
    outbox.record(
        session,
        type,
        event_id=event_id,
        tenant_id=device.tenant_id,
        partner_id=None,
        data={
            "id": device.id,
            "order": device.order_pk,
            "manufacturer": device.manufacturer,
            "model": device.model,
            "serial_number": device.serial_number,
            "state": outcomes.effective_state(device.state, device.last_seen_at),
            "registered_at": device.registered_at,
            "deregistered_at": device.deregistered_at,
            "last_seen_at": device.last_seen_at,
        },
    )
