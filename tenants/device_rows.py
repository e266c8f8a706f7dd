"""The device-row pipeline: one submitted row in, a registration row out.

Runs at submission, before the 202, for every row of an order (and for a dry
run): it normalizes the fields, decodes the hardware hash, decides the
device's identity, and fails the row at once when it can never register
(invalid hash, no usable identifiers, sample data, a duplicate of an earlier
row). What it cannot decide alone -- ownership, the supplier catalog -- the
worker decides with set-based queries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from tenants import outcomes
from tenants.hardware_hash import (
    HardwareHashError,
    SampleDataError,
    check_matches_row,
    compact,
    decode_hardware_hash,
    identity_key,
    is_sample_row,
)

FIELDS = (
    "manufacturer",
    "model",
    "serial_number",
    "hardware_hash",
    "product_key_id",
    "group_tag",
    "assigned_user",
)

PKID_PATTERN = re.compile(r"^\d{13}$")

SAMPLE_ROW_MESSAGE = (
    "This row is the sample row of the template (SpiralOrbit, ContosoABC, 000000000000): "
    "the sample data was not replaced with your device's values. Replace it and resubmit."
)


@dataclass(frozen=True)
class RowInput:
    """One row as submitted: canonical field names -> values, and where it came from."""

    values: Mapping[str, object]
    line: int
    source: str | None = None  # the uploaded file, for CSV rows


@dataclass(frozen=True)
class RowContext:
    """What the pipeline needs to know about the order."""

    self_registration: bool
    order_group_tag: str | None = None
    allowed_group_tags: tuple[str, ...] = ()


@dataclass
class PreparedRow:
    line_index: int
    source: str | None
    line: int
    values: dict[str, str | None]
    hardware_hash: bytes | None = None
    hardware_hash_length: int | None = None
    hardware_hash_text: str | None = None
    identity_key: str | None = None
    # Key used to spot the same device twice in one order: the identity when
    # known, else the PKID the catalog will resolve.
    dedupe_key: str | None = None
    error_code: str | None = None
    message: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.error_code is not None

    def fail(self, code: str, text: str) -> PreparedRow:
        self.error_code = code
        self.message = text
        return self

    def columns(self) -> dict:
        """The registration columns this row is stored with."""
        return {
            "line_index": self.line_index,
            "source": self.source,
            "line": self.line,
            **{k: self.values.get(k) for k in FIELDS if k != "hardware_hash"},
            "hardware_hash": self.hardware_hash,
            "hardware_hash_length": self.hardware_hash_length,
            "hardware_hash_text": self.hardware_hash_text,
            "identity_key": self.identity_key,
            "state": outcomes.FAILED if self.failed else outcomes.PENDING,
            "error_code": self.error_code,
            "message": self.message,
        }


def clean_value(value: object) -> str | None:
    """A submitted value without surrounding spaces; None when empty."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def hash_error_message(detail: str) -> str:
    return outcomes.message(outcomes.HARDWARE_HASH_INVALID, detail=detail.rstrip("."))


