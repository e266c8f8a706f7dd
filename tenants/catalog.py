"""The supplier catalog: factory records that partner rows are resolved against.

Suppliers (OEMs) upload one record per device they built: manufacturer, model,
serial number, optionally the PKID and the hardware hash. A partner row that
carries only the (manufacturer, model, serial number) tuple, or only a PKID,
is registered when it matches a record, and fails ``device_not_found`` when
it does not. Resolution is set-based: one query per chunk for tuples, one for
PKIDs.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tenants import db, outcomes
from tenants.device_rows import PKID_PATTERN, RowInput, clean_value
from tenants.errors import InputError
from tenants.hardware_hash import (
    HardwareHashError,
    check_matches_row,
    compact,
    decode_hardware_hash,
    identity_key,
    is_sample_row,
    normalize_identity_part,
)
from tenants.models import CatalogDevice, utcnow

_CATALOG = cast(Table, CatalogDevice.__table__)
_UPSERT_BATCH = 1000
# A catalog answer lists this many rejected records; the counts cover all.
MAX_REPORTED_REJECTIONS = 1000


@dataclass
class CatalogResult:
    received: int = 0
    stored: int = 0
    rejected: int = 0
    rejections: list[dict] = field(default_factory=list)


def _record(values: Mapping[str, object]) -> dict:
    """A catalog record from one submitted row; raises InputError saying what is wrong."""
    manufacturer, model, serial, pkid, text_hash = (
        clean_value(values.get(k))
        for k in ("manufacturer", "model", "serial_number", "product_key_id", "hardware_hash")
    )
    if is_sample_row(manufacturer, model, serial):
        raise InputError(
            "This is the template's sample row (SpiralOrbit, ContosoABC, 000000000000); "
            "replace it with a real device's values."
        )
    raw_hash = None
    if text_hash is not None:
        try:
            decoded = decode_hardware_hash(text_hash)
        except HardwareHashError as exc:
            raise InputError(f"The hardware hash is not usable: {exc.message}") from exc
        mismatch = check_matches_row(decoded, manufacturer, model, serial)
        if mismatch:
            raise InputError(f"The row does not match its hardware hash: {mismatch}.")
        manufacturer = manufacturer or decoded.manufacturer
        model = model or decoded.model
        serial = serial or decoded.serial_number
        pkid = pkid or decoded.product_key_id
        raw_hash = decoded.raw
    if not (manufacturer and model and serial):
        missing = [
            label
            for label, value in (
                ("manufacturer", manufacturer),
                ("model", model),
                ("serial number", serial),
            )
            if not value
        ]
        raise InputError(
            "A factory record needs the manufacturer, model and serial number (or a hardware "
            f"hash that contains them). Missing: {', '.join(missing)}."
        )
    if pkid is not None and not PKID_PATTERN.match(pkid):
        raise InputError(f"The product key ID {pkid!r} is not 13 digits.")
    return {
        "identity_key": identity_key(manufacturer, serial),
        "manufacturer": manufacturer,
        "model": model,
        "serial_number": serial,
        "product_key_id": pkid,
        "hardware_hash": compact(raw_hash) if raw_hash is not None else None,
        "hardware_hash_length": len(raw_hash) if raw_hash is not None else None,
    }


def _upsert(session: Session, records: list[dict]) -> None:
    dialect = session.get_bind().dialect.name
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_CATALOG)
    updated = {
        c: stmt.excluded[c]
        for c in (
            "supplier_id",
            "manufacturer",
            "model",
            "serial_number",
            "product_key_id",
            "hardware_hash",
            "hardware_hash_length",
            "request_id",
            "updated_at",
        )
    }
    session.execute(
        stmt.values(records).on_conflict_do_update(index_elements=["identity_key"], set_=updated)
    )


def store_records(
    session: Session, supplier_id: str, rows: Iterable[RowInput], *, request_id: str
) -> CatalogResult:
    """Add or replace factory records; a record for a known device replaces it.

    Rows that cannot be a record are reported, not stored; the caller commits.
    """
    result = CatalogResult()
    batch: dict[str, dict] = {}
    now = utcnow()

    def flush() -> None:
        if batch:
            _upsert(session, list(batch.values()))
            batch.clear()

    for row in rows:
        result.received += 1
        try:
            record = _record(row.values)
        except InputError as exc:
            result.rejected += 1
            if len(result.rejections) < MAX_REPORTED_REJECTIONS:
                result.rejections.append(
                    {"source": row.source, "line": row.line, "message": exc.message}
                )
            continue
        record.update(supplier_id=supplier_id, request_id=request_id, updated_at=now)
        # The same device twice in one upload: the later record wins (one
        # statement may not touch a key twice).
        batch[record["identity_key"]] = record
        result.stored += 1
        if len(batch) >= _UPSERT_BATCH:
            flush()
    flush()
    if result.received == 0:
        raise InputError("The upload has no device records.", code="catalog_empty")
    return result


@dataclass(frozen=True)
class UnresolvedRow:
    """A registration without a hardware hash, as the worker sees it."""

    registration_id: uuid.UUID
    identity_key: str | None
    model: str | None
    serial_number: str | None
    product_key_id: str | None


@dataclass(frozen=True)
class Match:
    identity_key: str
    manufacturer: str
    model: str
    serial_number: str
    product_key_id: str | None


@dataclass(frozen=True)
class NoMatch:
    message: str


def _not_found(detail: str) -> NoMatch:
    return NoMatch(f"{outcomes.message(outcomes.DEVICE_NOT_FOUND)} ({detail})")


def resolve(session: Session, rows: Sequence[UnresolvedRow]) -> dict[uuid.UUID, Match | NoMatch]:
    """Match rows against the catalog: by identity (tuple rows) or by PKID."""
    by_identity = [r for r in rows if r.identity_key is not None]
    by_pkid = [r for r in rows if r.identity_key is None and r.product_key_id is not None]
    result: dict[uuid.UUID, Match | NoMatch] = {}

    records = {}
    if by_identity:
        records = {
            rec.identity_key: rec
            for rec in session.execute(
                select(_CATALOG).where(
                    db.one_of(
                        session, _CATALOG.c.identity_key, {r.identity_key for r in by_identity}
                    )
                )
            )
        }
    for row in by_identity:
        rec = records.get(row.identity_key)
        if rec is None:
            result[row.registration_id] = _not_found(
                "No supplier has a record of this manufacturer and serial number."
            )
        elif normalize_identity_part(row.model or "") != normalize_identity_part(rec.model):
            result[row.registration_id] = _not_found(
                f"The model {row.model!r} does not match the supplier's record for this "
                "serial number."
            )
        else:
            result[row.registration_id] = _match(rec)

    by_key: dict[str | None, list] = defaultdict(list)
    if by_pkid:
        for rec in session.execute(
            select(_CATALOG).where(
                db.one_of(session, _CATALOG.c.product_key_id, {r.product_key_id for r in by_pkid})
            )
        ):
            by_key[rec.product_key_id].append(rec)
    for row in by_pkid:
        candidates = by_key.get(row.product_key_id, [])
        if row.serial_number:
            wanted = normalize_identity_part(row.serial_number)
            candidates = [
                c for c in candidates if normalize_identity_part(c.serial_number) == wanted
            ]
        if len(candidates) == 1:
            result[row.registration_id] = _match(candidates[0])
        elif not candidates:
            result[row.registration_id] = _not_found(
                f"No supplier has a record of the product key ID {row.product_key_id}"
                + (" with this serial number." if row.serial_number else ".")
            )
        else:
            result[row.registration_id] = _not_found(
                f"The product key ID {row.product_key_id} matches several supplier records; "
                "add the device's serial number to the row."
            )
    return result


def _match(rec) -> Match:
    return Match(
        identity_key=rec.identity_key,
        manufacturer=rec.manufacturer,
        model=rec.model,
        serial_number=rec.serial_number,
        product_key_id=rec.product_key_id,
    )
