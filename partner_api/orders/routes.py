"""The order routes partner and customer share, written once.

``add_order_reads`` routes the four reads on an audience's blueprint: the
orders newest first, one order, its failed rows as CSV, its rows with their
outcomes; the audience's data scope decides which orders they are (a
partner's own, or every order for a tenant, whoever submitted it).
``takes_order`` makes a view an order submission."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from flask import Response

from partner_api import i18n
from partner_api.blueprint import ApiBlueprint
from partner_api.csv_downloads import FormatSchema, csv_response, wants_csv
from partner_api.orders.schemas import (
    ORDER_LOCATION_HEADER,
    DryRunQuerySchema,
    DryRunSchema,
    OrderCreateSchema,
    OrderFormSchema,
    OrderSchema,
    RegistrationFilterSchema,
    RegistrationSchema,
)
from partner_api.pagination import cursor_page
from partner_api.request_context import request_session
from tenants.ingest import csv_input
from tenants.registration import exports, orders
from tenants.scoping import unscoped

_EXPORT_NOTE = "\n\nWith `format=csv` (or `Accept: text/csv`): every order, as one CSV file."


def add_order_reads(blp: ApiBlueprint, *, kind: str, scope: str, list_summary: str) -> None:
    """Route the four order reads on ``blp``, for principals of ``kind``
    holding ``scope``; ``list_summary`` says whose orders the list holds."""

    @blp.route("/orders")
    @blp.auth(kind, scope)
    @blp.arguments(FormatSchema, location="query")
    @blp.response(200, OrderSchema(many=True))
    @blp.exportable()
    @blp.cursor_paginate()
    @_docstring(list_summary + _EXPORT_NOTE)
    def list_orders(arguments: dict, pagination_parameters):
        if wants_csv(arguments):
            return order_list_export()
        session = request_session()
        page = cursor_page(orders.newest_first(session), pagination_parameters, list_name="orders")
        return orders.as_dicts(session, page)

    @blp.route("/orders/<uuid:order_id>")
    @blp.auth(kind, scope)
    @blp.response(200, OrderSchema)
    def get_order(order_id: uuid.UUID):
        """One order: status and counts by state and error code."""
        session = request_session()
        return orders.as_dict(session, orders.get_order(session, order_id))

    @blp.route("/orders/<uuid:order_id>/failures.csv")
    @blp.auth(kind, scope)
    @blp.csv_download("The failed rows as CSV (text/csv), with Error Code and Error Message.")
    def download_failures(order_id: uuid.UUID):
        """The order's failed rows as CSV, in the format submitted, plus ``Error Code``
        and ``Error Message`` columns: fix them and submit the file again."""
        return failures_csv(order_id)

    @blp.route("/orders/<uuid:order_id>/registrations")
    @blp.auth(kind, scope)
    @blp.arguments(RegistrationFilterSchema, location="query")
    @blp.response(200, RegistrationSchema(many=True))
    @blp.exportable()
    @blp.cursor_paginate()
    def list_order_registrations(filters: dict, order_id: uuid.UUID, pagination_parameters):
        """The order's rows with their outcomes, in submission order.

        With `format=csv` (or `Accept: text/csv`): every row the filters
        select, as one CSV file."""
        if wants_csv(filters):
            return order_rows_export(order_id, filters)
        filters.pop("format", None)
        rows = orders.order_rows(
            request_session(),
            order_id,
            state=filters.get("state"),
            error_code=filters.get("error_code"),
            serial_number=filters.get("serial_number"),
        )
        return cursor_page(
            rows,
            pagination_parameters,
            list_name="order_registrations",
            bound_to={"order": order_id, **filters},
        )


def takes_order(blp: ApiBlueprint) -> Callable:
    """An order submission's arguments and answers, parsed and documented:
    ``dry_run`` in the query, the devices (JSON, or CSV files in a form), an
    ``Idempotency-Key``; 202 with the order, or 200 with a dry run's verdicts.
    The view takes ``(query, body, <path arguments>, idempotency_key=None)``
    and answers with ``partner_api.orders.submission.submit``."""

    def decorator(func: Callable) -> Callable:
        for document in (
            blp.alt_response(200, schema=DryRunSchema, description="Dry run: each row's verdict."),
            blp.response(202, OrderSchema, headers=ORDER_LOCATION_HEADER),
            blp.idempotent(202),
            blp.device_body(OrderCreateSchema, OrderFormSchema),
            blp.arguments(DryRunQuerySchema, location="query"),
        ):
            func = document(func)
        return func

    return decorator


def _docstring(text: str) -> Callable:
    """The view's docstring, which documents the operation: one that differs by audience."""

    def decorator(func: Callable) -> Callable:
        func.__doc__ = text
        return func

    return decorator


def failures_csv(order_pk: uuid.UUID, *, across_tenants: str | None = None) -> Response:
    """The order's failed rows in the format it was submitted in, plus
    ``Error Code`` and ``Error Message``, ready to fix and resubmit.

    Read in the caller's scope, or for support across tenants (``across_tenants``
    is the reason). Streamed: the rows come from a server-side cursor in
    batches, so memory stays flat whatever the order's size."""
    if across_tenants:
        with unscoped(across_tenants):
            order = orders.get_order(request_session(), order_pk)
    else:
        order = orders.get_order(request_session(), order_pk)
    fmt = _failures_format(order.source_format)
    return csv_response(
        f"{order.order_id or order.id}-failures.csv",
        lambda session: csv_input.write_rows_csv(
            fmt, orders.failed_rows(session, order_pk, message_of=i18n.row_message)
        ),
        across_tenants=across_tenants,
    )


def order_list_export() -> Response:
    """Every order in scope as CSV (``format=csv`` on the order list)."""
    return csv_response("orders.csv", exports.orders_csv)


def order_rows_export(order_pk: uuid.UUID, filters: dict) -> Response:
    """Every row of the order in scope that ``filters`` select, as CSV."""
    order = orders.get_order(request_session(), order_pk)  # another scope's: 404, not a file
    return csv_response(
        f"{order.order_id or order.id}-rows.csv",
        lambda session: exports.order_rows_csv(
            session,
            order_pk,
            state=filters.get("state"),
            error_code=filters.get("error_code"),
            serial_number=filters.get("serial_number"),
            message_of=i18n.row_message,
        ),
    )


def _failures_format(source_format: str) -> csv_input.CsvFormat:
    """The order's CSV format; JSON and mixed orders get the partner format,
    the one that carries every identifier."""
    by_name = {f.name: f for f in csv_input.FORMATS}
    return by_name.get(source_format, by_name["partner"])
