"""Starting a bulk action on the signed-in customer's devices, for the API
and the portal alike (tenants/registration/bulk.py does the work)."""

from __future__ import annotations

import uuid

from flask import current_app
from sqlalchemy.orm import Session

from jobs.tasks import enqueue_bulk_action
from partner_api.request_context import current_request_id
from tenants import db
from tenants.models import BulkAction
from tenants.registration import bulk


def start(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    action: str,
    selection: bulk.Selection,
    group_tag: str | None = None,
) -> BulkAction:
    """Store the action and commit; a small selection of ids is then acted
    on at once, a larger one handed to a job (after COMMIT). The action as
    it is after that."""
    stored = bulk.create(
        session,
        tenant_id=tenant_id,
        action=action,
        selection=selection,
        group_tag=group_tag,
        request_id=current_request_id(),
    )
    bulk_action_id = stored.id
    inline = bulk.runs_inline(stored)
    if not inline:
        settings = current_app.extensions["partner_api.settings"]
        db.after_commit(session, lambda: enqueue_bulk_action(settings, bulk_action_id, tenant_id))
    session.commit()
    if inline:
        bulk.run(bulk_action_id, tenant_id)
    session.expire_all()
    return bulk.get(session, bulk_action_id)


def body(action: BulkAction) -> dict:
    """A bulk action as the API and the portal show it."""
    percent = 100 if not action.total else int(100 * action.done / action.total)
    return {
        "id": action.id,
        "action": action.action,
        "group_tag": action.group_tag,
        "selection": "filter" if action.selection_filter is not None else "ids",
        "filter": action.selection_filter,
        "status": action.status,
        "total": action.total,
        "done": action.done,
        "percent": percent if action.status != bulk.COMPLETED else 100,
        "succeeded": action.succeeded,
        "unchanged": action.unchanged,
        "failed": action.failed,
        "request_id": action.request_id,
        "created_at": action.created_at,
        "completed_at": action.completed_at,
        "final": action.status == bulk.COMPLETED,
    }