def prepare_row(
    raw: Mapping[str, object], *, line_index: int, line: int, source: str | None, ctx: RowContext
) -> PreparedRow:
    values = {name: clean_value(raw.get(name)) for name in FIELDS}
    if values["group_tag"] is None:
        values["group_tag"] = ctx.order_group_tag
    row = PreparedRow(line_index=line_index, source=source, line=line, values=values)

    manufacturer, model, serial = (
        values[k] or "" for k in ("manufacturer", "model", "serial_number")
    )
    if is_sample_row(manufacturer, model, serial):
        return row.fail(outcomes.DEVICE_NOT_FOUND, SAMPLE_ROW_MESSAGE)

    tag_problem = check_group_tag(values["group_tag"], ctx.allowed_group_tags)
    if tag_problem:
        return row.fail(
            outcomes.GROUP_TAG_INVALID,
            outcomes.message(outcomes.GROUP_TAG_INVALID, detail=tag_problem),
        )

    text_hash = values["hardware_hash"]
    if text_hash is not None:
        try:
            decoded = decode_hardware_hash(text_hash)
        except SampleDataError as exc:
            row.hardware_hash_text = text_hash[:8192]
            return row.fail(outcomes.HARDWARE_HASH_INVALID, hash_error_message(exc.message))
        except HardwareHashError as exc:
            row.hardware_hash_text = text_hash[:8192]
            return row.fail(outcomes.HARDWARE_HASH_INVALID, hash_error_message(exc.message))
        row.hardware_hash = compact(decoded.raw)
        row.hardware_hash_length = len(decoded.raw)
        row.warnings.extend(decoded.warnings)
        mismatch = check_matches_row(
            decoded, values["manufacturer"], values["model"], values["serial_number"]
        )
        if mismatch:
            return row.fail(
                outcomes.DEVICE_NOT_FOUND,
                f"{outcomes.message(outcomes.DEVICE_NOT_FOUND)} "
                f"({mismatch[0].upper()}{mismatch[1:]}.)",
            )
        # The decoded values are the truth; fill what the row left out.
        values["manufacturer"] = values["manufacturer"] or decoded.manufacturer
        values["model"] = values["model"] or decoded.model
        values["serial_number"] = values["serial_number"] or decoded.serial_number
        values["product_key_id"] = values["product_key_id"] or decoded.product_key_id
        row.identity_key = identity_key(decoded.manufacturer, decoded.serial_number)
        row.dedupe_key = row.identity_key
        return row

    if ctx.self_registration:
        return row.fail(
            outcomes.HARDWARE_HASH_INVALID,
            hash_error_message(
                "it is missing, and registering your own devices needs the hardware hash "
                "of each one (collect it on the device with Get-WindowsAutopilotInfo)"
            ),
        )

    maker, model_name, serial_number = (
        values[k] for k in ("manufacturer", "model", "serial_number")
    )
    pkid = values["product_key_id"]
    if pkid is not None and not PKID_PATTERN.match(pkid):
        return row.fail(
            outcomes.DEVICE_NOT_FOUND,
            f"{outcomes.message(outcomes.DEVICE_NOT_FOUND)} (The product key ID {pkid!r} "
            "is not 13 digits.)",
        )
    if maker and model_name and serial_number:
        row.identity_key = identity_key(maker, serial_number)
        row.dedupe_key = row.identity_key
        return row
    if pkid is not None:
        row.dedupe_key = f"pkid:{pkid}"
        return row
    return row.fail(
        outcomes.DEVICE_NOT_FOUND,
        "This row does not identify a device: give its hardware hash, or its manufacturer, "
        "model and serial number together, or its 13-digit product key ID. "
        f"Missing here: {', '.join(_missing_identifiers(values))}.",
    )


def _missing_identifiers(values: dict[str, str | None]) -> list[str]:
    names = {"manufacturer": "manufacturer", "model": "model", "serial_number": "serial number"}
    missing = [label for key, label in names.items() if not values[key]]
    return ["hardware hash", *missing, "product key ID"]


def check_group_tag(tag: str | None, allowed: tuple[str, ...]) -> str | None:
    """None when the tag is acceptable; else what is wrong and the right tag."""
    if tag is None or not allowed or tag in allowed:
        return None
    folded = {a.casefold(): a for a in allowed}
    if tag.casefold() in folded:
        right = folded[tag.casefold()]
        return f"{tag!r} differs from {right!r} in letter case; use {right!r}"
    squashed = {re.sub(r"[\s_-]", "", a.casefold()): a for a in allowed}
    key = re.sub(r"[\s_-]", "", tag.casefold())
    if key in squashed:
        return f"{tag!r} is not accepted; did you mean {squashed[key]!r}?"
    return f"{tag!r} is not accepted; use one of: {', '.join(allowed)}"


class OrderDeduplicator:
    """The first row of a device in an order is processed; later ones fail."""

    def __init__(self) -> None:
        self._first: dict[str, tuple[int, str]] = {}

    def check(self, row: PreparedRow) -> PreparedRow:
        if row.failed or row.dedupe_key is None:
            return row
        where = f"{row.source}, line {row.line}" if row.source else f"line {row.line}"
        first_index, first_where = self._first.setdefault(row.dedupe_key, (row.line_index, where))
        if first_index != row.line_index:
            row.fail(
                outcomes.DUPLICATE_IN_ORDER,
                f"{outcomes.message(outcomes.DUPLICATE_IN_ORDER)} (First seen on {first_where}.)",
            )
        return row
