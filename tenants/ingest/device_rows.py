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
from tenants.ingest.group_tags import GroupTagPolicy
from tenants.ingest.hardware_hash import (
    HardwareHashError,
    SampleDataError,
    check_matches_row,
    compact,
    decode_hardware_hash,
    identity_key,
    is_placeholder_serial,
    is_sample_row,
)
from tenants.texts import N_, Message, capitalized

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

#: Longest serial number accepted; real ones are a few dozen characters.
MAX_SERIAL_LENGTH = 128
# A long run of nothing but base64 characters is a piece of a hardware hash
# (a hash split over two lines, or pasted into the wrong column).
_HASH_FRAGMENT = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")

SAMPLE_ROW_MESSAGE = Message(
    N_(
        "This row is the sample row of the template (SpiralOrbit, ContosoABC, 000000000000): "
        "the sample data was not replaced with your device's values. Replace it and resubmit."
    )
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
    group_tags: GroupTagPolicy = GroupTagPolicy()


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
    message: Message | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.error_code is not None

    def fail(self, code: str, message: Message) -> PreparedRow:
        self.error_code = code
        self.message = message
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
            **outcomes.message_columns(self.message),
        }


def clean_value(value: object) -> str | None:
    """A submitted value without surrounding spaces; None when empty."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def hash_error_message(detail: Message) -> Message:
    return outcomes.message(outcomes.HARDWARE_HASH_INVALID, detail=detail)


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
    serial_problem = serial and implausible_serial_problem(serial)
    if serial_problem:
        return row.fail(
            outcomes.DEVICE_NOT_FOUND,
            outcomes.message_with_detail(
                outcomes.DEVICE_NOT_FOUND,
                Message(
                    N_("{problem}: check the serial number column."),
                    problem=capitalized(serial_problem),
                ),
            ),
        )

    tag_problem = ctx.group_tags.problem(values["group_tag"])
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
            return row.fail(outcomes.HARDWARE_HASH_INVALID, hash_error_message(exc.detail))
        except HardwareHashError as exc:
            row.hardware_hash_text = text_hash[:8192]
            return row.fail(outcomes.HARDWARE_HASH_INVALID, hash_error_message(exc.detail))
        row.hardware_hash = compact(decoded.raw)
        row.hardware_hash_length = len(decoded.raw)
        row.warnings.extend(decoded.warnings)
        mismatch = check_matches_row(
            decoded, values["manufacturer"], values["model"], values["serial_number"]
        )
        if mismatch:
            return row.fail(
                outcomes.DEVICE_NOT_FOUND,
                outcomes.message_with_detail(
                    outcomes.DEVICE_NOT_FOUND,
                    Message(N_("{problem}."), problem=capitalized(mismatch)),
                ),
            )
        # The decoded values are the truth; fill what the row left out.
        values["manufacturer"] = values["manufacturer"] or decoded.manufacturer
        values["model"] = values["model"] or decoded.model
        values["serial_number"] = values["serial_number"] or decoded.serial_number or None
        values["product_key_id"] = values["product_key_id"] or decoded.product_key_id
        row.identity_key = decoded.identity_key
        row.dedupe_key = row.identity_key
        return row

    if ctx.self_registration:
        return row.fail(
            outcomes.HARDWARE_HASH_INVALID,
            hash_error_message(
                Message(
                    N_(
                        "it is missing, and registering your own devices needs the hardware "
                        "hash of each one (collect it on the device with "
                        "Get-WindowsAutopilotInfo)"
                    )
                )
            ),
        )

    maker, model_name, serial_number = (
        values[k] for k in ("manufacturer", "model", "serial_number")
    )
    if maker and model_name and serial_number and is_placeholder_serial(serial_number):
        return row.fail(
            outcomes.DEVICE_NOT_FOUND,
            outcomes.message_with_detail(
                outcomes.DEVICE_NOT_FOUND, placeholder_serial_problem(serial_number)
            ),
        )
    pkid = values["product_key_id"]
    if pkid is not None and not PKID_PATTERN.match(pkid):
        return row.fail(
            outcomes.DEVICE_NOT_FOUND,
            outcomes.message_with_detail(
                outcomes.DEVICE_NOT_FOUND,
                Message(N_("The product key ID {pkid} is not 13 digits."), pkid=repr(pkid)),
            ),
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
        Message(
            N_(
                "This row does not identify a device: give its hardware hash, or its "
                "manufacturer, model and serial number together, or its 13-digit product key "
                "ID. Missing here: {missing}."
            ),
            missing=_missing_identifiers(values),
        ),
    )


def implausible_serial_problem(serial: str) -> Message | None:
    """None for a value that can be a serial number; else why it cannot be one."""
    if _HASH_FRAGMENT.fullmatch(serial):
        return Message(
            N_(
                'the serial number is {length} characters of base64 ("{start}..."), a piece '
                "of a hardware hash rather than a serial number"
            ),
            length=len(serial),
            start=serial[:12],
        )
    if len(serial) > MAX_SERIAL_LENGTH:
        return Message(
            N_("the serial number is {length} characters long; a serial number has at most {most}"),
            length=len(serial),
            most=MAX_SERIAL_LENGTH,
        )
    return None


def placeholder_serial_problem(serial: str) -> Message:
    """Why a firmware placeholder serial number cannot stand for a device."""
    return Message(
        N_(
            'The serial number "{serial}" is a firmware placeholder that many devices report '
            "(virtual machines and boards without a serial number), so it cannot identify "
            "this device. Give the device's hardware hash instead, or set a real serial "
            "number in its firmware or virtual machine settings."
        ),
        serial=serial,
    )


# What identifies a device, as the row can lack it.
_IDENTIFIER_NAMES = {
    "manufacturer": N_("manufacturer"),
    "model": N_("model"),
    "serial_number": N_("serial number"),
}


def _missing_identifiers(values: dict[str, str | None]) -> Message:
    """The identifiers a row lacks, as a list: ``hardware hash, model, product key ID``."""
    names = [N_("hardware hash")]
    names += [name for key, name in _IDENTIFIER_NAMES.items() if not values[key]]
    names.append(N_("product key ID"))
    listed = Message(names[0])
    for name in names[1:]:
        listed = Message(N_("{first}, {then}"), first=listed, then=Message(name))
    return listed


class OrderDeduplicator:
    """The first row of a device in an order is processed; later ones fail."""

    def __init__(self) -> None:
        self._first: dict[str, tuple[int, tuple[str | None, int]]] = {}

    def check(self, row: PreparedRow) -> PreparedRow:
        if row.failed or row.dedupe_key is None:
            return row
        first = self._first.setdefault(row.dedupe_key, (row.line_index, (row.source, row.line)))
        if first[0] != row.line_index:
            row.fail(outcomes.DUPLICATE_IN_ORDER, outcomes.duplicate_message(*first[1]))
        return row
