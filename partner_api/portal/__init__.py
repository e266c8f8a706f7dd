"""The portal: pages for people, in the same app as the API (see routes.py)."""

from __future__ import annotations

from flask import Flask, current_app, request

from config.settings import Settings


def init_app(app: Flask, settings: Settings) -> None:
    from partner_api.auth import portal_sessions
    from partner_api.portal import activity, labels, languages, problems  # noqa: F401 (activity routes its pages on bp)
    from partner_api.portal.routes import bp

    portal_sessions.init_app(app, settings)
    languages.register(bp)
    labels.init_app(app)
    problems.register(bp)
    app.register_blueprint(bp)
    # Password guessing: sign-in attempts per address and account, beside the
    # general per-address limit; the account is the address as looked up.
    limiter = app.extensions["partner_api.limiter"]
    app.view_functions["portal.sign_in"] = limiter.limit(
        lambda: current_app.extensions["partner_api.settings"].rate_limits["sign_in"],
        key_func=lambda: f"sign-in:{request.remote_addr}:{portal_sessions.sign_in_account()}",
        methods=["POST"],
        override_defaults=False,
    )(app.view_functions["portal.sign_in"])
