"""Pages of a listing (tenants/listing.py), for the API and the portal.

The API takes flask-smorest's ``page`` and ``page_size`` (``@blp.paginate()``)
and answers the total in ``X-Pagination``; a page past the end is empty. The
portal reads the same two arguments from the query string, shows the last
page for a page past the end, and links a page's neighbours (``pager``).

Lists that grow without bound are read by cursor (``@blp.cursor_paginate()``
and ``cursor_page``): each page's ``X-Pagination`` carries ``next_cursor``
and its ``Link`` header the next page's address (``rel="next"``), the last
page neither. A cursor is the key of the page's last row (tenants/listing.py),
signed with the app's secret and bound to the caller, the list and its
filters and sort: a tampered cursor, or one of another caller or list, is a
400 ``invalid_cursor``. Pages by number remain for the first rows only
(``MAX_OFFSET``); past them, the answer is a 400 ``page_too_deep`` that says
to follow the cursor.

The portal's pages of those lists (``portal_cursor_page``) do the same for
people: numbered first pages with their total, "Next" links that carry the
cursor; a bad cursor or too deep a number shows a page and says why.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, TypeVar

import marshmallow as ma
from flask import current_app, request, url_for
from flask_smorest.pagination import PaginationParameters
from itsdangerous import BadData, URLSafeSerializer

from partner_api.auth.principals import require_principal
from partner_api.errors import ApiError
from tenants.listing import KeysetListing, Listing, decode_key, encode_key

T = TypeVar("T")

# The page sizes the portal offers.
PAGE_SIZES = (25, 50, 100, 200)


def paginate(
    listing: Listing[T], parameters: PaginationParameters, *, clamp: bool = False
) -> list[T]:
    """The page ``parameters`` ask for (any page number is accepted: past
    the end it is empty), noting the total in ``parameters.item_count``.

    With ``clamp`` (the portal's pages), a page past the end shows the last
    page instead, and ``parameters.page`` says which it is."""
    total = parameters.item_count = listing.count()
    page, size = parameters.page, parameters.page_size
    if clamp and (page - 1) * size >= total:
        page = parameters.page = max(1, -(-total // size))
    if (page - 1) * size >= total:
        return []
    return list(listing.page(size, (page - 1) * size))


def portal_parameters(default_size: int = 50) -> PaginationParameters:
    """The page a portal page asks for in its query string."""
    page = request.args.get("page", type=int) or 1
    size = request.args.get("page_size", type=int) or default_size
    return PaginationParameters(max(page, 1), size if size in PAGE_SIZES else default_size)


def pager(parameters: PaginationParameters) -> dict:
    """The pager of the current portal page: where it is, and links to its
    neighbours.

    The links go to this same page (its path arguments, such as the order's
    ID, and its filters kept), only the page number changes."""
    total = parameters.item_count or 0
    last = max(1, -(-total // parameters.page_size))

    def link(page: int) -> str:
        endpoint = request.endpoint
        if endpoint is None:
            raise RuntimeError("A pager links to the page it is on; this request matched none.")
        arguments = {**request.args.to_dict(), **(request.view_args or {}), "page": page}
        return url_for(endpoint, **arguments)

    return {
        "page": parameters.page,
        "page_size": parameters.page_size,
        "total": total,
        "last": last,
        "previous_url": link(parameters.page - 1) if parameters.page > 1 else None,
        "next_url": link(parameters.page + 1) if parameters.page < last else None,
    }


# The deepest first row a page number may ask for; rows past it are read by cursor.
MAX_OFFSET = 10_000
_CURSOR_SALT = "partner-api.list-cursor.v1"


class CursorParameters(PaginationParameters):
    """``page``/``page_size`` plus the ``cursor`` a request sent, and, once
    the page is read, the cursor of the next page (None on the last)."""

    def __init__(self, page: int, page_size: int, cursor: str | None = None) -> None:
        super().__init__(page, page_size)
        self.cursor = cursor
        self.next_cursor: str | None = None


def cursor_parameters_schema(default_size: int, max_size: int) -> type[ma.Schema]:
    class CursorPaginationParametersSchema(ma.Schema):
        """The page a cursor-paginated list is asked for."""

        class Meta:
            unknown = ma.EXCLUDE

        page = ma.fields.Integer(
            load_default=1,
            validate=ma.validate.Range(min=1),
            metadata={
                "description": f"Page number, for the first {MAX_OFFSET} rows only; "
                "past them, follow `cursor`."
            },
        )
        page_size = ma.fields.Integer(
            load_default=default_size, validate=ma.validate.Range(min=1, max=max_size)
        )
        cursor = ma.fields.String(
            validate=ma.validate.Length(min=1, max=2000),
            metadata={
                "description": "Opaque: the `next_cursor` of the previous page (in "
                '`X-Pagination`, and in the `Link` header\'s `rel="next"` address). '
                "Read the next page with the same filters and sort; `page` is then ignored."
            },
        )

        @ma.post_load
        def make_paginator(self, data, **kwargs):
            return CursorParameters(**data)

    return CursorPaginationParametersSchema


class CursorPaginationMetadataSchema(ma.Schema):
    """``X-Pagination`` of a cursor-paginated list: the total and page numbers
    on pages read by number, ``next_cursor`` whenever a next page exists."""

    total = ma.fields.Int(metadata={"description": "Total number of items (pages by number)."})
    total_pages = ma.fields.Int()
    first_page = ma.fields.Int()
    last_page = ma.fields.Int()
    page = ma.fields.Int()
    previous_page = ma.fields.Int()
    next_page = ma.fields.Int()
    page_size = ma.fields.Int(metadata={"description": "Items per page (pages by cursor)."})
    next_cursor = ma.fields.String(
        metadata={"description": "Pass as `cursor` for the next page; absent on the last page."}
    )


LINK_HEADER = {
    "description": 'The next page\'s address: `<...>; rel="next"` (with its `cursor`); '
    "absent on the last page.",
    "schema": {"type": "string"},
}


def _serializer() -> URLSafeSerializer:
    secret = current_app.secret_key
    if not secret:
        raise RuntimeError("Cursors are signed with the app's SECRET_KEY, which is not set.")
    return URLSafeSerializer(secret, salt=_CURSOR_SALT)


def _binding(list_name: str, bound_to: dict[str, Any]) -> dict[str, str]:
    """What a cursor is valid for: the caller, the list (its name, path
    arguments, filters and sort)."""
    canonical = json.dumps(bound_to, sort_keys=True, default=str, separators=(",", ":"))
    return {
        "o": require_principal().label(),
        "l": list_name,
        "b": hashlib.sha256(canonical.encode()).hexdigest()[:32],
    }


def _invalid_cursor(detail: str) -> ApiError:
    return ApiError(
        400,
        "invalid_cursor",
        detail + " Start again from the first page (without `cursor`) and follow each "
        'answer\'s `next_cursor` or `Link: rel="next"` as it comes.',
        errors={"cursor": [detail]},
    )


def _read_cursor(cursor: str, binding: dict[str, str]):
    try:
        payload = _serializer().loads(cursor)
    except BadData:
        raise _invalid_cursor(
            "The cursor is not one this service issued, or it was changed."
        ) from None
    if not isinstance(payload, dict) or any(payload.get(k) != v for k, v in binding.items()):
        raise _invalid_cursor(
            "The cursor belongs to another list, other filters or sort, or another caller."
        )
    try:
        return decode_key(payload["k"])
    except (KeyError, TypeError, ValueError):
        raise _invalid_cursor(
            "The cursor is not one this service issued, or it was changed."
        ) from None


def _next_cursor(binding: dict[str, str], key) -> str | None:
    """The cursor of the page after the row of ``key`` (None: no next page)."""
    if key is None:
        return None
    return _serializer().dumps({**binding, "k": encode_key(key)})


def cursor_page(
    listing: KeysetListing[T],
    parameters: CursorParameters,
    *,
    list_name: str,
    bound_to: dict[str, Any] | None = None,
) -> list[T]:
    """The page ``parameters`` ask for: after their ``cursor``, or by page
    number (the total then noted in ``parameters.item_count``, as
    ``paginate`` does); the next page's cursor goes in
    ``parameters.next_cursor``. ``list_name`` and ``bound_to`` (path
    arguments, filters, sort) name the list the cursor is valid for."""
    binding = _binding(list_name, bound_to or {})
    size = parameters.page_size
    if parameters.cursor is not None:
        window = listing.window(size, after=_read_cursor(parameters.cursor, binding))
    else:
        offset = (parameters.page - 1) * size
        if offset >= MAX_OFFSET:
            raise ApiError(
                400,
                "page_too_deep",
                f"Pages by number reach the first {MAX_OFFSET} rows only. Read further with "
                "the cursor: each page's `X-Pagination` carries `next_cursor` and its `Link` "
                'header the next page\'s address (rel="next"); pass it as `cursor`.',
                errors={"page": [f"At most row {MAX_OFFSET} by page number; use `cursor`."]},
            )
        parameters.item_count = listing.count()
        window = listing.window(size, offset=offset)
    parameters.next_cursor = _next_cursor(binding, window.next_key)
    return window.items


# What a portal page says when its link's cursor is not valid (any more).
PORTAL_STALE_CURSOR = (
    "This page's link was changed, or belongs to other filters or another sort: "
    "here is the first page."
)


def portal_cursor_page(
    listing: KeysetListing[T],
    *,
    list_name: str,
    bound_to: dict[str, Any] | None = None,
    default_size: int = 50,
) -> tuple[list[T], dict, str | None]:
    """A portal page of a list that grows without bound: (rows, pager, error).

    The first pages are read by number (``page``; one past the end, or past
    the rows pages by number reach, shows the last page they can), with the
    total; every "Next" link carries the cursor of the page's last row, so
    any row of any list is reached, each page read from its key on. A cursor
    that is not valid for this caller, list, filters and sort shows the
    first page and says so (``error``), never a failure. The page number
    travels with the cursor only to be shown."""
    parameters = portal_parameters(default_size)
    size = parameters.page_size
    binding = _binding(list_name, bound_to or {})
    error = None
    window = None
    cursor = request.args.get("cursor")
    if cursor:
        try:
            window = listing.window(size, after=_read_cursor(cursor, binding))
        except ApiError:
            error, parameters.page = PORTAL_STALE_CURSOR, 1
    if window is None:
        total = parameters.item_count = listing.count()
        deepest = -(-MAX_OFFSET // size)  # the last page whose first row a number reaches
        parameters.page = max(1, min(parameters.page, -(-total // size), deepest))
        window = listing.window(size, offset=(parameters.page - 1) * size)
    page = parameters.page
    next_cursor = _next_cursor(binding, window.next_key)
    total = parameters.item_count
    pages = {
        "page": page,
        "page_size": size,
        "total": total,  # None on a page read by cursor: the list is not counted
        "last": None if total is None else max(1, -(-total // size)),
        "first_url": _portal_link(page=None) if page > 1 else None,
        # The previous page by number while numbers reach it; past that, the browser's Back.
        "previous_url": _portal_link(page=page - 1)
        if 1 < page and (page - 2) * size < MAX_OFFSET
        else None,
        "next_url": _portal_link(page=page + 1, cursor=next_cursor) if next_cursor else None,
    }
    return window.items, pages, error


def _portal_link(*, page: int | None, cursor: str | None = None) -> str:
    """This portal page (path arguments and filters kept) at another page."""
    endpoint = request.endpoint
    if endpoint is None:
        raise RuntimeError("A pager links to the page it is on; this request matched none.")
    arguments = {**request.args.to_dict(), **(request.view_args or {})}
    arguments.pop("cursor", None)
    arguments.pop("page", None)
    if page is not None:
        arguments["page"] = page
    if cursor is not None:
        arguments["cursor"] = cursor
    return url_for(endpoint, **arguments)


def cursor_headers(parameters: CursorParameters, metadata: dict) -> dict[str, str]:
    """``X-Pagination`` (``metadata``, plus ``page_size`` and ``next_cursor``)
    and, when a next page exists, ``Link`` to it."""
    metadata = {**metadata, "page_size": parameters.page_size}
    headers = {}
    if parameters.next_cursor is not None:
        metadata["next_cursor"] = parameters.next_cursor
        endpoint = request.endpoint
        if endpoint is None:
            raise RuntimeError("A next link goes to the list this request read; it matched none.")
        arguments = {
            **request.args.to_dict(),
            **(request.view_args or {}),
            "cursor": parameters.next_cursor,
        }
        arguments.pop("page", None)
        headers["Link"] = f'<{url_for(endpoint, _external=True, **arguments)}>; rel="next"'
    headers["X-Pagination"] = json.dumps(CursorPaginationMetadataSchema().dump(metadata))
    return headers
