"""Pages of a listing (tenants/listing.py), for the API and the portal.

The API takes flask-smorest's ``page`` and ``page_size`` (``@blp.paginate()``)
and answers the total in ``X-Pagination``; a page past the end is empty. The
portal reads the same two arguments from the query string, shows the last
page for a page past the end, and links a page's neighbours (``pager``).
"""

from __future__ import annotations

from typing import TypeVar

from flask import request, url_for
from flask_smorest.pagination import PaginationParameters

from tenants.listing import Listing

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
