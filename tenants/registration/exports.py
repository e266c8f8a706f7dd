"""Lists written out whole as CSV files, as people filter them: a tenant's
devices, the orders in scope, an order's rows.

Every row that matches is written, read batch by batch from one server-side
cursor (the listings' ``batches``) and handed out as CSV text while it is
read, so memory holds one batch however many rows there are. Cells are
written as every CSV file of the service is (``write_table_csv``): quoted,
and never a spreadsheet formula.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tenants import outcomes
from tenants.access import organisations
from tenants.ingest.csv_input import write_table_csv
from tenants.models import Order, Registration
from tenants.registration import counters, device_list, orders
from tenants.registration.device_list import DeviceQuery

# Rows read from the cursor at a time.
BATCH = 1000

# (header, the field of an item that fills it)
Column = tuple[str, str]
# A row's message as the reader reads it (partner_api renders it in the
# reader's language); by default the stored English text.
MessageOf = Callable[[dict], str | None]


def cell(value: Any) -> str | None:
    """A value as a CSV cell: times in ISO 8601 (UTC), None empty."""
    if value is None or value.__class__ is str:
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


DEVICE_COLUMNS: tuple[Column, ...] = (
    ("Serial Number", "serial_number"),
    ("Manufacturer", "manufacturer"),
    ("Model", "model"),
    ("Product Key ID", "product_key_id"),
    ("State", "state"),
    ("Error Code", "error_code"),
    ("Error Message", "message"),
    ("Group Tag", "group_tag"),
    ("Assigned User", "assigned_user"),
    ("Registered By", "registered_by"),
    ("Partner ID", "partner_id"),
    ("Order Reference", "order_id"),
    ("Purchase ID", "purchase_id"),
    ("Order", "order"),
    ("Submitted At", "created_at"),
    ("Registered At", "registered_at"),
    ("Last Seen At", "last_seen_at"),
    ("Last Seen User", "last_seen_user"),
    ("Deregistered At", "deregistered_at"),
    ("Device ID", "id"),
)

ORDER_COLUMNS: tuple[Column, ...] = (
    ("Order", "id"),
    ("Order Reference", "order_id"),
    ("Purchase ID", "purchase_id"),
    ("Group Tag", "group_tag"),
    ("Customer", "customer"),
    ("Customer ID", "tenant_id"),
    ("Submitted By", "submitted_by"),
    ("Partner ID", "partner_id"),
    ("Status", "status"),
    ("Rows", "row_count"),
    ("Registered", "registered"),
    ("Failed", "failed"),
    ("Pending", "pending"),
    ("Submitted At", "created_at"),
    ("Started At", "started_at"),
    ("Completed At", "completed_at"),
    ("Request ID", "request_id"),
)

ORDER_ROW_COLUMNS: tuple[Column, ...] = (
    ("Line", "line"),
    ("File", "source"),
    ("Serial Number", "serial_number"),
    ("Manufacturer", "manufacturer"),
    ("Model", "model"),
    ("Product Key ID", "product_key_id"),
    ("Group Tag", "group_tag"),
    ("Assigned User", "assigned_user"),
    ("State", "effective_state"),
    ("Error Code", "error_code"),
    ("Error Message", "message"),
    ("Registered At", "registered_at"),
    ("Last Seen At", "last_seen_at"),
    ("Device ID", "id"),
)


def _table(
    columns: tuple[Column, ...],
    batches: Iterable[Sequence[dict]],
    message_of: MessageOf | None = None,
) -> Iterator[str]:
    """The CSV text of ``columns`` of every item (a dict) of ``batches``; the
    ``message`` column from ``message_of(item)`` when given."""
    names = [name for _, name in columns]
    values = operator.itemgetter(*names)
    if message_of is None:
        rows: Iterator[list] = (
            [cell(value) for value in values(item)] for batch in batches for item in batch
        )
    else:
        at = names.index("message")

        def with_message(item: dict) -> list:
            row = [cell(value) for value in values(item)]
            row[at] = message_of(item)
            return row

        rows = (with_message(item) for batch in batches for item in batch)
    return write_table_csv([header for header, _ in columns], rows)


def devices_csv(
    session: Session, query: DeviceQuery, *, message_of: MessageOf | None = None
) -> Iterator[str]:
    """Every device of the tenant in scope that ``query`` selects, in its sort."""
    return _table(DEVICE_COLUMNS, device_list.matching(session, query).batches(BATCH), message_of)


# An order's own fields in the file; the others are looked up or counted.
_ORDER_FIELDS = (
    "id",
    "order_id",
    "purchase_id",
    "group_tag",
    "tenant_id",
    "partner_id",
    "status",
    "row_count",
    "created_at",
    "started_at",
    "completed_at",
    "request_id",
)
# "Submitted By" of an order the customer submitted itself.
SELF_REGISTERED = "Self-registered by the customer"


def orders_csv(session: Session) -> Iterator[str]:
    """Every order in scope, newest first, with who it is for, who sent it
    and its rows counted by outcome (from its counters, a batch at a time)."""

    def described(batch: Sequence[Order]) -> list[dict]:
        counts = counters.order_counts(session, [order.id for order in batch])
        customers = organisations.tenant_names(session, {o.tenant_id for o in batch})
        partners = organisations.partner_names(
            session, {o.partner_id for o in batch if o.partner_id}
        )
        described = []
        for order in batch:
            by_state = counts[order.id].as_dict()["by_state"]
            described.append(
                {
                    **{name: getattr(order, name) for name in _ORDER_FIELDS},
                    "customer": customers.get(order.tenant_id),
                    "submitted_by": partners.get(order.partner_id)
                    if order.partner_id
                    else SELF_REGISTERED,
                    "registered": sum(by_state.get(s, 0) for s in outcomes.REGISTERED_STATES),
                    "failed": by_state.get(outcomes.FAILED, 0),
                    "pending": by_state.get(outcomes.PENDING, 0),
                }
            )
        return described

    batches = orders.newest_first(session).batches(BATCH)
    return _table(ORDER_COLUMNS, (described(batch) for batch in batches))


def order_rows_csv(
    session: Session,
    order_pk: uuid.UUID,
    *,
    state: str | None = None,
    error_code: str | None = None,
    serial_number: str | None = None,
    message_of: MessageOf | None = None,
) -> Iterator[str]:
    """Every row of the order (in scope) with its outcome, in submission
    order, those of one state, error code or serial number when given."""
    listing = orders.order_rows(
        session, order_pk, state=state, error_code=error_code, serial_number=serial_number
    )
    fields = [name for _, name in ORDER_ROW_COLUMNS if name != "effective_state"]

    def described(batch: Sequence[Registration]) -> list[dict]:
        return [
            {
                **{name: getattr(row, name) for name in fields},
                "effective_state": outcomes.effective_state(row.state, row.last_seen_at),
                "message_params": row.message_params,
            }
            for row in batch
        ]

    return _table(
        ORDER_ROW_COLUMNS, (described(batch) for batch in listing.batches(BATCH)), message_of
    )
