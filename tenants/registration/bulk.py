"""Bulk actions: deregister many devices of a tenant, or give them a group
tag, in one action that reports what it did to each device.

A selection is the device ids given (at most ``MAX_IDS``) or every device
that a device-list filter matches. ``create`` stores the action and, for
ids, one item per distinct id; ``run`` resolves a filter into items (all
at once, in one transaction, so the selection is of one moment), then acts
on the items ``BATCH`` at a time, each batch one transaction that also
moves the action's progress. Each device goes through the same domain
function as a single action (``devices.deregister_once``,
``devices.set_group_tag``), so counters, claims and audit events (with
the request ID of the request that asked) are as for one device; a device
the action cannot touch is reported with the reason and the rest go on.

Everything runs in the tenant's scope: an id of another tenant's device is
not found, exactly like an id that does not exist. Within a batch, devices
are taken in id order, so two bulk actions on overlapping selections lock
rows in the same order: they wait for each other rather than deadlock, and
of the two, one changes a device and the other reports it unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from config import logging as log_context
from tenants import db
from tenants.errors import DomainError, InputError, NotFound
from tenants.ingest import group_tags
from tenants.listing import Keyset, StatementListing
from tenants.models import BulkAction, BulkActionItem, utcnow
from tenants.registration import device_list, devices
from tenants.registration.device_list import DeviceQuery
from tenants.scoping import Scope, scoped, unscoped
from tenants.texts import N_

DEREGISTER = "deregister"
SET_GROUP_TAG = "set_group_tag"
ACTIONS = (DEREGISTER, SET_GROUP_TAG)

# Ids one request may name; larger selections are a filter.
MAX_IDS = 10_000
# Devices acted on in one transaction.
BATCH = 100
# Selections up to this size are acted on in the request that asks; larger
# ones by a job (jobs/tasks.py).
INLINE_LIMIT = 25

QUEUED, RUNNING, COMPLETED = "queued", "running", "completed"
SUCCEEDED, UNCHANGED, FAILED = "succeeded", "unchanged", "failed"

# Why a device the action did not need to change is reported unchanged.
_UNCHANGED = {
    DEREGISTER: ("already_deregistered", N_("The device was already deregistered.")),
    SET_GROUP_TAG: ("group_tag_unchanged", N_("The device already had this group tag.")),
}


@dataclass(frozen=True)
class Selection:
    """The devices a bulk action is for: ``ids``, or every device ``query`` matches."""

    ids: tuple[uuid.UUID, ...] | None = None
    query: DeviceQuery | None = None

    def __post_init__(self) -> None:
        if (self.ids is None) == (self.query is None):
            raise InputError("Select devices by their ids or by a filter, not both.", field="ids")


def _stored_filter(query: DeviceQuery) -> dict:
    """The filter as JSON values (ids and days as text)."""
    return {
        k: v if v is None or isinstance(v, str | bool) else str(v) for k, v in asdict(query).items()
    }


# How ``_query_of`` reads back the values ``_stored_filter`` wrote as text.
_STORED_AS_TEXT: dict[str, Callable[[str], Any]] = {
    "partner_id": uuid.UUID,
    "registered_on": date.fromisoformat,
    "last_seen_on": date.fromisoformat,
}


def _query_of(stored: dict) -> DeviceQuery:
    return DeviceQuery(
        **{
            k: _STORED_AS_TEXT[k](v) if k in _STORED_AS_TEXT and v is not None else v
            for k, v in stored.items()
        }
    )


def selection_size(session: Session, selection: Selection) -> int:
    """How many devices the selection holds now (what a confirmation says)."""
    if selection.ids is not None:
        return len(set(selection.ids))
    assert selection.query is not None
    return device_list.matching(session, selection.query).count()


def create(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    action: str,
    selection: Selection,
    group_tag: str | None,
    request_id: str,
) -> BulkAction:
    """Store a bulk action of the tenant in scope (the caller commits, then
    calls ``run`` or hands it to a job, as ``runs_inline`` says)."""
    if action not in ACTIONS:
        raise InputError(f"Choose the action: one of {', '.join(ACTIONS)}.", field="action")
    if action == SET_GROUP_TAG:
        group_tag = (group_tag or "").strip() or None
        problem = group_tags.policy_for(session, tenant_id).problem(group_tag)
        if problem:
            raise InputError(f"The group tag is not accepted: {problem}.", field="group_tag")
    else:
        group_tag = None
    ids: list[uuid.UUID] = []
    if selection.ids is not None:
        ids = list(dict.fromkeys(selection.ids))
        if not ids:
            raise InputError("Select at least one device.", field="ids")
        if len(ids) > MAX_IDS:
            raise InputError(
                f"{len(ids):,} ids are more than the {MAX_IDS:,} one action takes: select "
                "them by a filter instead, or send them in several actions.",
                field="ids",
            )
    context = log_context.context()
    bulk = BulkAction(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        action=action,
        group_tag=group_tag,
        selection_filter=_stored_filter(selection.query) if selection.query else None,
        status=QUEUED,
        total=len(ids) if ids else selection_size(session, selection),
        done=0,
        succeeded=0,
        unchanged=0,
        failed=0,
        request_id=request_id,
        actor=context.get("principal") or "system",
        created_at=utcnow(),
    )
    session.add(bulk)
    session.flush()
    _add_items(session, bulk, ((device_id, None) for device_id in ids))
    return bulk


def runs_inline(bulk: BulkAction) -> bool:
    """Small selections of ids are acted on in the request; the rest by a job."""
    return bulk.selection_filter is None and bulk.total <= INLINE_LIMIT


def _add_items(
    session: Session, bulk: BulkAction, devices_: Iterable[tuple[uuid.UUID, str | None]]
) -> int:
    rows = [
        {
            "bulk_action_id": bulk.id,
            "position": position,
            "tenant_id": bulk.tenant_id,
            "partner_id": None,
            "device_id": device_id,
            "serial_number": serial,
        }
        for position, (device_id, serial) in enumerate(devices_)
    ]
    for start in range(0, len(rows), 1000):
        session.execute(insert(BulkActionItem), rows[start : start + 1000])
    return len(rows)


def get(session: Session, bulk_action_id: uuid.UUID) -> BulkAction:
    """A bulk action of the tenant in scope (another tenant's is not found)."""
    bulk = session.get(BulkAction, bulk_action_id)
    if bulk is None:
        raise NotFound("There is no bulk action with this ID.")
    return bulk


def items(
    session: Session, bulk_action_id: uuid.UUID, *, outcome: str | None = None
) -> StatementListing:
    """The devices of a bulk action and what it did to each, in selection order."""
    get(session, bulk_action_id)
    stmt = select(BulkActionItem).where(BulkActionItem.bulk_action_id == bulk_action_id)
    if outcome:
        stmt = stmt.where(BulkActionItem.outcome == outcome)
    # Positions are unique within an action: the tiebreak never decides.
    keyset = Keyset(BulkActionItem.position, BulkActionItem.device_id)
    return StatementListing(session, stmt, keyset, lambda item: (item.position, item.device_id))


def outcome_counts(session: Session, bulk_action_id: uuid.UUID) -> dict[str, int]:
    """Items by outcome ('' not reached yet), counted: for tests and repairs
    (the action's own figures are kept as it runs)."""
    rows = session.execute(
        select(func.coalesce(BulkActionItem.outcome, ""), func.count())
        .where(BulkActionItem.bulk_action_id == bulk_action_id)
        .group_by(BulkActionItem.outcome)
    )
    return {outcome: n for outcome, n in rows}


def unfinished(session: Session, created_before: datetime) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(id, tenant) of every bulk action of any tenant not completed that was
    created before ``created_before``: the sweeper hands out again those
    whose job Redis lost."""
    with unscoped("sweeper: unfinished bulk actions of every tenant"):
        return [
            (bulk_id, tenant_id)
            for bulk_id, tenant_id in session.execute(
                select(BulkAction.id, BulkAction.tenant_id).where(
                    BulkAction.completed_at.is_(None), BulkAction.created_at < created_before
                )
            )
        ]


# --- running ----------------------------------------------------------------------------------


def run(bulk_action_id: uuid.UUID, tenant_id: uuid.UUID) -> BulkAction | None:
    """Act on every device of the bulk action not yet reached; safe to run
    again after a crash (what was committed is not done twice)."""
    with scoped(Scope.tenant(tenant_id)):
        with db.transaction() as session:
            bulk = session.get(BulkAction, bulk_action_id, with_for_update=True)
            if bulk is None or bulk.status == COMPLETED:
                return bulk
            request_id, actor = bulk.request_id, bulk.actor
            if bulk.status == QUEUED:
                if bulk.selection_filter is not None:
                    bulk.total = _resolve(session, bulk)
                bulk.status = RUNNING
        with log_context.bound(request_id=request_id, principal=actor):
            while _next_batch(bulk_action_id):
                pass
        with db.transaction() as session:
            return session.get(BulkAction, bulk_action_id)


def _resolve(session: Session, bulk: BulkAction) -> int:
    """The devices the filter matches now, as items, in the list's order."""
    listing = device_list.matching(session, _query_of(bulk.selection_filter or {}))

    def walk():
        after = None
        while True:
            window = listing.window(1000, after=after)
            for row in window.items:
                yield row["id"], row["serial_number"]
            if window.next_key is None:
                return
            after = window.next_key

    return _add_items(session, bulk, walk())


def _next_batch(bulk_action_id: uuid.UUID) -> bool:
    """Act on the next ``BATCH`` devices; False when none was left (the
    action is then completed)."""
    with db.transaction() as session:
        bulk = session.get(BulkAction, bulk_action_id, with_for_update=True)
        if bulk is None or bulk.status == COMPLETED:
            return False
        batch = list(
            session.scalars(
                select(BulkActionItem)
                .where(
                    BulkActionItem.bulk_action_id == bulk_action_id,
                    BulkActionItem.outcome.is_(None),
                )
                .order_by(BulkActionItem.position)
                .limit(BATCH)
            )
        )
        if not batch:
            bulk.status = COMPLETED
            bulk.completed_at = utcnow()
            return False
        for item in sorted(batch, key=lambda i: i.device_id):
            _act(session, bulk, item)
        bulk.done += len(batch)
        return True


def _act(session: Session, bulk: BulkAction, item: BulkActionItem) -> None:
    try:
        if bulk.action == DEREGISTER:
            device, changed = devices.deregister_once(session, item.device_id, bulk.request_id)
        else:
            device, changed = devices.set_group_tag(
                session, item.device_id, bulk.group_tag, bulk.request_id
            )
    except DomainError as problem:
        # Raised before the device was changed: nothing of it to undo.
        item.outcome, item.code, item.message = FAILED, problem.code, problem.message
        bulk.failed += 1
        return
    item.serial_number = device.serial_number
    if changed:
        item.outcome = SUCCEEDED
        bulk.succeeded += 1
    else:
        item.outcome = UNCHANGED
        item.code, item.message = _UNCHANGED[bulk.action]
        bulk.unchanged += 1
