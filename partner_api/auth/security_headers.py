"""Security headers on every response.

The API answers JSON (and CSV) only: nothing may be sniffed, framed, cached
by shared caches, or run scripts. The interactive docs and the portal are
the HTML pages; they load their scripts and styles from this service only.
"""

from __future__ import annotations

from flask import Flask, Response, request

_COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
_API_CSP = "default-src 'none'; frame-ancestors 'none'"
# Swagger UI starts from an inline script and inline styles.
_DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'"
)


# The portal's pages load scripts and styles from this service only, and its
# forms post only here.
_PORTAL_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def _policy() -> str:
    if request.path == "/docs" or request.path.startswith("/docs/"):
        return _DOCS_CSP
    if request.path.startswith("/portal/"):
        return _PORTAL_CSP
    return _API_CSP


def _secure_headers(response: Response) -> Response:
    for name, value in _COMMON.items():
        response.headers.setdefault(name, value)
    docs = request.path == "/docs" or request.path.startswith("/docs/")
    response.headers.setdefault("Content-Security-Policy", _policy())
    if not docs:
        # Tokens, devices and errors must not linger in shared caches.
        response.headers.setdefault("Cache-Control", "no-store")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def init_app(app: Flask) -> None:
    app.after_request(_secure_headers)
