"""View helpers shared by the audiences: order submission, order bodies,
pagination, registration filters."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import cast

from flask import Response, current_app, jsonify, stream_with_context, url_for
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from config.settings import Settings
from jobs.tasks import enqueue_order
from partner_api.auth.principals import require_principal
from partner_api.request_context import current_request_id, request_session
from partner_api.schemas import DryRunSchema, OrderSchema
from partner_api.uploads import request_fingerprint
from tenants import db, outcomes
from tenants.ingest import csv_input
from tenants.models import Order, Registration
from tenants.operations import idempotency
from tenants.registration import device_list, orders
from tenants.scoping import current_scope, scoped


def settings() -> Settings:
    return current_app.extensions["partner_api.settings"]


def order_body(session: Session, order: Order) -> dict:
    body = {
        c: getattr(order, c)
        for c in (
            "id",
            "request_id",
            "tenant_id",
            "partner_id",
            "order_id",
            "purchase_id",
            "group_tag",
            "status",
            "row_count",
            "created_at",
            "started_at",
            "completed_at",
        )
    }
    body["counts"] = orders.order_counts(session, order.id)
    return body


def submit(
    *,
    tenant_id: uuid.UUID,
    partner_id: uuid.UUID | None,
    body: dict,
    dry_run: bool,
    idempotency_key: str | None,
    location_endpoint: str,
) -> Response:
    """Store an order, enqueue it after COMMIT, answer 202 with a Location.

    ``body`` is what ``ApiBlueprint.device_body`` parsed: the order's fields
    and ``rows``, a stream of its device rows (JSON or CSV). With an
    ``Idempotency-Key`` header, a retry of the same request replays the first
    answer instead of storing a second order.
    """
    config = settings()
    submission = new_submission(tenant_id=tenant_id, partner_id=partner_id, body=body)
    session = request_session()
    # A malformed key is refused even on a dry run, which otherwise ignores it.
    key = None if idempotency_key is None else idempotency.check_key(idempotency_key.strip())
    if dry_run:
        # Not the 202 order: bypass the route's response schema.
        response = jsonify(DryRunSchema().dump(preview_order(session, submission, body["rows"])))
        response.status_code = 200
        return response
    if key is None:
        return _store(session, submission, body["rows"], location_endpoint, remember=None)

    principal = require_principal().label()
    fingerprint = request_fingerprint()
    replay = idempotency.find(session, principal, key, fingerprint)
    if replay is not None:
        session.rollback()
        return _replayed(replay)

    def remember(stored: idempotency.StoredResponse) -> None:
        idempotency.remember(
            session,
            principal,
            key,
            fingerprint,
            stored,
            request_id=submission.request_id,
            ttl=timedelta(seconds=config.idempotency_ttl_seconds),
        )

    try:
        return _store(session, submission, body["rows"], location_endpoint, remember=remember)
    except IntegrityError:
        # The same key was stored by a concurrent request that committed first.
        session.rollback()
        replay = idempotency.find(session, principal, key, fingerprint)
        if replay is None:
            raise
        session.rollback()
        return _replayed(replay)


def new_submission(
    *, tenant_id: uuid.UUID, partner_id: uuid.UUID | None, body: dict
) -> orders.Submission:
    """An order submission from a parsed device body, under the configured limits."""
    config = settings()
    return orders.Submission(
        tenant_id=tenant_id,
        partner_id=partner_id,
        request_id=current_request_id(),
        order_id=body.get("order_id"),
        purchase_id=body.get("purchase_id"),
        group_tag=body.get("group_tag") or None,  # an empty form field is no tag
        group_tag_max_length=config.group_tag_max_length,
        max_rows=config.max_order_rows,
        chunk_size=config.order_chunk_size,
    )


def store_order(
    session: Session,
    submission: orders.Submission,
    rows,
    *,
    before_commit: Callable[[Order], None] | None = None,
) -> Order:
    """Store the order and its rows in one transaction; its chunks are
    enqueued only once that transaction has committed."""
    config = settings()
    try:
        result = orders.submit_order(session, submission, rows)
        order = result.order
        if order is None:
            raise RuntimeError("submit_order stores an order unless asked for a dry run")
        order.source_format = rows.source_format
        if before_commit is not None:
            before_commit(order)
        chunks, request_id = result.chunks, submission.request_id
        db.after_commit(session, lambda: enqueue_order(config, order, chunks, request_id))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return order


def preview_order(session: Session, submission: orders.Submission, rows) -> dict:
    """Every row's verdict, with nothing stored (see ``dry_run_body``)."""
    try:
        result = orders.submit_order(session, submission, rows, dry_run=True)
    finally:
        session.rollback()
    return dry_run_body(result)


def _store(session, submission, rows, location_endpoint: str, *, remember) -> Response:
    stored = None

    def answer(order: Order) -> None:
        nonlocal stored
        stored = idempotency.StoredResponse(
            status=202,
            body=json.dumps(OrderSchema().dump(order_body(session, order))),
            location=url_for(location_endpoint, order_id=order.id),
        )
        if remember is not None:
            remember(stored)

    store_order(session, submission, rows, before_commit=answer)
    return _accepted(cast(idempotency.StoredResponse, stored))  # set by answer()


