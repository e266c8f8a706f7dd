"""API clients: creation, secret hashing, lookup. Secrets are stored only as
slow salted hashes and shown once, at creation."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from tenants import audit, db
from tenants.errors import InputError, NotFound
from tenants.models import ApiClient, Partner, Tenant, utcnow

PRINCIPAL_KINDS = ("partner", "tenant", "support", "supplier")


@dataclass(frozen=True)
class IssuedClient:
    client_id: str
    client_secret: str
    principal_kind: str
    scopes: str


def hash_secret(secret: str) -> str:
    return generate_password_hash(secret, method="scrypt")


# Checked against when nothing is stored (an unknown or revoked client ID, an
# address with no portal account), so that path costs what a wrong secret costs.
_NOTHING_STORED = hash_secret(secrets.token_urlsafe(16))


def secret_matches(stored_hash: str | None, secret: str | None) -> bool:
    """Whether ``secret`` matches ``stored_hash``, after exactly one slow hash
    check whatever the inputs: an unknown account, an empty secret, a wrong one
    and the right one take the same time, so the answer's timing reveals nothing."""
    matches = check_password_hash(stored_hash or _NOTHING_STORED, secret or "")
    return bool(stored_hash) and bool(secret) and matches


def verify_secret(client: ApiClient, secret: str) -> bool:
    return secret_matches(client.secret_hash, secret)


def create_client(
    kind: str,
    *,
    scopes: tuple[str, ...],
    partner_id: uuid.UUID | None = None,
    tenant_id: uuid.UUID | None = None,
    supplier_id: str | None = None,
    name: str | None = None,
) -> IssuedClient:
    if kind not in PRINCIPAL_KINDS:
        raise InputError(f"unknown principal kind {kind!r}", field="kind")
    client_id = f"{kind[:2]}_{secrets.token_urlsafe(12)}"
    secret = secrets.token_urlsafe(32)
    with db.transaction() as session:
        if kind == "partner" and session.get(Partner, partner_id) is None:
            raise NotFound(f"no partner with ID {partner_id}")
        if kind == "tenant" and session.get(Tenant, tenant_id) is None:
            raise NotFound(f"no tenant with ID {tenant_id}")
        if kind == "supplier" and not supplier_id:
            raise InputError("a supplier client needs a supplier ID", field="supplier")
        session.add(
            ApiClient(
                client_id=client_id,
                secret_hash=hash_secret(secret),
                principal_kind=kind,
                partner_id=partner_id if kind == "partner" else None,
                tenant_id=tenant_id if kind == "tenant" else None,
                supplier_id=supplier_id if kind == "supplier" else None,
                scopes=" ".join(scopes),
                name=name,
            )
        )
        audit.record(
            session,
            "client.created",
            object_type="client",
            object_id=client_id,
            tenant_id=tenant_id if kind == "tenant" else None,
            detail={"kind": kind, "scopes": list(scopes), "name": name},
        )
    return IssuedClient(client_id, secret, kind, " ".join(scopes))


def find_active(client_id: str) -> ApiClient | None:
    with db.transaction() as session:
        return session.scalars(
            select(ApiClient).where(
                ApiClient.client_id == client_id, ApiClient.revoked_at.is_(None)
            )
        ).first()


def _client(session, client_id: str) -> ApiClient:
    row = session.scalars(select(ApiClient).where(ApiClient.client_id == client_id)).first()
    if row is None:
        raise NotFound(f"no client with ID {client_id}")
    return row


def rotate_secret(client_id: str, *, end_tokens: bool = True) -> str:
    """A new secret for the client; the old one stops working at once, and so
    do the tokens minted before (their generation is no longer the client's).
    ``end_tokens=False`` keeps those tokens until they expire, for a planned
    rotation where nothing leaked."""
    secret = secrets.token_urlsafe(32)
    with db.transaction() as session:
        row = _client(session, client_id)
        if row.revoked_at is not None:
            raise InputError(f"client {client_id} is revoked; create a new client instead")
        row.secret_hash = hash_secret(secret)
        if end_tokens:
            row.token_generation = ApiClient.token_generation + 1
        audit.record(
            session,
            "client.secret_rotated",
            object_type="client",
            object_id=client_id,
            tenant_id=row.tenant_id,
            detail={"tokens_ended": end_tokens},
        )
    return secret


def revoke(client_id: str) -> None:
    """The client can get no new token, and its tokens stop working at once."""
    with db.transaction() as session:
        row = _client(session, client_id)
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            audit.record(
                session,
                "client.revoked",
                object_type="client",
                object_id=client_id,
                tenant_id=row.tenant_id,
            )


def active_client(session, client_id: str) -> ApiClient | None:
    """The client, unless it was revoked: what a token's bearer is read from."""
    return session.scalars(
        select(ApiClient).where(ApiClient.client_id == client_id, ApiClient.revoked_at.is_(None))
    ).first()


def principal_id(client: ApiClient) -> str | None:
    """The ID of the principal the client belongs to (None for support)."""
    value = client.partner_id or client.tenant_id or client.supplier_id
    return str(value) if value else None
