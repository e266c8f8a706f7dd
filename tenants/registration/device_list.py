"""The device list: a tenant's devices as people read them, a page at a time
or one by one, for the customer API and the portal alike.

Each row carries its state as of now and what that state means, who
registered it and its order's reference (see ``listed``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tenants.errors import NotFound
from tenants.models import Registration
from tenants.registration import devices
from tenants.registration.devices import DeviceQuery


@dataclass(frozen=True)
class DeviceListing:
    """The devices ``query`` selects, in the tenant's scope."""

    session: Session
    query: DeviceQuery

    def count(self) -> int:
        return self.session.scalar(devices.device_count(self.query)) or 0

    def page(self, limit: int, offset: int) -> list[dict]:
        rows = devices.device_page(self.session, self.query, limit=limit, offset=offset)
        return [listed(row) for row in rows]


def matching(session: Session, query: DeviceQuery) -> DeviceListing:
    """The tenant's devices that ``query`` selects, sorted as it says."""
    return DeviceListing(session, query)


def one_device(session: Session, device_id: uuid.UUID) -> dict:
    """One device of the tenant in scope, as the list shows it (another
    tenant's is not found)."""
    stmt = devices.device_rows(DeviceQuery()).where(Registration.id == device_id)
    row = session.execute(stmt).first()
    if row is None:
        raise NotFound("There is no device with this ID.")
    return listed(dict(row._mapping))


def listed(row: dict) -> dict:
    """A device-list row as people read it: the state as of now and what it
    means, who registered it, its order's reference and its age."""
    state = devices.effective_state(row["state"], row["last_seen_at"])
    return {
        **row,
        "order": row["order_pk"],
        "state": state,
        "state_meaning": devices.STATE_MEANINGS[state],
        "registered_by": row["partner_name"] or "Your organisation",
        "order_id": row["order_reference"],
        "age_days": devices.age_in_days(row["registered_at"]),
    }
