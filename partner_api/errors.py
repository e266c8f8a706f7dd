"""One place that turns every failure into RFC 9457 problem JSON.

Every error body has ``type``, ``title``, ``status``, ``detail``, a stable
``code`` and the ``request_id``; validation failures add ``errors`` (field ->
messages). Never a stack trace, never an HTML page.

``problem_of`` is the one translation of a known error (a domain error of
tenants/errors.py, or an ``ApiError``) into a ``Problem``: the API answers it
as problem JSON, the portal shows the same status and detail on its pages
(partner_api/portal/problems.py).
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import marshmallow as ma
from flask import Flask, Response, g, json
from flask_babel import gettext
from werkzeug.exceptions import HTTPException, InternalServerError

from partner_api.i18n import problem_title
from tenants.errors import Conflict, DomainError, Forbidden, InputError, NotFound, RetryLater
from tenants.texts import N_

log = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
# What a 404 says, whether the object is missing or another organisation's.
NOT_FOUND_DETAIL = N_("There is nothing at this address, or you may not see it.")

# Stable codes for the HTTP errors raised by Flask/werkzeug itself.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}

_DOMAIN_STATUS = {
    InputError: 422,
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    RetryLater: 429,
}


class ProblemSchema(ma.Schema):
    """The body of every error response (application/problem+json, RFC 9457)."""

    type = ma.fields.String(required=True, metadata={"description": "URI naming the problem type"})
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(
        required=True, metadata={"description": "What went wrong and what to do"}
    )
    code = ma.fields.String(required=True, metadata={"description": "Stable machine-readable code"})
    request_id = ma.fields.String(required=True)
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Raw(),
        metadata={"description": "Validation failures: field (or location) -> messages"},
    )
    # OAuth 2.0 token endpoint errors also carry RFC 6749's fields.
    error = ma.fields.String()
    error_description = ma.fields.String()


class ApiError(Exception):
    """Raise from a view to answer with a specific problem."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str | None = None,
        errors: dict | None = None,
        headers: dict | None = None,
        extra: dict | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}


@dataclass(frozen=True)
class Problem:
    """What went wrong, in the words the API's problem JSON and the portal's
    pages both use."""

    status: int
    code: str
    detail: str
    title: str
    # Validation failures: field (or location) -> messages.
    errors: dict | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Members of the problem JSON beyond the common ones.
    extra: dict = field(default_factory=dict)


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    title: str | None = None,
    errors: dict | None = None,
    headers: dict | None = None,
    extra: dict | None = None,
) -> Response:
    body = {
        "type": f"urn:partner-api:problem:{code}",
        "title": title or problem_title(status),
        "status": status,
        # Fixed details are catalogue texts (marked N_): in the reader's language.
        "detail": gettext(detail),
        "code": code,
        "request_id": getattr(g, "request_id", None) or "",
    }
    if errors:
        body["errors"] = _json_keys(errors)
    if extra:
        body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _json_keys(value):
    """Field names as JSON object keys (a form field can arrive without one)."""
    if isinstance(value, dict):
        return {("" if k is None else str(k)): _json_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_keys(v) for v in value]
    return value


def describe_validation(errors: dict) -> str:
    """Turn webargs' {location: {field: [messages]}} into one readable sentence."""
    parts = []
    for location, fields in errors.items():
        if isinstance(fields, dict):
            for field, messages in fields.items():
                text = messages if isinstance(messages, str) else _flatten(messages)
                parts.append(f"{field}: {text}")
        else:
            parts.append(f"{location}: {_flatten(fields)}")
    return gettext("The request is not valid.") + " " + "; ".join(parts[:10])


