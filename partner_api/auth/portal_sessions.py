"""Portal sign-in: a signed session cookie carrying the secret of a session
kept on the server (tenants/access/portal_users.py), checked on every request, so
signing out, a new password or an administrator ends it at once.

A signed-in person acts as their principal (partner, tenant or support) with
every scope of its kind, under the same data scope an API token of that
principal gets, so the portal reads and writes exactly what that principal's
API client could. Forms carry a CSRF token (Flask-WTF).
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from flask import Flask, current_app, g, redirect, request, session, url_for
from flask_wtf.csrf import CSRFProtect

from config.settings import Settings
from partner_api import failed_attempts
from partner_api.auth.principals import SCOPES_BY_KIND, Principal, acting_as
from partner_api.errors import NOT_FOUND_DETAIL
from tenants.access import portal_users
from tenants.errors import NotFound
from tenants.models import PortalUser

PREFIX = "/portal"
csrf = CSRFProtect()


def _secret_key(path: Path) -> str:
    """The key that signs session cookies; every API process must share it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        key = secrets.token_hex(32)
        handle.write(key)
    return key


def init_app(app: Flask, settings: Settings) -> None:
    app.config.update(
        SECRET_KEY=_secret_key(settings.portal_secret_key_file),
        SESSION_COOKIE_NAME="portal_session",
        SESSION_COOKIE_PATH=PREFIX,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.portal_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.portal_session_hours),
        # Only the portal's forms are checked (see ``signed_in``); the API
        # authenticates with bearer tokens, which a browser never sends by itself.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,
    )
    csrf.init_app(app)


def _principal_of(user: PortalUser) -> Principal:
    principal_id = user.partner_id or user.tenant_id
    return Principal(
        kind=user.principal_kind,
        id=str(principal_id) if principal_id else None,
        client_id=f"portal:{user.email}"[:64],
        scopes=frozenset(SCOPES_BY_KIND[user.principal_kind]),
    )


def portal_principal() -> Principal | None:
    """The principal of the signed-in portal user, else None."""
    if "principal" in g:
        return g.principal
    if not request.path.startswith(PREFIX + "/"):
        return None
    secret = session.get("session_secret")
    user = portal_users.session_user(secret) if isinstance(secret, str) else None
    if user is None:
        return None
    g.portal_user = user
    g.principal = _principal_of(user)
    return g.principal


def sign_in_account() -> str:
    """The account a sign-in form names, in the one form (``normalize_email``)
    used both to look it up and to count attempts against it."""
    return portal_users.normalize_email(request.form.get("email", ""))


def check_password(account: str, password: str) -> PortalUser | None:
    """``portal_users.check_password`` behind the failed-attempt backstop: 429
    (``ApiError``) while the account must wait, and a wrong password counts."""
    failures = failed_attempts.backstop("sign-in")
    failures.check(account)
    user = portal_users.check_password(account, password)
    if user is None:
        failures.record_failure(account)
    return user


def sign_in(user: PortalUser) -> None:
    # A new cookie from scratch: nothing set before signing in carries over.
    session.clear()
    session.permanent = True
    lifetime = current_app.permanent_session_lifetime
    session["session_secret"] = portal_users.start_session(user.id, lifetime)


def sign_out() -> None:
    secret = session.get("session_secret")
    if isinstance(secret, str):
        portal_users.end_session(secret)
    session.clear()


def safe_next(target: str | None) -> str | None:
    """A place in the portal to go back to after signing in, never elsewhere."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//"):
        return target
    return None


def signed_in(*kinds: str) -> Callable:
    """The view needs a signed-in user of one of ``kinds``: strangers are sent
    to the sign-in page, other kinds get a 404 (as if the page did not exist),
    and the view runs in the user's data scope. Forms must carry the CSRF token."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            principal = portal_principal()
            if principal is None:
                return redirect(url_for("portal.sign_in", next=request.full_path.rstrip("?")))
            if principal.kind not in kinds:
                raise NotFound(NOT_FOUND_DETAIL)
            if request.method == "POST":
                csrf.protect()
            with acting_as(principal):
                return view(*args, **kwargs)

        # Read by the portal isolation test: every portal page declares who may see it.
        vars(wrapper)["portal_kinds"] = kinds
        return wrapper

    return decorator
