"""CSV files streamed to the caller: failed rows, and the exports of lists.

``csv_response`` answers a file written by a domain function while the
response streams, after the view has returned: the function runs in its own
transaction and in the scope the view ran in (or, for support, across
tenants), both closed at the end or when the client goes away. ``wants_csv``
says whether a list was asked for as CSV (``format=csv``, or ``Accept:
text/csv``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import marshmallow as ma
from flask import Response, request, stream_with_context
from marshmallow import validate
from sqlalchemy.orm import Session

from tenants import db
from tenants.scoping import current_scope, scoped, unscoped

CSV = "text/csv"

FORMAT_DESCRIPTION = (
    "`csv`: every matching row (the filters and sort apply, the page does not) as one CSV "
    "file, streamed; the same as sending `Accept: text/csv`. Default `json`: one page."
)


class FormatSchema(ma.Schema):
    """The ``format`` query argument of a list that can be exported."""

    format = ma.fields.String(
        validate=validate.OneOf(["json", "csv"]), metadata={"description": FORMAT_DESCRIPTION}
    )


def wants_csv(arguments: dict) -> bool:
    """True when the list is asked for as CSV: ``format=csv``, or an
    ``Accept`` header that prefers text/csv to JSON (``format`` wins)."""
    chosen = arguments.get("format")
    if chosen is not None:
        return chosen == "csv"
    return request.accept_mimetypes.best_match(["application/json", CSV]) == CSV


def csv_response(
    filename: str,
    write: Callable[[Session], Iterator[str]],
    *,
    across_tenants: str | None = None,
) -> Response:
    """``write(session)``'s CSV text as a download named ``filename``.

    Runs in the caller's scope, or for support across tenants
    (``across_tenants`` is the reason)."""
    if across_tenants:
        reason = across_tenants

        def enter() -> contextlib.AbstractContextManager:
            return unscoped(reason)
    else:
        scope = current_scope()
        if scope is None:
            raise RuntimeError("a CSV file is read in a partner's or a tenant's scope")

        def enter() -> contextlib.AbstractContextManager:
            return scoped(scope)

    def generate() -> Iterator[str]:
        # The request's session and scope are gone by now: the file's own,
        # transaction-local like the row-security settings it needs.
        with enter(), db.transaction() as session:
            yield "\ufeff"  # a BOM, so spreadsheet programs read the file as UTF-8
            yield from write(session)

    return Response(
        stream_with_context(generate()),
        mimetype=CSV,
        headers={"Content-Disposition": f'attachment; filename="{safe_filename(filename)}"'},
    )


def safe_filename(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:150]
