"""People who sign in to the portal. Each belongs to one principal (a partner,
a customer tenant, or support), as an API client does; passwords are kept only
as slow salted hashes.

Sessions live here too, on the server: a signed-in browser holds a random
secret, and a session is only as good as its row. Signing out deletes the row;
a new password and an administrator's "sign out everywhere" delete all of a
user's rows, so a cookie copied before stops working at once.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
import uuid
from datetime import timedelta

from sqlalchemy import delete, func, select, update

from tenants import audit, db
from tenants.access.clients import hash_secret, secret_matches
from tenants.errors import Conflict, InputError, NotFound
from tenants.models import Partner, PortalSession, PortalUser, Tenant, utcnow

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
    _check_password_length(password)
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
        _audit(session, user, "created", {"kind": kind, "email": email})
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
    active = user if user is not None and user.disabled_at is None else None
    matches = secret_matches(active.password_hash if active else None, password)
    return active if matches else None


def _session_id(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def start_session(user_id: uuid.UUID, lifetime: timedelta) -> str:
    """A new session for the user; returns its secret, for the cookie only."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    with db.transaction() as session:
        # The user's expired sessions are of no use to anyone: drop them.
        session.execute(
            delete(PortalSession).where(
                PortalSession.user_id == user_id, PortalSession.expires_at <= now
            )
        )
        session.add(
            PortalSession(
                id=_session_id(secret), user_id=user_id, created_at=now, expires_at=now + lifetime
            )
        )
    return secret


def session_user(secret: str) -> PortalUser | None:
    """The user a session secret signs in, while the session lasts and the
    user is allowed in; else None."""
    with db.transaction() as session:
        return session.scalars(
            select(PortalUser)
            .join(PortalSession, PortalSession.user_id == PortalUser.id)
            .where(
                PortalSession.id == _session_id(secret),
                PortalSession.expires_at > utcnow(),
                PortalUser.disabled_at.is_(None),
            )
        ).first()


def set_language(user_id: uuid.UUID, language: str) -> None:
    """Remember the language a person reads the portal in, for every browser."""
    with db.transaction() as session:
        session.execute(
            update(PortalUser).where(PortalUser.id == user_id).values(language=language)
        )


def end_session(secret: str) -> None:
    """Sign one browser out."""
    with db.transaction() as session:
        session.execute(delete(PortalSession).where(PortalSession.id == _session_id(secret)))


def _user_by_email(session, email: str) -> PortalUser:
    user = session.scalars(
        select(PortalUser).where(PortalUser.email == normalize_email(email))
    ).first()
    if user is None:
        raise NotFound(f"no portal user {normalize_email(email)}")
    return user


def _end_all_sessions(session, user: PortalUser) -> int:
    return session.execute(delete(PortalSession).where(PortalSession.user_id == user.id)).rowcount


def sign_out_everywhere(email: str) -> int:
    """End every session of the user at once (an administrator's action);
    returns how many there were."""
    with db.transaction() as session:
        user = _user_by_email(session, email)
        ended = _end_all_sessions(session, user)
        _audit(session, user, "signed_out_everywhere", {"sessions_ended": ended})
    return ended


def set_password(email: str, password: str | None = None) -> str:
    """A new password for the user (generated when not given), which ends
    every session signed in with the old one. Returns the password."""
    password = password or secrets.token_urlsafe(12)
    _check_password_length(password)
    with db.transaction() as session:
        user = _user_by_email(session, email)
        user.password_hash = hash_secret(password)
        ended = _end_all_sessions(session, user)
        _audit(session, user, "password_changed", {"sessions_ended": ended})
    return password


def _check_password_length(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(
            f"the password needs at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )


def demo_user(
    kind: str, email: str, *, partner_id: uuid.UUID, tenant_id: uuid.UUID
) -> tuple[str, str]:
    """A demo sign-in of this kind with a fresh password: (email, password)."""
    password = secrets.token_urlsafe(12)
    email = normalize_email(email)
    if find_by_email(email) is not None:
        return email, set_password(email, password)
    create_user(
        kind,
        email,
        password=password,
        name=f"Demo {kind}",
        partner_id=partner_id,
        tenant_id=tenant_id,
    )
    return email, password


def _audit(session, user: PortalUser, what: str, detail: dict) -> None:
    """One audit event about a portal user (``portal_user.<what>``)."""
    audit.record(
        session,
        f"portal_user.{what}",
        object_type="portal_user",
        object_id=user.id,
        tenant_id=user.tenant_id,
        detail=detail,
    )