def _accepted(stored: idempotency.StoredResponse) -> Response:
    response = Response(stored.body, status=stored.status, mimetype="application/json")
    if stored.location:
        response.headers["Location"] = stored.location
    return response


def _replayed(stored: idempotency.StoredResponse) -> Response:
    response = _accepted(stored)
    response.headers["Idempotent-Replayed"] = "true"
    return response


# The headers of a 202 order answer, as the OpenAPI document declares them.
ORDER_ACCEPTED_HEADERS = {
    "Location": {
        "description": "The order's URL: poll it until `completed_at` is set.",
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this answer replays the first one for its Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}


def failures_csv(order_pk: uuid.UUID) -> Response:
    """The order's failed rows in the format it was submitted in, plus
    ``Error Code`` and ``Error Message``, ready to fix and resubmit."""
    order = orders.get_order(request_session(), order_pk)
    fmt = _failures_format(order.source_format)
    scope = current_scope()
    if scope is None:
        raise RuntimeError("failed rows are read in a partner's or a tenant's scope")
    name = f"{order.order_id or order.id}-failures.csv"

    def generate():
        # The response streams after the view returns: re-enter the caller's scope.
        with scoped(scope), db.transaction() as session:
            yield "\ufeff"  # a BOM, so spreadsheet programs read the file as UTF-8
            yield from csv_input.write_rows_csv(fmt, orders.failed_rows(session, order_pk))

    return Response(
        stream_with_context(generate()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{_safe_filename(name)}"'},
    )


def _failures_format(source_format: str) -> csv_input.CsvFormat:
    """The order's CSV format; JSON and mixed orders get the partner format,
    the one that carries every identifier."""
    by_name = {f.name: f for f in csv_input.FORMATS}
    return by_name.get(source_format, by_name["partner"])


def _safe_filename(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:150]


FAILURES_CSV_DOC = {
    "responses": {
        "200": {
            "description": "The failed rows as CSV (text/csv), with Error Code and Error Message.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    }
}


def dry_run_body(result: orders.SubmitResult) -> dict:
    rows = [
        {
            "line": v.line,
            "source": v.source,
            "manufacturer": v.values.get("manufacturer"),
            "model": v.values.get("model"),
            "serial_number": v.values.get("serial_number"),
            "verdict": "rejected" if v.failed else "accepted",
            "error_code": v.error_code,
            "message": v.message,
            "warnings": v.warnings,
        }
        for v in result.verdicts
    ]
    rejected = sum(1 for r in rows if r["verdict"] == "rejected")
    return {
        "dry_run": True,
        "row_count": len(rows),
        "accepted": len(rows) - rejected,
        "rejected": rejected,
        "rows": rows,
    }


def device_query(filters: dict, *, include_failed: bool = True) -> device_list.DeviceQuery:
    """The device list's query from its loaded filters (``DeviceFilterSchema``)."""
    return device_list.DeviceQuery(
        include_failed=include_failed,
        state=filters.get("state"),
        error_code=filters.get("error_code"),
        serial_number=filters.get("serial_number"),
        order_id=filters.get("order_id"),
        partner_id=filters.get("partner_id"),
        text=filters.get("q"),
        sort=filters.get("sort") or "-created_at",
    )


def device_body(row: dict) -> dict:
    """A device-list row as people read it: the state as of now and what it means."""
    state = outcomes.effective_state(row["state"], row["last_seen_at"])
    return {
        **row,
        "order": row["order_pk"],
        "state": state,
        "state_meaning": outcomes.STATE_MEANINGS[state],
        "registered_by": row["partner_name"] or "Your organisation",
        "order_id": row["order_reference"],
        "age_days": device_list.age_in_days(row["registered_at"]),
    }


def paginate(session: Session, stmt: Select, pagination_parameters, *, clamp: bool = False) -> list:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    window = page_window(pagination_parameters, total, clamp=clamp)
    if window is None:
        return []
    limit, offset = window
    return list(session.scalars(stmt.limit(limit).offset(offset)))


def page_window(
    pagination_parameters, total: int, *, clamp: bool = False
) -> tuple[int, int] | None:
    """Record the total for X-Pagination; (limit, offset) of the page, or None
    past the end (any page number is accepted; the database's are bounded).

    With ``clamp`` (the portal's pages), a page past the end shows the last
    page instead, and ``pagination_parameters.page`` says which it is."""
    pagination_parameters.item_count = total
    page, size = pagination_parameters.page, pagination_parameters.page_size
    if clamp and (page - 1) * size >= total:
        page = pagination_parameters.page = max(1, -(-total // size))
    if (page - 1) * size >= total:
        return None
    return size, (page - 1) * size


def filter_registrations(stmt: Select, filters: dict) -> Select:
    if "state" in filters:
        stmt = stmt.where(outcomes.effective_state_sql() == filters["state"])
    if "error_code" in filters:
        stmt = stmt.where(Registration.error_code == filters["error_code"])
    if "serial_number" in filters:
        stmt = stmt.where(Registration.serial_number == filters["serial_number"])
    if "order" in filters:
        stmt = stmt.where(Registration.order_pk == filters["order"])
    return stmt
