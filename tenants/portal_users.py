"""People who sign in to the portal. Each belongs to one principal (a partner,
a customer tenant, or support), as an API client does; passwords are kept only
as slow salted hashes."""

from __future__ import annotations

import secrets
import unicodedata
import uuid

from sqlalchemy import func, select

from tenants import audit, db
from tenants.clients import hash_secret, secret_matches
from tenants.errors import Conflict, InputError, NotFound
from tenants.models import Partner, PortalUser, Tenant

PORTAL_KINDS = ("partner", "tenant", "support")
MIN_PASSWORD_LENGTH = 12


def normalize_email(email: str) -> str:
    """The one form of an address, used to store it, to look it up and to count
    sign-in attempts against it: Unicode NFKC, case-folded, without surrounding
    spaces. Variants of one address ("Victim@Y.example ", full-width letters)
    are one account and share one sign-in limit."""
    folded = unicodedata.normalize("NFKC", email).casefold()
    return unicodedata.normalize("NFKC", folded).strip()


def create_user(
    kind: str,
    email: str,
    *,
    password: str | None = None,
    name: str | None = None,
    partner_id: uuid.UUID | None = None,
    tenant_id: uuid.UUID | None = None,
) -> tuple[PortalUser, str]:
    """Create a portal user; returns it and its password (generated when not given)."""
    if kind not in PORTAL_KINDS:
        raise InputError(f"a portal user is a {', '.join(PORTAL_KINDS)}; not {kind!r}")
    email = normalize_email(email)
    if "@" not in email or len(email) > 320:
        raise InputError(f"{email!r} is not an email address", field="email")
    password = password or secrets.token_urlsafe(12)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(
            f"the password needs at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    with db.transaction() as session:
        if kind == "partner" and session.get(Partner, partner_id) is None:
            raise NotFound(f"no partner with ID {partner_id}")
        if kind == "tenant" and session.get(Tenant, tenant_id) is None:
            raise NotFound(f"no tenant with ID {tenant_id}")
        if session.scalar(select(func.count()).where(PortalUser.email == email)):
            raise Conflict(f"a portal user {email} already exists", code="user_exists")
        user = PortalUser(
            email=email,
            name=name,
            password_hash=hash_secret(password),
            principal_kind=kind,
            partner_id=partner_id if kind == "partner" else None,
            tenant_id=tenant_id if kind == "tenant" else None,
        )
        session.add(user)
        session.flush()
        audit.record(
            session,
            "portal_user.created",
            object_type="portal_user",
            object_id=user.id,
            tenant_id=user.tenant_id,
            detail={"kind": kind, "email": email},
        )
    return user, password


def find_by_email(email: str) -> PortalUser | None:
    with db.transaction() as session:
        return session.scalars(
            select(PortalUser).where(PortalUser.email == normalize_email(email))
        ).first()


def check_password(email: str, password: str) -> PortalUser | None:
    """The active user with this address and password, else None. Every path
    does one hash check, so the time taken does not tell who has an account."""
    user = find_by_email(email)
    usable = user is not None and user.disabled_at is None
    matches = secret_matches(user.password_hash if usable else None, password)
    return user if usable and matches else None


def get_active(user_id: uuid.UUID) -> PortalUser | None:
    """The user behind a portal session, while it is still allowed in."""
    with db.transaction() as session:
        user = session.get(PortalUser, user_id)
        return user if user is not None and user.disabled_at is None else None


def demo_user(
    kind: str, email: str, *, partner_id: uuid.UUID, tenant_id: uuid.UUID
) -> tuple[str, str]:
    """A demo sign-in of this kind with a fresh password: (email, password)."""
    password = secrets.token_urlsafe(12)
    email = normalize_email(email)
    with db.transaction() as session:
        user = session.scalars(select(PortalUser).where(PortalUser.email == email)).first()
        if user is not None:
            user.password_hash = hash_secret(password)
            return email, password
    create_user(
        kind,
        email,
        password=password,
        name=f"Demo {kind}",
        partner_id=partner_id,
        tenant_id=tenant_id,
    )
    return email, password
