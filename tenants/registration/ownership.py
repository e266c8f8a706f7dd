"""Global device ownership, decided by the database.

A device is claimed by inserting its identity into ``device_claims``, whose
primary key is the normalized decoded (manufacturer, serial number). One
``INSERT ... ON CONFLICT DO NOTHING RETURNING`` per chunk claims every free
device at once; concurrent claimers of the same device serialize on the key,
so exactly one wins. Nothing here reads-then-writes to decide ownership.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, Uuid, delete, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from tenants import db, outcomes
from tenants.models import DeviceClaim, utcnow

_CLAIMS = cast(Table, DeviceClaim.__table__)
_MAX_ROUNDS = 5


@dataclass(frozen=True)
class ClaimRequest:
    registration_id: uuid.UUID
    identity_key: str


def claim(
    session: Session, tenant_id: uuid.UUID, requests: Sequence[ClaimRequest]
) -> dict[uuid.UUID, str | None]:
    """Claim devices for a tenant. Returns registration_id -> error code
    (None when this row now owns the device)."""
    result: dict[uuid.UUID, str | None] = {}
    # One lock order for every claimer: two chunks contending for the same
    # devices then wait on each other instead of deadlocking.
    todo = sorted(requests, key=lambda r: r.identity_key)
    for _ in range(_MAX_ROUNDS):
        if not todo:
            break
        won = set(_insert_claims(session, tenant_id, todo))
        for r in todo:
            if r.registration_id in won:
                result[r.registration_id] = None
        lost = [r for r in todo if r.registration_id not in won]
        todo = []
        if not lost:
            break
        owners = {
            key: (owner_tenant, owner_registration)
            for key, owner_tenant, owner_registration in session.execute(
                select(
                    _CLAIMS.c.identity_key, _CLAIMS.c.tenant_id, _CLAIMS.c.registration_id
                ).where(db.one_of(session, _CLAIMS.c.identity_key, {r.identity_key for r in lost}))
            )
        }
        retry = []
        for r in lost:
            owner = owners.get(r.identity_key)
            if owner is None:
                retry.append(r)  # released between our insert and read: try again
            elif owner[1] == r.registration_id:
                result[r.registration_id] = None
            elif owner[0] == tenant_id:
                result[r.registration_id] = outcomes.ALREADY_REGISTERED
            else:
                result[r.registration_id] = outcomes.CLAIMED_ELSEWHERE
        todo = retry
    if todo:  # still contended after every round: let the job retry
        raise RuntimeError(f"device claims {todo[0].identity_key!r}... kept changing; retry")
    return result


def _insert_claims(
    session: Session, tenant_id: uuid.UUID, requests: Sequence[ClaimRequest]
) -> list[uuid.UUID]:
    """Insert the claims that are free; returns the registrations that won."""
    now = utcnow()
    if session.get_bind().dialect.name == "postgresql":
        # One statement text for every chunk: the rows travel as arrays.
        return list(
            session.execute(
                _UNNEST_INSERT,
                {
                    "keys": [r.identity_key for r in requests],
                    "registrations": [r.registration_id for r in requests],
                    "tenant_id": tenant_id,
                    "claimed_at": now,
                },
            ).scalars()
        )
    stmt = (
        sqlite.insert(_CLAIMS)
        .values(
            [
                {
                    "identity_key": r.identity_key,
                    "tenant_id": tenant_id,
                    "registration_id": r.registration_id,
                    "claimed_at": now,
                }
                for r in requests
            ]
        )
        .on_conflict_do_nothing(index_elements=["identity_key"])
        .returning(_CLAIMS.c.registration_id)
    )
    return list(session.execute(stmt).scalars())


_UNNEST_INSERT = text(
    "INSERT INTO device_claims (identity_key, tenant_id, registration_id, claimed_at) "
    "SELECT key, :tenant_id, registration, :claimed_at "
    "FROM unnest(CAST(:keys AS varchar[]), CAST(:registrations AS uuid[])) AS t(key, registration) "
    "ON CONFLICT (identity_key) DO NOTHING RETURNING registration_id"
).columns(registration_id=Uuid)


def holders(session: Session, identity_keys: Sequence[str]) -> dict[str, uuid.UUID]:
    """Which tenant holds each of these devices now (read-only, for a preview:
    only ``claim`` decides ownership)."""
    if not identity_keys:
        return {}
    return dict(
        session.execute(
            select(_CLAIMS.c.identity_key, _CLAIMS.c.tenant_id).where(
                db.one_of(session, _CLAIMS.c.identity_key, identity_keys)
            )
        ).all()
    )


def release(session: Session, registration_id: uuid.UUID) -> bool:
    """Give up the claim a registration holds, so another tenant may register it."""
    deleted = session.execute(delete(_CLAIMS).where(_CLAIMS.c.registration_id == registration_id))
    return bool(db.affected_rows(deleted))
