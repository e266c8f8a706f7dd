"""The portal's language (SPEC section 12): what the person chose with the
switcher on every page, else the browser's (``Accept-Language``).

A signed-in person's choice is stored with them (``portal_users.language``),
so it follows them to every browser and across sign-ins; before signing in
the choice is kept in the ``lang`` cookie. The portal sets ``g.language``
and partner_api/i18n.py does the rest.
"""

from __future__ import annotations

import functools

from flask import Blueprint, g, redirect, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from partner_api.auth import portal_sessions as auth
from partner_api.i18n import LANGUAGES
from tenants.access import portal_users

COOKIE = "lang"
_YEAR = 365 * 24 * 3600


def choose_language() -> None:
    """Before each portal page: the language it is rendered in."""
    if request.endpoint == "portal.static":
        return
    auth.portal_principal()  # loads g.portal_user when someone is signed in
    user = g.get("portal_user")
    stored = user.language if user is not None else None
    cookie = request.cookies.get(COOKIE)
    if stored in LANGUAGES:
        g.language = stored
    elif cookie in LANGUAGES:
        g.language = cookie


def remember_at_sign_in(user) -> None:
    """A choice made before signing in becomes the person's, if they had none."""
    cookie = request.cookies.get(COOKIE)
    if user.language is None and cookie in LANGUAGES:
        portal_users.set_language(user.id, cookie)


def switch_language() -> WerkzeugResponse:
    auth.csrf.protect()
    language = request.form.get("language", "")
    back = auth.safe_next(request.form.get("next")) or url_for("portal.home")
    response = redirect(back)
    if language not in LANGUAGES:
        return response
    user = g.get("portal_user") if auth.portal_principal() else None
    if user is not None:
        portal_users.set_language(user.id, language)
    response.set_cookie(COOKIE, language, max_age=_YEAR, samesite="Lax", httponly=True)
    return response


@functools.cache
def register(bp: Blueprint) -> None:
    """Once: the blueprint is one object for every app (see problems.register)."""
    bp.before_request(choose_language)
    bp.add_url_rule("/language", "language", switch_language, methods=["POST"])
