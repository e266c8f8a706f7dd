"""Portal users: one account per address however it is typed, passwords as
slow hashes, and server-side sessions that end when they should."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tenants import db
from tenants.access import portal_users
from tenants.errors import Conflict, InputError, NotFound
from tenants.models import PortalSession, PortalUser, utcnow
from tests.factories import new_partner, new_tenant

pytestmark = pytest.mark.usefixtures("settings")

HOUR = timedelta(hours=1)
PASSWORD = "a long enough password"


def address() -> str:
    return f"User.{uuid.uuid4().hex[:10]}@Example.test"


def new_user(email: str | None = None, **kwargs) -> PortalUser:
    tenant = new_tenant()
    user, _ = portal_users.create_user(
        "tenant", email or address(), password=PASSWORD, tenant_id=tenant.id, **kwargs
    )
    return user


def sessions_of(user: PortalUser) -> int:
    with db.transaction() as session:
        return session.scalar(
            select(func.count()).select_from(PortalSession).where(PortalSession.user_id == user.id)
        )


def disable(user: PortalUser) -> None:
    with db.transaction() as session:
        session.get(PortalUser, user.id).disabled_at = utcnow()


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("  Ann@Example.TEST ", "ann@example.test"),
        ("ＡＮＮ@example.test", "ann@example.test"),  # full-width letters
        ("STRASSE@example.test", "strasse@example.test"),
        ("Straße@example.test", "strasse@example.test"),  # case folding, not lower()
    ],
)
def test_an_address_has_one_normal_form(typed, normal):
    assert portal_users.normalize_email(typed) == normal


def test_variants_of_an_address_are_one_account():
    email = address()
    user = new_user(email)

    assert user.email == email.lower()
    with pytest.raises(Conflict) as taken:
        new_user(f"  {email.upper()} ")
    assert taken.value.code == "user_exists"
    assert portal_users.find_by_email(email.upper()).id == user.id


def test_a_user_needs_an_address_a_long_password_and_an_existing_principal():
    tenant = new_tenant()
    with pytest.raises(InputError) as no_at:
        portal_users.create_user("tenant", "not-an-address", tenant_id=tenant.id)
    assert no_at.value.field == "email"
    with pytest.raises(InputError) as short:
        portal_users.create_user("tenant", address(), password="short", tenant_id=tenant.id)
    assert short.value.field == "password"
    with pytest.raises(InputError):
        portal_users.create_user("supplier", address(), tenant_id=tenant.id)
    with pytest.raises(NotFound):
        portal_users.create_user("partner", address(), partner_id=uuid.uuid4())
    # A generated password is long enough and works.
    email = address()
    user, password = portal_users.create_user("tenant", email, tenant_id=tenant.id)
    assert len(password) >= portal_users.MIN_PASSWORD_LENGTH
    assert portal_users.check_password(email, password).id == user.id


def test_a_user_belongs_to_its_own_principal_only():
    partner, tenant = new_partner(), new_tenant()
    ids = {"partner_id": partner.id, "tenant_id": tenant.id}

    as_partner, _ = portal_users.create_user("partner", address(), password=PASSWORD, **ids)
    as_support, _ = portal_users.create_user("support", address(), password=PASSWORD, **ids)

    assert (as_partner.partner_id, as_partner.tenant_id) == (partner.id, None)
    assert (as_support.partner_id, as_support.tenant_id) == (None, None)
    assert PASSWORD not in as_partner.password_hash


def test_sign_in_needs_the_right_password_of_an_enabled_user():
    email = address()
    user = new_user(email)

    assert portal_users.check_password(f" {email.upper()}", PASSWORD).id == user.id
    assert portal_users.check_password(email, PASSWORD + "!") is None
    assert portal_users.check_password(address(), PASSWORD) is None
    disable(user)
    assert portal_users.check_password(email, PASSWORD) is None


def test_a_session_signs_in_until_it_ends_or_expires():
    user = new_user()
    first = portal_users.start_session(user.id, HOUR)
    second = portal_users.start_session(user.id, HOUR)

    assert portal_users.session_user(first).id == user.id
    portal_users.end_session(first)
    assert portal_users.session_user(first) is None
    assert portal_users.session_user(second).id == user.id  # the other browser stays in
    assert portal_users.session_user("not a session") is None

    expired = portal_users.start_session(user.id, -HOUR)
    assert portal_users.session_user(expired) is None


def test_only_a_hash_of_the_session_secret_is_stored_and_expired_ones_are_dropped():
    user = new_user()
    portal_users.start_session(user.id, -HOUR)
    assert sessions_of(user) == 1

    secret = portal_users.start_session(user.id, HOUR)

    # The expired session went with the new sign-in; the table holds the SHA-256 alone.
    with db.transaction() as session:
        [stored] = session.scalars(select(PortalSession).where(PortalSession.user_id == user.id))
    assert stored.id == hashlib.sha256(secret.encode()).hexdigest()
    assert stored.expires_at > utcnow()


def test_a_disabled_users_sessions_stop_working():
    user = new_user()
    secret = portal_users.start_session(user.id, HOUR)

    disable(user)

    assert portal_users.session_user(secret) is None


def test_a_new_password_ends_every_session_and_the_old_password():
    email = address()
    user = new_user(email)
    secrets = [portal_users.start_session(user.id, HOUR) for _ in range(3)]

    new_password = portal_users.set_password(email.upper())

    assert all(portal_users.session_user(s) is None for s in secrets)
    assert portal_users.check_password(email, PASSWORD) is None
    assert portal_users.check_password(email, new_password).id == user.id
    with pytest.raises(InputError):
        portal_users.set_password(email, "short")


def test_signing_out_everywhere_ends_only_that_users_sessions():
    email = address()
    user, bystander = new_user(email), new_user()
    for _ in range(2):
        portal_users.start_session(user.id, HOUR)
    kept = portal_users.start_session(bystander.id, HOUR)

    assert portal_users.sign_out_everywhere(email) == 2
    assert sessions_of(user) == 0
    assert portal_users.session_user(kept).id == bystander.id
    assert portal_users.sign_out_everywhere(email) == 0
    with pytest.raises(NotFound):
        portal_users.sign_out_everywhere(address())
