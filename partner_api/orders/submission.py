"""Submitting an order, from the API and from the portal.

An order is stored with all its rows in one transaction, and its chunks are
enqueued once that transaction has committed (a crash in between only
delays them: the sweeper hands them out). The API's answer is 202 with the
order and its ``Location``; with an ``Idempotency-Key``, a retry of the same
request replays that first answer instead of storing a second order. A dry
run judges every row and stores nothing.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from flask import Response, current_app, jsonify, url_for
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from config.settings import Settings
from jobs.tasks import enqueue_order
from partner_api import i18n
from partner_api.auth.principals import require_principal
from partner_api.orders.schemas import DryRunSchema, OrderSchema
from partner_api.request_context import current_request_id, request_session
from partner_api.uploads import RowStream, request_fingerprint
from tenants import db
from tenants.models import Order
from tenants.operations import idempotency
from tenants.registration import orders


def submit(
    *,
    tenant_id: uuid.UUID,
    partner_id: uuid.UUID | None,
    body: dict,
    dry_run: bool,
    idempotency_key: str | None,
    location_endpoint: str,
) -> Response:
    """The API's order submission: store the order, enqueue it after COMMIT,
    answer 202 with a ``Location`` (``location_endpoint``'s URL of the order).

    ``body`` is what ``ApiBlueprint.device_body`` parsed: the order's fields
    and ``rows``, a stream of its device rows (JSON or CSV);
    ``idempotency_key`` what ``ApiBlueprint.idempotent`` checked.
    """
    session = request_session()
    submission = new_submission(tenant_id=tenant_id, partner_id=partner_id, body=body)
    rows, key = body["rows"], idempotency_key
    if dry_run:
        # Not the 202 order: bypass the route's response schema.
        response = jsonify(DryRunSchema().dump(preview_order(session, submission, rows)))
        response.status_code = 200
        return response

    principal, fingerprint = "", ""
    if key is not None:
        # Before the rows are read: the fingerprint reads the uploaded files.
        principal, fingerprint = require_principal().label(), request_fingerprint()
        replay = idempotency.find(session, principal, key, fingerprint)
        if replay is not None:
            session.rollback()
            return _replayed(replay)
    try:
        order = _store(session, submission, rows)
        accepted = idempotency.StoredResponse(
            status=202,
            body=json.dumps(OrderSchema().dump(orders.as_dict(session, order))),
            location=url_for(location_endpoint, order_id=order.id),
        )
        if key is not None:
            idempotency.remember(
                session,
                principal,
                key,
                fingerprint,
                accepted,
                request_id=submission.request_id,
                ttl=timedelta(seconds=_settings().idempotency_ttl_seconds),
            )
        session.commit()  # then the order's chunks are enqueued
    except IntegrityError:
        session.rollback()
        # The same key was stored by a concurrent request that committed first.
        replay = None if key is None else idempotency.find(session, principal, key, fingerprint)
        if replay is None:
            raise
        session.rollback()
        return _replayed(replay)
    except BaseException:
        session.rollback()
        raise
    return _answer(accepted)


def store_order(session: Session, submission: orders.Submission, rows: RowStream) -> Order:
    """The portal's order submission: store the order and commit; its chunks
    are enqueued once committed."""
    try:
        order = _store(session, submission, rows)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return order


def preview_order(session: Session, submission: orders.Submission, rows: RowStream) -> dict:
    """A dry run: every row's verdict (``DryRunSchema``), with nothing stored."""
    try:
        result = orders.submit_order(session, submission, rows, dry_run=True)
    finally:
        session.rollback()
    return dry_run_body(result)


def new_submission(
    *, tenant_id: uuid.UUID, partner_id: uuid.UUID | None, body: dict
) -> orders.Submission:
    """An order submission from a parsed device body, under the configured limits."""
    config = _settings()
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
            "message": i18n.message_text(v.message),
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


def _store(session: Session, submission: orders.Submission, rows: RowStream) -> Order:
    """Store the order and its rows in the session's transaction; its chunks
    are enqueued once the caller commits it (never if it rolls back)."""
    result = orders.submit_order(session, submission, rows)
    order = result.order
    if order is None:
        raise RuntimeError("submit_order stores an order unless asked for a dry run")
    order.source_format = rows.source_format
    config, chunks, request_id = _settings(), result.chunks, submission.request_id
    db.after_commit(session, lambda: enqueue_order(config, order, chunks, request_id))
    return order


def _answer(stored: idempotency.StoredResponse) -> Response:
    response = Response(stored.body, status=stored.status, mimetype="application/json")
    if stored.location:
        response.headers["Location"] = stored.location
    return response


def _replayed(stored: idempotency.StoredResponse) -> Response:
    response = _answer(stored)
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _settings() -> Settings:
    return current_app.extensions["partner_api.settings"]
