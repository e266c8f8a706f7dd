"""Problems as the portal shows them: the API's problem (``problem_of`` in
partner_api/errors.py, the same status and detail), inline on a form or as
an error page.

A page never tells whether something exists (every 404 says the same), and
speaks to a person where the API speaks to a client (an expired form, a
request limit, an upload too large).
"""

from __future__ import annotations

import functools

from flask import Blueprint, render_template
from flask_babel import gettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from partner_api.errors import NOT_FOUND_DETAIL, ApiError, problem_of, unexpected_problem
from tenants.errors import DomainError
from tenants.texts import N_

# What an error page says for these statuses of Flask's own errors.
_PAGE_DETAIL = {
    404: NOT_FOUND_DETAIL,
    413: N_("The upload is larger than this service accepts. Split it into smaller files."),
    429: N_("Too many requests. Wait a minute, then try again."),
}
_STALE_FORM = N_(
    "This form has expired or did not come from this portal. Reload the page and try again."
)


def problem_text(error: ApiError | DomainError) -> tuple[int, str]:
    """(status, what to tell the person) for an error the portal shows inline."""
    problem = problem_of(error)
    # Fixed details are catalogue texts: in the reader's language.
    return problem.status, gettext(problem.detail)


def error_page(status: int, detail: str) -> tuple[str, int]:
    return render_template("portal/error.html", status=status, detail=gettext(detail)), status


def _known_error(error: ApiError | DomainError) -> tuple[str, int]:
    status, detail = problem_text(error)
    return error_page(status, NOT_FOUND_DETAIL if status == 404 else detail)


def _stale_form(error: CSRFError) -> tuple[str, int]:
    return error_page(400, _STALE_FORM)


def _http_error(error: HTTPException) -> tuple[str, int]:
    status = error.code or 500
    detail = (
        _PAGE_DETAIL.get(status) or error.description or N_("The request could not be handled.")
    )
    return error_page(status, detail)


def _unexpected(error: Exception) -> tuple[str, int]:
    problem = unexpected_problem(error)
    return error_page(problem.status, problem.detail)


@functools.cache
def register(bp: Blueprint) -> None:
    """Answer every error of the portal's pages with an error page. Once: the
    blueprint is one object for every app, and takes handlers only before it
    is first registered."""
    bp.register_error_handler(ApiError, _known_error)
    bp.register_error_handler(DomainError, _known_error)
    bp.register_error_handler(CSRFError, _stale_form)
    bp.register_error_handler(HTTPException, _http_error)
    bp.register_error_handler(Exception, _unexpected)
