"""Lists read a page at a time.

A listing function of the domain (``orders.newest_first``,
``relationships.newest_first``, ``device_list.devices``, ...) answers a
``Listing``: nothing is read until the caller asks for the total and for one
page, which is what the edge's pager (partner_api/pagination.py) does.

A list that grows without bound is also read by key (``KeysetListing``): a
page is the rows after the last one seen, in the order of (sort key, id),
which an index walks from the key on however deep the page is. The key of a
page's last row is what the edge turns into an opaque cursor.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, tuple_
from sqlalchemy.orm import Session

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

# A row's place in its list: the sort column's value, then its id.
Key = tuple[Any, ...]


class Listing(Protocol[T_co]):
    def count(self) -> int:
        """How many items the whole list holds."""
        ...

    def page(self, limit: int, offset: int) -> Sequence[T_co]:
        """At most ``limit`` items, from the ``offset``-th on."""
        ...


@dataclass(frozen=True)
class Window(Generic[T]):
    """One page of a keyset listing, and the key of its last item when more
    items follow (None on the last page)."""

    items: list[T]
    next_key: Key | None


class KeysetListing(Listing[T_co], Protocol[T_co]):
    def window(self, limit: int, *, offset: int = 0, after: Key | None = None) -> Window:
        """At most ``limit`` items: those after the item whose key is
        ``after`` (a key ``next_key`` answered before), else from the
        ``offset``-th on; and the key to read the next page with."""
        ...


class ExportableListing(KeysetListing[T_co], Protocol[T_co]):
    """A keyset listing that can also be read whole, for a CSV export."""

    def batches(self, size: int) -> Iterator[Sequence[T_co]]:
        """Every item, in order, ``size`` at a time, read from one
        server-side cursor (an export): memory holds one batch, however
        long the list."""
        ...


@dataclass(frozen=True)
class Keyset:
    """A total order on (``column``, ``tiebreak``), both in the same
    direction, NULLs of a nullable ``column`` last; and the condition that
    selects the rows after a key in it. With an index on (..., column,
    tiebreak), a page after any key is an index walk of the page's size."""

    column: Any
    tiebreak: Any
    descending: bool = False
    nullable: bool = False

    def order_by(self) -> list[ColumnElement]:
        # NULLS LAST said as such (not as a leading ``column IS NULL``), so
        # that PostgreSQL walks an index on (..., column, tiebreak) in the
        # ascending case and on (..., column DESC NULLS LAST, tiebreak DESC)
        # in the descending one; SQLite reads the same clause.
        column = self.column.desc() if self.descending else self.column.asc()
        tiebreak = self.tiebreak.desc() if self.descending else self.tiebreak.asc()
        return [column.nulls_last() if self.nullable else column, tiebreak]

    def after(self, key: Key) -> ColumnElement[bool]:
        value, last_id = key

        def beyond(left, right):
            return left < right if self.descending else left > right

        if value is None:
            # Past the last non-NULL value: the NULLs, by id.
            return and_(self.column.is_(None), beyond(self.tiebreak, last_id))
        later = beyond(tuple_(self.column, self.tiebreak), tuple_(value, last_id))
        return or_(later, self.column.is_(None)) if self.nullable else later


def window_of(rows: list, limit: int, key_of: Callable[[Any], Key]) -> Window:
    """The window of ``rows`` read with ``limit + 1``: the extra row, when
    there is one, only says that more follow."""
    if len(rows) > limit:
        rows = rows[:limit]
        return Window(rows, key_of(rows[-1]))
    return Window(rows, None)


def encode_key(key: Key) -> list:
    """A key as JSON values (for a cursor); ``decode_key`` reads it back."""
    encoded: list = []
    for value in key:
        if isinstance(value, datetime):
            encoded.append({"t": value.isoformat()})
        elif isinstance(value, uuid.UUID):
            encoded.append({"u": str(value)})
        else:
            encoded.append(value)
    return encoded


def decode_key(encoded: list) -> Key:
    """Raises ValueError (or TypeError) for what ``encode_key`` never wrote."""
    key: list = []
    for value in encoded:
        if isinstance(value, dict):
            ((tag, text),) = value.items()
            if tag == "t":
                key.append(datetime.fromisoformat(text))
            elif tag == "u":
                key.append(uuid.UUID(text))
            else:
                raise ValueError(f"unknown key tag {tag!r}")
        elif value is None or isinstance(value, (str, int, float, bool)):
            key.append(value)
        else:
            raise TypeError("a key holds JSON scalars")
    return tuple(key)


@dataclass(frozen=True)
class StatementListing(Generic[T]):
    """The listing of one ORM statement: the database counts its rows and
    cuts the page. The statement's order must be total, so pages are stable.

    With a ``keyset`` (the statement then carries no order of its own), the
    listing is also read by key (``window``)."""

    session: Session
    statement: Select[T]
    keyset: Keyset | None = None
    # The key of an item: the values of the keyset's two columns.
    key_of: Callable[[Any], Key] | None = None
    # How many rows the statement selects, when counters already say so.
    known_count: int | None = None

    def _ordered(self) -> Select[T]:
        if self.keyset is None:
            return self.statement
        return self.statement.order_by(*self.keyset.order_by())

    def count(self) -> int:
        if self.known_count is not None:
            return self.known_count
        every_row = self.statement.order_by(None).subquery()
        return self.session.scalar(select(func.count()).select_from(every_row)) or 0

    def page(self, limit: int, offset: int) -> list[T]:
        return list(self.session.scalars(self._ordered().limit(limit).offset(offset)))

    def window(self, limit: int, *, offset: int = 0, after: Key | None = None) -> Window[T]:
        if self.keyset is None or self.key_of is None:
            raise TypeError("This listing is read by offset only: it has no keyset.")
        stmt = self._ordered()
        if after is not None:
            stmt = stmt.where(self.keyset.after(after))
        else:
            stmt = stmt.offset(offset)
        rows = list(self.session.scalars(stmt.limit(limit + 1)))
        return window_of(rows, limit, self.key_of)

    def batches(self, size: int) -> Iterator[list[T]]:
        stmt = self._ordered().execution_options(yield_per=size)
        for batch in self.session.scalars(stmt).partitions():
            yield list(batch)
