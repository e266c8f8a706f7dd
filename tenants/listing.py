"""Lists read a page at a time.

A listing function of the domain (``orders.newest_first``,
``relationships.newest_first``, ``device_list.devices``, ...) answers a
``Listing``: nothing is read until the caller asks for the total and for one
page, which is what the edge's pager (partner_api/pagination.py) does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Listing(Protocol[T_co]):
    def count(self) -> int:
        """How many items the whole list holds."""
        ...

    def page(self, limit: int, offset: int) -> Sequence[T_co]:
        """At most ``limit`` items, from the ``offset``-th on."""
        ...


@dataclass(frozen=True)
class StatementListing(Generic[T]):
    """The listing of one ORM statement: the database counts its rows and
    cuts the page. The statement's order must be total, so pages are stable."""

    session: Session
    statement: Select[T]

    def count(self) -> int:
        every_row = self.statement.order_by(None).subquery()
        return self.session.scalar(select(func.count()).select_from(every_row)) or 0

    def page(self, limit: int, offset: int) -> list[T]:
        return list(self.session.scalars(self.statement.limit(limit).offset(offset)))
