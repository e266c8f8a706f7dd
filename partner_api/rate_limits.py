"""Rate limits per API client (Flask-Limiter, counters in Redis so every API
process shares them).

A request with a bearer token counts against its client, at the limit of its
principal kind (``RATE_LIMIT_PARTNER`` and friends); a request without one
counts against its address (``RATE_LIMIT_ANONYMOUS``), token requests and
sign-ins included. Portal sign-in attempts also count per account and address
(``RATE_LIMIT_SIGN_IN``, partner_api/portal/__init__.py), and failures per
account from all addresses together meet a backstop that delays rather than
locks (partner_api/failed_attempts.py). Behind load balancers the address is
the caller's only when ``TRUSTED_PROXY_HOPS`` says how many there are (else
every caller is the balancer, and one caller's guessing delays the others).
Health checks are never limited, nor are the portal's and the docs' static
assets, nor the scraper that holds ``METRICS_TOKEN``. Over the limit: 429
problem JSON with ``Retry-After``.
"""

from __future__ import annotations

from flask import Flask, current_app, g, request
from flask_limiter import Limiter

from jobs.connection import redis_url
from partner_api import metrics
from partner_api.auth.portal_sessions import portal_principal
from partner_api.auth.tokens import authenticate
from partner_api.errors import ApiError

_UNLIMITED_PATHS = ("/healthz", "/readyz")
# Stylesheets and scripts every page loads: cheap, and not worth a budget.
_UNLIMITED_PREFIXES = ("/portal/static/", "/docs/assets/")


def _principal():
    """The caller, when the request carries a valid token or comes from a
    signed-in portal user (else None: an invalid token is refused by the
    route itself)."""
    if "principal" in g:
        return g.principal
    if not request.headers.get("Authorization", "").lower().startswith("bearer "):
        return portal_principal()
    try:
        return authenticate()
    except ApiError:
        return None


def _key() -> str:
    principal = _principal()
    if principal is not None:
        return f"client:{principal.client_id}"
    # Anything else, token requests included, counts against its address:
    # naming a client ID (or another one each time) buys no budget of its own.
    return f"address:{request.remote_addr}"


def _limit() -> str:
    limits = current_app.extensions["partner_api.settings"].rate_limits
    principal = _principal()
    return limits.get(principal.kind if principal else "anonymous", limits["anonymous"])


def _exempt() -> bool:
    if request.path == "/metrics":
        # The configured scraper only; anyone else counts like any caller.
        return metrics.is_scraper()
    return request.path in _UNLIMITED_PATHS or request.path.startswith(_UNLIMITED_PREFIXES)


def _storage_uri(app: Flask) -> str:
    url = redis_url(app.extensions["partner_api.settings"])
    # The embedded Redis listens on a unix socket.
    return "redis+unix://" + url.removeprefix("unix://") if url.startswith("unix://") else url


def init_app(app: Flask) -> Limiter:
    limiter = Limiter(
        key_func=_key,
        app=app,
        default_limits=[_limit],
        default_limits_exempt_when=_exempt,
        headers_enabled=True,
        strategy="fixed-window",
        storage_uri=_storage_uri(app),
        # Redis unreachable: let requests through rather than fail them all.
        swallow_errors=True,
    )
    app.extensions["partner_api.limiter"] = limiter
    return limiter
