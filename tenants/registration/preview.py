"""The dry run: what the real run would decide for each row, with nothing stored.

Submission judges each row alone and against the rows before it (see
``device_rows``: hashes, identifiers, group tags, duplicates in the file).
The worker then resolves rows without a hash against the supplier catalog
and claims each device for the tenant. A preview asks the worker's questions
too, read-only: the catalog (``catalog.resolve``, the same function), and who
holds each device now (``ownership.holders``), deciding the rows in line order
as the worker's claims would. A device someone claims between the preview
and the real run can still fail then; nothing else differs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from tenants import outcomes
from tenants.ingest import catalog
from tenants.ingest.device_rows import PreparedRow
from tenants.registration import ownership

# Rows looked up in one catalog or ownership query.
_BATCH = 1000


def judge_like_the_worker(
    session: Session, tenant_id: uuid.UUID, verdicts: Sequence[PreparedRow]
) -> None:
    """Fail the rows the worker would fail, with its error codes and messages."""
    open_rows = [v for v in verdicts if not v.failed]
    identities: dict[int, str] = {}  # line_index -> the device's identity
    for start in range(0, len(open_rows), _BATCH):
        batch = open_rows[start : start + _BATCH]
        identities.update(  # a row with a decoded hardware hash carries its identity
            {
                v.line_index: v.identity_key
                for v in batch
                if v.hardware_hash is not None and v.identity_key is not None
            }
        )
        identities.update(_resolve_from_catalog(session, batch))

    keys = sorted(set(identities.values()))
    holders: dict[str, uuid.UUID] = {}
    for start in range(0, len(keys), _BATCH):
        holders.update(ownership.holders(session, keys[start : start + _BATCH]))
    first_rows: dict[str, PreparedRow] = {}  # identity -> the row of the order that claims it
    for verdict in open_rows:
        key = identities.get(verdict.line_index)
        if key is None:
            continue  # the catalog did not know it: already failed
        holder = holders.get(key)
        if holder is not None:
            code = (
                outcomes.ALREADY_REGISTERED if holder == tenant_id else outcomes.CLAIMED_ELSEWHERE
            )
            verdict.fail(code, outcomes.message(code))
        elif key in first_rows:
            # Two rows that name the same device differently (a PKID, a tuple).
            first = first_rows[key]
            verdict.fail(
                outcomes.DUPLICATE_IN_ORDER, outcomes.duplicate_message(first.source, first.line)
            )
        else:
            first_rows[key] = verdict


def _resolve_from_catalog(session: Session, rows: Sequence[PreparedRow]) -> dict[int, str]:
    """Resolve the rows without a hash as the worker does; fail those the
    catalog does not know. Returns line_index -> identity of those it knows."""
    by_id = {uuid.uuid4(): row for row in rows if row.hardware_hash is None}
    if not by_id:
        return {}
    unresolved = [
        catalog.UnresolvedRow(
            rid,
            row.identity_key,
            row.values.get("model"),
            row.values.get("serial_number"),
            row.values.get("product_key_id"),
        )
        for rid, row in by_id.items()
    ]
    identities = {}
    for rid, found in catalog.resolve(session, unresolved).items():
        row = by_id[rid]
        if isinstance(found, catalog.NoMatch):
            row.fail(outcomes.DEVICE_NOT_FOUND, found.message)
        else:
            identities[row.line_index] = found.identity_key
    return identities