def _flatten(messages) -> str:
    if isinstance(messages, dict):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in list(messages.items())[:5])
    if isinstance(messages, list | tuple):
        return " ".join(_flatten(m) for m in messages)
    return str(messages)


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or data.get("messages")
    if status in (400, 422) and errors:
        code = "validation_failed" if status == 422 else "bad_request"
        return problem_response(status, code, describe_validation(errors), errors=errors)
    if isinstance(error, InternalServerError):
        return handle_unexpected(getattr(error, "original_exception", None) or error)
    detail = data.get("message") or error.description or ""
    if status == 404:
        detail = NOT_FOUND_DETAIL
    elif status == 429:
        detail = gettext(
            "Too many requests from this client (limit: %(limit)s). Wait the number of "
            "seconds in Retry-After, then retry.",
            limit=error.description,
        )
    elif status == 405:
        detail = gettext("This address does not accept that method.")
    headers = dict(data.get("headers") or {})
    if status == 405:
        allowed = error.get_headers()
        headers.update({k: v for k, v in allowed if k.lower() == "allow"})
    return problem_response(status, _HTTP_CODES.get(status, "http_error"), detail, headers=headers)


def problem_of(error: ApiError | DomainError) -> Problem:
    """The problem a known error stands for: a domain error's status comes
    from its class, its detail says where bad input was ('orders.csv, line
    12: ...'); an ``ApiError`` says all of it itself."""
    if isinstance(error, ApiError):
        return Problem(
            status=error.status,
            code=error.code,
            detail=error.detail,
            title=error.title or problem_title(error.status),
            errors=error.errors,
            headers=dict(error.headers),
            extra=dict(error.extra),
        )
    status = next((s for cls, s in _DOMAIN_STATUS.items() if isinstance(error, cls)), 400)
    detail, errors = error.message, None
    if isinstance(error, InputError):
        location = error.location()
        if location and not error.message.startswith(location):
            detail = f"{location}: {error.message}"
        errors = {location or error.field or "body": [error.message]}
    headers = {}
    if isinstance(error, RetryLater):
        headers["Retry-After"] = str(error.retry_after)
    return Problem(
        status=status,
        code=error.code,
        detail=detail,
        title=problem_title(status),
        errors=errors,
        headers=headers,
        extra=dict(error.details),
    )


def problem_json(problem: Problem) -> Response:
    return problem_response(
        problem.status,
        problem.code,
        problem.detail,
        title=problem.title,
        errors=problem.errors,
        headers=problem.headers,
        extra=problem.extra,
    )


def handle_known_error(error: ApiError | DomainError) -> Response:
    return problem_json(problem_of(error))


# Our own code, where the "where" of an unexpected error points.
_PROJECT_ROOT = Path(__file__).resolve().parent.parent
_OWN_PACKAGES = tuple(
    str(_PROJECT_ROOT / name) for name in ("partner_api", "tenants", "jobs", "config")
)


def describe_exception(error: BaseException) -> dict:
    """What support sees of an unexpected error: its type, its message, and
    where it was raised (the innermost frame of our own code, else the
    innermost frame)."""
    frames = traceback.extract_tb(error.__traceback__) if error.__traceback__ else []
    ours = [f for f in frames if f.filename.startswith(_OWN_PACKAGES)]
    frame = (ours or frames)[-1] if frames else None
    where = None
    if frame is not None:
        path = Path(frame.filename)
        shown = path.relative_to(_PROJECT_ROOT) if path.is_relative_to(_PROJECT_ROOT) else path
        where = f"{shown}:{frame.lineno} in {frame.name}"
    return {
        "type": f"{type(error).__module__}.{type(error).__qualname__}",
        "message": str(error)[:2000],
        "where": where,
    }


def record_unexpected(error: BaseException) -> None:
    """Log an unexpected error and keep its description for the request log,
    where support finds it under the request ID."""
    log.error("unhandled error", exc_info=error)
    g.unexpected_error = describe_exception(error)


def unexpected_problem(error: BaseException) -> Problem:
    """Record an unexpected error (see ``record_unexpected``) and say only
    what the caller can act on: the request ID to give support."""
    record_unexpected(error)
    return Problem(
        status=500,
        code="internal_error",
        detail=gettext(
            "Your request could not be processed. Contact support and provide the "
            "request ID: %(request_id)s",
            request_id=getattr(g, "request_id", ""),
        ),
        title=problem_title(500),
    )


def handle_unexpected(error: BaseException) -> Response:
    return problem_json(unexpected_problem(error))


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(ApiError, handle_known_error)
    app.register_error_handler(DomainError, handle_known_error)
    app.register_error_handler(Exception, handle_unexpected)
