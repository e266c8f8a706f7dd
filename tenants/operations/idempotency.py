"""Idempotency keys: a client that retries a submission with the same
``Idempotency-Key`` gets the first response again instead of a second order.

The key is remembered in the same transaction as the order it created, so
either both exist or neither. Keys belong to one principal and expire after a
configurable time (at least 24 hours).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from tenants import db
from tenants.errors import InputError
from tenants.models import IdempotencyKey, utcnow

_KEY = re.compile(r"[\x21-\x7e]{1,200}")


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str
    location: str | None


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise InputError(
            "The Idempotency-Key header must be 1 to 200 visible ASCII characters, such as a "
            "UUID you generate once per order and send again with every retry of it.",
            code="idempotency_key_invalid",
            field="Idempotency-Key",
        )
    return key


def find(session: Session, principal: str, key: str, fingerprint: str) -> StoredResponse | None:
    """The stored response for this key, None for a new (or expired) key.

    Raises when the key was used for a different request."""
    row = session.get(IdempotencyKey, (principal, key))
    if row is None:
        return None
    if row.expires_at <= utcnow():
        session.delete(row)
        session.flush()
        return None
    if row.fingerprint != fingerprint:
        raise InputError(
            f"The Idempotency-Key {key!r} was already used for a different request (request "
            f"ID {row.request_id}). Use a new key for a new order; send exactly the same "
            "request to retry the first one.",
            code="idempotency_key_reused",
            field="Idempotency-Key",
        )
    return StoredResponse(row.status, row.body, row.location)


def remember(
    session: Session,
    principal: str,
    key: str,
    fingerprint: str,
    response: StoredResponse,
    *,
    request_id: str,
    ttl: timedelta,
) -> None:
    """Store the response; a concurrent duplicate fails on the primary key at flush."""
    now = utcnow()
    session.add(
        IdempotencyKey(
            principal=principal,
            key=key,
            fingerprint=fingerprint,
            status=response.status,
            body=response.body,
            location=response.location,
            request_id=request_id,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    session.flush()


def purge_expired(session: Session) -> int:
    result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= utcnow()))
    return db.affected_rows(result)
