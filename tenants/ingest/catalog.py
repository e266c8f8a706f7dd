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

from sqlalchemy import Table, column, select, table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tenants import db, outcomes
from tenants.errors import InputError
from tenants.ingest.device_rows import (
    PKID_PATTERN,
    RowInput,
    clean_value,
    placeholder_serial_problem,
)
from tenants.ingest.hardware_hash import (
    HardwareHashError,
    check_matches_row,
    compact,
    decode_hardware_hash,
    identity_key,
    is_placeholder_serial,
    is_sample_row,
    normalize_identity_part,
)
from tenants.models import CatalogDevice, utcnow
from tenants.texts import N_, Message

_CATALOG = cast(Table, CatalogDevice.__table__)
# Records are written this many at a time (on PostgreSQL, one COPY each).
_UPSERT_BATCH = 10_000
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
        identity = decoded.identity_key
    elif serial is not None and is_placeholder_serial(serial):
        raise InputError(placeholder_serial_problem(serial))
    elif manufacturer is not None and serial is not None:
        identity = identity_key(manufacturer, serial)
    else:
        identity = None  # reported missing just below
    missing = [
        label
        for label, value in (
            ("manufacturer", manufacturer),
            ("model", model),
            ("serial number", serial or identity),
        )
        if not value
    ]
    if missing:
        raise InputError(
            "A factory record needs the manufacturer, model and serial number (or a hardware "
            f"hash that contains them). Missing: {', '.join(missing)}."
        )
    if pkid is not None and not PKID_PATTERN.match(pkid):
        raise InputError(f"The product key ID {pkid!r} is not 13 digits.")
    return {
        "identity_key": identity,
        "manufacturer": manufacturer,
        "model": model,
        "serial_number": serial or "",
        "product_key_id": pkid,
        "hardware_hash": compact(raw_hash) if raw_hash is not None else None,
        "hardware_hash_length": len(raw_hash) if raw_hash is not None else None,
    }


def _upsert(session: Session, records: list[dict]) -> set[str]:
    """Insert new records and replace the supplier's own; returns the identity
    keys written. A record another supplier owns is left as it is: the
    conflict update applies only where the stored record's supplier is the
    writer, decided by the database row by row (concurrent uploads included).

    On PostgreSQL the records go in by COPY into a temporary table, then one
    ``INSERT ... SELECT ... ON CONFLICT``; elsewhere as the parameters of one
    cached statement, which SQLAlchemy sends as multi-row VALUES (a statement
    built with the records in it would be compiled again for every batch)."""
    if session.get_bind().dialect.name == "postgresql":
        return _upsert_copied(session, records)
    stmt = sqlite.insert(_CATALOG)
    written = session.execute(_on_conflict(stmt).returning(_CATALOG.c.identity_key), records)
    return set(written.scalars())


_REPLACED = (
    "manufacturer",
    "model",
    "serial_number",
    "product_key_id",
    "hardware_hash",
    "hardware_hash_length",
    "request_id",
    "updated_at",
)


def _on_conflict(stmt):
    return stmt.on_conflict_do_update(
        index_elements=["identity_key"],
        set_={c: stmt.excluded[c] for c in _REPLACED},
        where=_CATALOG.c.supplier_id == stmt.excluded.supplier_id,
    )


_INTAKE = "catalog_intake"


def _upsert_copied(session: Session, records: list[dict]) -> set[str]:
    columns = list(records[0])
    names = ", ".join(columns)
    session.execute(
        text(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_INTAKE} (LIKE catalog_devices) ON COMMIT DROP"
        )
    )
    with (
        db.driver_connection(session).cursor() as cursor,
        cursor.copy(f"COPY {_INTAKE} ({names}) FROM STDIN") as copy,
    ):
        for record in records:
            copy.write_row([record[c] for c in columns])
    intake = table(_INTAKE, *(column(c) for c in columns))
    stmt = postgresql.insert(_CATALOG).from_select(columns, select(intake))
    written = set(session.execute(_on_conflict(stmt).returning(_CATALOG.c.identity_key)).scalars())
    session.execute(text(f"TRUNCATE {_INTAKE}"))
    return written


OWNED_BY_ANOTHER_SUPPLIER = (
    "Another supplier already has a factory record of this device (same manufacturer and "
    "serial number); only the supplier that created a record may replace it. If the record "
    "is wrong, ask the operator to correct it."
)


def store_records(
    session: Session, supplier_id: str, rows: Iterable[RowInput], *, request_id: str
) -> CatalogResult:
    """Add factory records, or replace the supplier's own.

    A record belongs to the supplier that created it: a row for a device
    another supplier's record describes is rejected, with the reason, and the
    record stays as it was. Rows that cannot be a record are reported, not
    stored; the caller commits.
    """
    result = CatalogResult()
    # identity key -> (record, where the row came from)
    batch: dict[str, tuple[dict, RowInput]] = {}
    now = utcnow()

    def reject(row: RowInput, message: str) -> None:
        result.rejected += 1
        if len(result.rejections) < MAX_REPORTED_REJECTIONS:
            result.rejections.append({"source": row.source, "line": row.line, "message": message})

    def flush() -> None:
        if not batch:
            return
        written = _upsert(session, [record for record, _ in batch.values()])
        for key, (_, row) in batch.items():
            if key in written:
                result.stored += 1
            else:
                reject(row, OWNED_BY_ANOTHER_SUPPLIER)
        batch.clear()

    for row in rows:
        result.received += 1
        try:
            record = _record(row.values)
        except InputError as exc:
            reject(row, exc.message)
            continue
        record.update(supplier_id=supplier_id, request_id=request_id, updated_at=now)
        # The same device twice in one upload: the later record wins (one
        # statement may not touch a key twice).
        batch[record["identity_key"]] = (record, row)
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
    # Found by the PKID alone: the row does not carry the device's other values.
    by_pkid: bool = False


@dataclass(frozen=True)
class NoMatch:
    message: Message


def _not_found(detail: Message) -> NoMatch:
    return NoMatch(outcomes.message_with_detail(outcomes.DEVICE_NOT_FOUND, detail))


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
                Message(N_("No supplier has a record of this manufacturer and serial number."))
            )
        elif normalize_identity_part(row.model or "") != normalize_identity_part(rec.model):
            result[row.registration_id] = _not_found(
                Message(
                    N_(
                        "The model {model} does not match the supplier's record for this "
                        "serial number."
                    ),
                    model=repr(row.model),
                )
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
            result[row.registration_id] = _match(candidates[0], by_pkid=True)
        elif not candidates:
            result[row.registration_id] = _not_found(
                Message(
                    N_(
                        "No supplier has a record of the product key ID {pkid} with this "
                        "serial number."
                    )
                    if row.serial_number
                    else N_("No supplier has a record of the product key ID {pkid}."),
                    pkid=row.product_key_id or "",
                )
            )
        else:
            result[row.registration_id] = _not_found(
                Message(
                    N_(
                        "The product key ID {pkid} matches several supplier records; add the "
                        "device's serial number to the row."
                    ),
                    pkid=row.product_key_id or "",
                )
            )
    return result


def _match(rec, *, by_pkid: bool = False) -> Match:
    return Match(
        by_pkid=by_pkid,
        identity_key=rec.identity_key,
        manufacturer=rec.manufacturer,
        model=rec.model,
        serial_number=rec.serial_number,
        product_key_id=rec.product_key_id,
    )
