"""Per-request plumbing: the request ID, the database session, the request log.

The request ID is always generated here (32 lower-case hex digits), so no
caller can borrow another's and mix its activity into someone else's support
lookup. A caller's own ``X-Request-ID`` is kept beside it as the client
request ID when it is a sane token (letters, digits and ``-_.:``, up to 128
characters): logged, shown to support and searchable, never the key that ties
records together. Every response carries the request ID, and so does every
log line. A request that ends in a 5xx records the exception behind it with
the request (see ``partner_api.errors.record_unexpected``).
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request
from sqlalchemy.orm import Session

from config import logging as log_context
from partner_api.errors import ApiError
from tenants import db
from tenants.models import RequestLog

log = logging.getLogger(__name__)

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")

# Operational endpoints are polled constantly; logging them would drown the table.
_UNLOGGED_PREFIXES = ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json")


def new_request_id() -> str:
    return uuid.uuid4().hex


def client_request_id(supplied: str | None) -> str | None:
    """The caller's own request ID, when it is a sane token; else None."""
    if supplied and _SANE_REQUEST_ID.match(supplied):
        return supplied
    return None


def current_request_id() -> str:
    return getattr(g, "request_id", "") or ""


def request_session() -> Session:
    """The session of the current request, closed when the request ends."""
    session = getattr(g, "db_session", None)
    if session is None:
        session = g.db_session = db.new_session()
    return session


def _before() -> None:
    g.request_id = new_request_id()
    g.client_request_id = client_request_id(request.headers.get("X-Request-ID"))
    g.started = time.perf_counter()
    log_context.clear()
    log_context.bind(request_id=g.request_id, client_request_id=g.client_request_id)
    _refuse_nul_characters()


def _refuse_nul_characters() -> None:
    """No field of this API takes a NUL character, and the database refuses
    them in text: answer 400 here rather than fail deep inside."""
    found = "\x00" in request.path or any(
        "\x00" in key or "\x00" in value for key, value in request.args.items(multi=True)
    )
    if not found and request.is_json:
        found = b"\\u0000" in request.get_data(cache=True)
    if not found and request.mimetype in (
        "multipart/form-data",
        "application/x-www-form-urlencoded",
    ):
        found = any("\x00" in k or "\x00" in v for k, v in request.form.items(multi=True))
    if found:
        raise ApiError(
            400,
            "bad_request",
            "The request contains a NUL character (\\u0000), which no field accepts. "
            "Remove it and send the request again.",
        )


def _after(response: Response) -> Response:
    response.headers["X-Request-ID"] = current_request_id()
    # Finish the view's transaction first: on SQLite a second writer would
    # otherwise wait for it.
    _teardown(None)
    if not request.path.startswith(_UNLOGGED_PREFIXES):
        _record(response.status_code)
    return response


def _record(status: int) -> None:
    principal = getattr(g, "principal", None)
    elapsed = int((time.perf_counter() - getattr(g, "started", time.perf_counter())) * 1000)
    try:
        with db.transaction() as session:
            session.add(
                RequestLog(
                    request_id=current_request_id(),
                    client_request_id=g.get("client_request_id"),
                    principal_kind=principal.kind if principal else None,
                    principal_id=principal.id if principal else None,
                    client_id=principal.client_id if principal else None,
                    method=request.method,
                    path=request.full_path.rstrip("?")[:2000],
                    status=status,
                    duration_ms=elapsed,
                    error=g.get("unexpected_error") if status >= 500 else None,
                )
            )
    except Exception:  # the request log must never break the response
        log.exception("could not record the request")
    log.info(
        "request",
        extra={
            "method": request.method,
            "path": request.path,
            "status": status,
            "duration_ms": elapsed,
        },
    )


def _teardown(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def init_app(app: Flask) -> None:
    app.before_request(_before)
    app.after_request(_after)
    app.teardown_request(_teardown)
