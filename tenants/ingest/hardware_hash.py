"""Hardware hashes ("4K hashes"): validation, decoding, identity and generation.

A hardware hash is the base64 text of a binary blob a PC reports about itself
(Get-WindowsAutoPilotInfo's "Hardware Hash" column); a real capture is 3,000
bytes, so its text is 4,000 characters. Layout, every integer little-endian
(docs/hardware-hash.md has the whole story)::

    offset 0    b"OA"           signature, so every real hash text starts with "T0"
    offset 2    uint16 L        end offset of the records
    offset 4    records, back to back, ending exactly at L:
                  byte 0        record type (real captures carry types 1 to 37)
                  byte 1        reserved (0)
                  bytes 2-3     uint16 record length, including this 4-byte header
                  bytes 4..     payload
    offset L    b"CS$\\0" and the 32-byte SHA-256 of bytes 0..L-1
    then        zero padding up to the size of the capture (3,000 bytes)

Record types read here; every other record, and any number of records of any
type, is walked over as opaque bytes:

    12          SMBIOS UUID, 16 bytes (first three fields little-endian, as SMBIOS stores it)
    14          SMBIOS serial number (text)
    16          system manufacturer (text)
    17          product name, i.e. the model (text)
    24          product key ID, 13 digits (text)
    30          one display adapter, UTF-16LE "vendor|name" without NUL (one record per adapter)

Text records are UTF-8 terminated by a NUL byte.

A hash is valid when its records end exactly at L, the checksum after them is
present and matches (every real capture has it: a missing or wrong one means
the text was cut short or altered), the padding is zeros, and the device it
describes can be identified. Because a hash embeds its capture time, two
captures of the same PC differ as strings: the identity of a device is the
decoded (manufacturer, serial number) pair, or (manufacturer, SMBIOS UUID)
when the serial number is a firmware placeholder (``PLACEHOLDER_SERIALS``),
never the hash text.

Errors raised here carry only the specific detail ("it is not valid base64:
..."); the caller puts it into the sentence shown to the person who submitted
the hash.
"""

from __future__ import annotations

import binascii
import dataclasses
import hashlib
import re
import struct
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from tenants.errors import InputError
from tenants.texts import N_, Message, joined

__all__ = [
    "MAX_TEXT_LENGTH",
    "PLACEHOLDER_SERIALS",
    "PLACEHOLDER_UUIDS",
    "REAL_CAPTURE_SIZE",
    "SAMPLE_HARDWARE_HASH",
    "SAMPLE_MANUFACTURER",
    "SAMPLE_MODEL",
    "SAMPLE_ROW_SERIAL",
    "DecodedHash",
    "HardwareHashError",
    "SampleDataError",
    "build_hardware_hash",
    "check_matches_row",
    "compact",
    "decode_hardware_hash",
    "expand",
    "identity_key",
    "is_placeholder_serial",
    "is_placeholder_uuid",
    "is_sample_row",
    "normalize_identity_part",
    "smbios_uuid_of",
    "uuid_identity_key",
]

#: Longest text accepted, in characters (a real hash is about 4,000).
MAX_TEXT_LENGTH = 64 * 1024

#: Bytes in a real capture, records, checksum and zero padding together.
REAL_CAPTURE_SIZE = 3000

#: Placeholder hardware hash shipped in the import template's sample row.
SAMPLE_HARDWARE_HASH = "dGhpc2RldmljZWlzYW5tbWRkZXZpY2U"
SAMPLE_ROW_SERIAL = "000000000000"
SAMPLE_MANUFACTURER = "SpiralOrbit"
SAMPLE_MODEL = "ContosoABC"

SIGNATURE = b"OA"
CHECKSUM_MARKER = b"CS$\x00"
_CHECKSUM_SIZE = len(CHECKSUM_MARKER) + 32
_HEADER_SIZE = 4
_RECORD_HEADER_SIZE = 4
_MAX_U16 = 0xFFFF

TYPE_TPM_EK = 11
TYPE_SMBIOS_UUID = 12
TYPE_TPM_VERSION = 13
TYPE_SERIAL_NUMBER = 14
TYPE_MANUFACTURER = 16
TYPE_PRODUCT_NAME = 17
TYPE_PRODUCT_KEY_ID = 24
TYPE_TPM_EK_PUB = 25
TYPE_DISPLAY_ADAPTER = 30

_RECORD_NAMES = {
    TYPE_SMBIOS_UUID: N_("SMBIOS UUID record (type 12)"),
    TYPE_SERIAL_NUMBER: N_("SMBIOS serial number record (type 14)"),
    TYPE_MANUFACTURER: N_("system manufacturer record (type 16)"),
    TYPE_PRODUCT_NAME: N_("product name (model) record (type 17)"),
    TYPE_PRODUCT_KEY_ID: N_("product key ID record (type 24)"),
    TYPE_DISPLAY_ADAPTER: N_("display adapter record (type 30)"),
}
_INTERPRETED = frozenset(_RECORD_NAMES)
# Records that describe the one device: when a hash carries one twice, both
# must say the same. Display adapters are one record each.
_SINGLE_VALUED = _INTERPRETED - {TYPE_DISPLAY_ADAPTER}

_SAMPLE_BYTES = b"thisdeviceisanmmddevice"

# Characters trimmed from both ends besides whitespace: quotes (including the
# typographic ones office software substitutes) and a byte order mark.
_EDGE_CHARACTERS = "\"'\u201c\u201d\u2018\u2019\ufeff"
# \s matches exactly what str.split() removes, so positions stay consistent.
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=\s]")
_PADDING_THEN_DATA = re.compile(r"=[=\s]*[^=\s]")
_PADDING_ADDED = "padding was missing and has been added"
_EMPTY = Message(N_("it is empty"))

# ---------------------------------------------------------------------------
# Firmware placeholders
#
# Firmware that was never given a serial number, and many virtual machines,
# report one of these instead (compared after normalize_identity_part). A
# serial number made of one repeated character ("0", "00000000", "xxxx") or
# none at all is a placeholder too. Such a serial number names no device, so
# the SMBIOS UUID identifies it instead. Keep docs/hardware-hash.md in step.
PLACEHOLDER_SERIALS = frozenset(
    value.casefold()
    for value in (
        "To be filled by O.E.M.",
        "To Be Filled By O.E.M",
        "To be filled by OEM",
        "Default string",
        "Default",
        "System Serial Number",
        "Chassis Serial Number",
        "Base Board Serial Number",
        "Serial Number",
        "SerialNumber",
        "Not Specified",
        "Not Applicable",
        "Not Available",
        "N/A",
        "NA",
        "None",
        "Null",
        "Unknown",
        "Invalid",
        "Empty",
        "OEM",
        "O.E.M.",
        "123456789",
        "0123456789",
        "1234567890",
    )
)
# QEMU and other SMBIOS tables that point at a string they never filled in.
_PLACEHOLDER_SERIAL_PATTERN = re.compile(r"smbios_string_index_\d+")
#: SMBIOS UUIDs that name no machine: all zeros, all ones, and the value
#: firmware vendors ship in boards they never personalised.
PLACEHOLDER_UUIDS = frozenset(
    {
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "03000200-0400-0500-0006-000700080009",
    }
)


def is_placeholder_serial(value: str | None) -> bool:
    """Whether a serial number is a firmware placeholder rather than a device's own."""
    if value is None:
        return True
    normalized = normalize_identity_part(value)
    squeezed = normalized.replace(" ", "")
    return (
        len(set(squeezed)) <= 1
        or normalized in PLACEHOLDER_SERIALS
        or _PLACEHOLDER_SERIAL_PATTERN.fullmatch(normalized) is not None
    )


def is_placeholder_uuid(value: str | None) -> bool:
    """Whether an SMBIOS UUID (canonical text) is missing or a placeholder."""
    return value is None or value.casefold() in PLACEHOLDER_UUIDS


class HardwareHashError(InputError):
    """A hardware hash cannot be used; ``message`` is the specific detail only
    (a ``Message``: it is rendered again in the reader's language)."""

    code = "hardware_hash_invalid"

    def __init__(
        self,
        message: Message,
        *,
        code: str | None = None,
        file: str | None = None,
        line: int | None = None,
        field: str | None = "hardware_hash",
    ) -> None:
        super().__init__(message, code=code, file=file, line=line, field=field)
        self.detail = message


class SampleDataError(HardwareHashError):
    """The template's sample hardware hash was submitted instead of a real one."""


@dataclasses.dataclass(frozen=True)
class DecodedHash:
    """What a valid hardware hash says about its device."""

    manufacturer: str
    model: str
    serial_number: str  # as reported, a placeholder included ("" when absent)
    product_key_id: str | None
    smbios_uuid: str | None  # canonical 8-4-4-4-12 hex when present
    display_adapters: tuple[str, ...]  # "vendor|name", one per type-30 record
    identity_key: str  # see identity_key / uuid_identity_key
    raw: bytes = dataclasses.field(repr=False)  # the decoded blob
    records_end: int  # L
    warnings: tuple[str, ...]  # problems that do not make the hash unusable

    @property
    def serial_is_placeholder(self) -> bool:
        return is_placeholder_serial(self.serial_number)


# ---------------------------------------------------------------------------
# Decoding


def decode_hardware_hash(text: str) -> DecodedHash:
    """Validate and decode a hardware hash as submitted; raise ``HardwareHashError``.

    Whitespace anywhere (line breaks from copy and paste included) and quotes
    around the value are ignored, and missing ``=`` padding is added with a
    warning. Character positions in messages count from 1 in the text as given.
    """
    text = _as_text(text)
    if len(text) > MAX_TEXT_LENGTH:
        raise HardwareHashError(
            Message(
                N_(
                    "it is {length} characters long, far longer than a hardware hash "
                    "(about 4,000 characters); at most {most} characters are accepted"
                ),
                length=len(text),
                most=MAX_TEXT_LENGTH,
            )
        )
    start, body = _trim(text)
    if not body:
        raise HardwareHashError(_EMPTY)
    warnings: list[str] = []
    raw = _base64_decode(body, start, warnings)
    if raw == _SAMPLE_BYTES:
        raise SampleDataError(
            Message(
                N_(
                    "the sample data from the template was not replaced by the device's real "
                    'hardware hash ("{sample}" is the template\'s placeholder)'
                ),
                sample=SAMPLE_HARDWARE_HASH,
            )
        )

    size = len(raw)
    if size < _HEADER_SIZE:
        raise HardwareHashError(
            Message(
                N_(
                    "it decodes to only {size} byte, far too short for a hardware hash "
                    "(a real one is 3,000 bytes)"
                )
                if size == 1
                else N_(
                    "it decodes to only {size} bytes, far too short for a hardware hash "
                    "(a real one is 3,000 bytes)"
                ),
                size=size,
            )
        )
    if raw[:2] != SIGNATURE:
        first = "".join(body.split())[:2]
        raise HardwareHashError(
            Message(
                N_(
                    'it starts with "{first}" (first bytes {bytes}), '
                    'but a real hardware hash starts with "T0"'
                ),
                first=first,
                bytes=f"0x{raw[0]:02x} 0x{raw[1]:02x}",
            )
        )
    end = raw[2] | raw[3] << 8
    if end < _HEADER_SIZE:
        raise HardwareHashError(
            Message(
                N_(
                    "the header says the records end at offset {end}, inside the 4-byte "
                    "header itself"
                ),
                end=str(end),
            )
        )
    _check_complete_and_unaltered(raw, end)
    found = _walk_records(raw, end)

    manufacturer = _text_record(raw, found, TYPE_MANUFACTURER)
    model = _text_record(raw, found, TYPE_PRODUCT_NAME)
    if not (manufacturer and model):
        raise HardwareHashError(
            joined(
                [
                    Message(
                        N_("the {record} is missing or empty"),
                        record=Message(_RECORD_NAMES[rtype]),
                    )
                    for rtype, value in (
                        (TYPE_MANUFACTURER, manufacturer),
                        (TYPE_PRODUCT_NAME, model),
                    )
                    if not value
                ]
            )
        )
    serial = _text_record(raw, found, TYPE_SERIAL_NUMBER) or ""
    product_key_id = _text_record(raw, found, TYPE_PRODUCT_KEY_ID)
    if product_key_id is not None and not _is_product_key_id(product_key_id):
        if product_key_id:
            warnings.append(
                f"the {_RECORD_NAMES[TYPE_PRODUCT_KEY_ID]} is not 13 digits and was ignored"
            )
        product_key_id = None
    smbios_uuid = _uuid_record(raw, found, warnings)

    if not is_placeholder_serial(serial):
        identity = identity_key(manufacturer, serial)
    elif not is_placeholder_uuid(smbios_uuid):
        identity = uuid_identity_key(manufacturer, smbios_uuid or "")
    else:
        raise HardwareHashError(_no_identity(serial, smbios_uuid))

    return DecodedHash(
        manufacturer=manufacturer,
        model=model,
        serial_number=serial,
        product_key_id=product_key_id,
        smbios_uuid=smbios_uuid,
        display_adapters=tuple(
            _display_adapter(raw, offset) for offset in found.get(TYPE_DISPLAY_ADAPTER, ())
        ),
        identity_key=identity,
        raw=raw,
        records_end=end,
        warnings=tuple(warnings),
    )


def _no_identity(serial: str, smbios_uuid: str | None) -> Message:
    said = (
        Message(N_('the placeholder "{serial}"'), serial=serial)
        if serial.strip()
        else Message(N_("no serial number"))
    )
    uuid_said = (
        Message(N_("no SMBIOS UUID either"))
        if smbios_uuid is None
        else Message(N_("the placeholder SMBIOS UUID {uuid}"), uuid=smbios_uuid)
    )
    return Message(
        N_(
            "the device it describes cannot be told apart from others: its firmware reports "
            "{serial} as the serial number and {uuid}; set a serial number in the virtual "
            "machine's or the firmware's settings, then capture the hash again"
        ),
        serial=said,
        uuid=uuid_said,
    )


def _check_complete_and_unaltered(raw: bytes, end: int) -> None:
    """The checksum after the records is there and matches; the rest is zero padding."""
    size = len(raw)
    complete = end + _CHECKSUM_SIZE
    if size < complete or raw[end : end + len(CHECKSUM_MARKER)] != CHECKSUM_MARKER:
        moved = _records_end_from_checksum(raw)
        if moved is not None and moved != end:
            raise HardwareHashError(
                Message(
                    N_(
                        "it was altered after capture: the header says the records end at "
                        "offset {end}, but the checksum shows they end at {moved}"
                    ),
                    end=str(end),
                    moved=str(moved),
                )
            )
    if size < complete:
        raise HardwareHashError(
            Message(
                N_(
                    "it is cut short: it has {size} of at least {complete} bytes; copy it "
                    "again from the original file"
                ),
                size=size,
                complete=complete,
            )
        )
    if raw[end : end + len(CHECKSUM_MARKER)] != CHECKSUM_MARKER:
        raise HardwareHashError(
            Message(
                N_(
                    "it was altered after capture, or is not a complete capture: there is no "
                    "checksum after the records at offset {end}"
                ),
                end=str(end),
            )
        )
    expected = raw[end + len(CHECKSUM_MARKER) : complete]
    if hashlib.sha256(memoryview(raw)[:end]).digest() != expected:
        raise HardwareHashError(
            Message(
                N_(
                    "it was altered after capture: its checksum does not match its contents; "
                    "copy it again from the original file"
                )
            )
        )
    padding = raw[complete:]
    if padding.count(0) != len(padding):
        offset = complete + len(padding) - len(padding.lstrip(b"\x00"))
        raise HardwareHashError(
            Message(
                N_(
                    "it was altered after capture: byte {offset} after the checksum is not "
                    "zero padding"
                ),
                offset=offset,
            )
        )
    if complete < size < REAL_CAPTURE_SIZE:
        raise HardwareHashError(
            Message(
                N_(
                    "it is cut short: it has {size} of {expected} bytes; copy it again from "
                    "the original file"
                ),
                size=size,
                expected=REAL_CAPTURE_SIZE,
            )
        )


def _records_end_from_checksum(raw: bytes) -> int | None:
    """Where the records really end, when a checksum after them matches them as
    they were captured (with that end in the header): the header was altered."""
    at = raw.find(CHECKSUM_MARKER, _HEADER_SIZE)
    while at != -1 and at <= _MAX_U16:
        digest = raw[at + len(CHECKSUM_MARKER) : at + _CHECKSUM_SIZE]
        captured = raw[:2] + struct.pack("<H", at) + raw[_HEADER_SIZE:at]
        if len(digest) == 32 and hashlib.sha256(captured).digest() == digest:
            return at
        at = raw.find(CHECKSUM_MARKER, at + 1)
    return None


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        raise HardwareHashError(_EMPTY)
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise HardwareHashError(Message(N_("it is not text (it is not valid UTF-8)"))) from None
    raise HardwareHashError(
        Message(N_("it is not text (got a value of type {type})"), type=type(value).__name__)
    )


def _trim(text: str) -> tuple[int, str]:
    """Drop surrounding whitespace and quotes; return (offset of what is left, it)."""
    start, end = 0, len(text)
    while start < end and (text[start].isspace() or text[start] in _EDGE_CHARACTERS):
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in _EDGE_CHARACTERS):
        end -= 1
    return start, text[start:end]


def _base64_decode(body: str, offset: int, warnings: list[str]) -> bytes:
    """Decode ``body`` (found at ``offset`` in the submitted text), whitespace ignored."""
    if len(body) % 4 == 0:
        # Fast path for the usual, well-formed text: strict decoding fails on
        # whitespace or anything else unusual, which the general path handles.
        try:
            return binascii.a2b_base64(body, strict_mode=True)
        except ValueError:
            pass
    cleaned = "".join(body.split())
    if not cleaned:
        raise HardwareHashError(_EMPTY)
    data = cleaned.rstrip("=")
    padding = len(cleaned) - len(data)
    remainder = len(data) % 4
    needed = -len(data) % 4
    if remainder != 1 and padding <= needed:
        try:
            raw = binascii.a2b_base64(data + "=" * needed, strict_mode=True)
        except ValueError:
            pass
        else:
            if padding < needed:
                warnings.append(_PADDING_ADDED)
            return raw
    raise HardwareHashError(
        Message(
            N_("it is not valid base64: {problem}"),
            problem=_base64_problem(cleaned, body, offset),
        )
    )


def _base64_problem(cleaned: str, body: str, offset: int) -> Message:
    """Explain why ``cleaned`` (``body`` without whitespace) is not base64."""
    bad = _NOT_BASE64.search(body)
    if bad:
        character = bad.group()
        shown = repr(character) if character.isprintable() else f"U+{ord(character):04X}"
        return Message(
            N_(
                "character {character} at position {position} is not allowed (it looks like "
                "URL-safe base64, which uses '+' and '/' instead)"
            )
            if character in "-_"
            else N_("character {character} at position {position} is not allowed"),
            character=shown,
            position=str(offset + bad.start() + 1),
        )
    early = _PADDING_THEN_DATA.search(body)
    if early:
        return Message(
            N_(
                "the padding character '=' at position {position} is followed by more data, "
                "but padding may only appear at the end"
            ),
            position=str(offset + early.start() + 1),
        )
    data = cleaned.rstrip("=")
    if len(data) % 4 == 1:
        return Message(
            N_(
                "its length of {length} characters (without padding) is impossible for "
                "base64; a character is probably missing or was added"
            ),
            length=len(data),
        )
    padding = len(cleaned) - len(data)
    needed = -len(data) % 4
    if padding > needed:
        allowed = {
            0: N_("none is possible here"),
            1: N_("only one is possible here"),
            2: N_("only two are possible here"),
        }[needed]
        return Message(
            N_("it ends with {padding} padding characters '=' but {allowed}")
            if padding > 1
            else N_("it ends with {padding} padding character '=' but {allowed}"),
            padding=padding,
            allowed=Message(allowed),
        )
    # Not reached: the checks above cover strict decoding.
    return Message(N_("it cannot be decoded"))


_RECORD_HEADER = struct.Struct("<BxH")


def _walk_records(raw: bytes, end: int) -> dict[int, list[int]]:
    """Walk the records to exactly ``end``; return {type: [offsets]} of the types read here.

    Every record counts only by its header; a record of a type not read here
    is skipped whatever it holds, however many there are.
    """
    read_header = _RECORD_HEADER.unpack_from
    interpreted = _INTERPRETED
    found: dict[int, list[int]] = {}
    offset = _HEADER_SIZE
    while offset < end:
        if end - offset < _RECORD_HEADER_SIZE:
            raise _walk_error(
                offset,
                Message(
                    N_(
                        "a record header needs 4 bytes but only {left} remain before the end "
                        "of the records at {end}"
                    ),
                    left=end - offset,
                    end=str(end),
                ),
            )
        rtype, length = read_header(raw, offset)
        if length < _RECORD_HEADER_SIZE:
            raise _walk_error(
                offset,
                Message(
                    N_("record length {length} is shorter than the 4-byte record header"),
                    length=str(length),
                ),
            )
        following = offset + length
        if following > end:
            raise _walk_error(
                offset,
                Message(
                    N_(
                        "the record (type {type}, length {length}) runs past the end of the "
                        "records at {end}"
                    ),
                    type=str(rtype),
                    length=str(length),
                    end=str(end),
                ),
            )
        if rtype in interpreted:
            found.setdefault(rtype, []).append(offset)
        offset = following
    return found


def _walk_error(offset: int, reason: Message) -> HardwareHashError:
    return HardwareHashError(
        Message(
            N_("record walk broken at offset {offset}: {reason}"),
            offset=str(offset),
            reason=reason,
        )
    )


def _payload(raw: bytes, offset: int) -> bytes:
    length = _RECORD_HEADER.unpack_from(raw, offset)[1]
    return raw[offset + _RECORD_HEADER_SIZE : offset + length]


def _single(raw: bytes, found: dict[int, list[int]], rtype: int, read) -> object:
    """The value of a record that describes the device once; None when absent.

    A hash may repeat such a record; the copies must agree.
    """
    offsets = found.get(rtype)
    if not offsets:
        return None
    value = read(raw, offsets[0])
    for offset in offsets[1:]:
        other = read(raw, offset)
        if other != value:
            raise HardwareHashError(
                Message(
                    N_(
                        "the {record} appears twice with different values ({value} at offset "
                        "{offset}, {other} at offset {other_offset})"
                    ),
                    record=Message(_RECORD_NAMES[rtype]),
                    value=repr(value),
                    offset=str(offsets[0]),
                    other=repr(other),
                    other_offset=str(offset),
                )
            )
    return value


def _read_text(raw: bytes, offset: int) -> str:
    """A text record: UTF-8 up to its NUL (a firmware string in another 8-bit
    encoding is read as Latin-1 rather than refused)."""
    content = _payload(raw, offset).split(b"\x00", 1)[0]
    try:
        return content.decode("utf-8").strip()
    except UnicodeDecodeError:
        return content.decode("latin-1").strip()


def _text_record(raw: bytes, found: dict[int, list[int]], rtype: int) -> str | None:
    value = _single(raw, found, rtype, _read_text)
    return value if isinstance(value, str) else None


def _is_product_key_id(value: str) -> bool:
    return len(value) == 13 and value.isascii() and value.isdigit()


def _read_uuid(raw: bytes, offset: int) -> bytes:
    return _payload(raw, offset)


def _uuid_record(raw: bytes, found: dict[int, list[int]], warnings: list[str]) -> str | None:
    payload = _single(raw, found, TYPE_SMBIOS_UUID, _read_uuid)
    if not isinstance(payload, bytes):
        return None
    if len(payload) != 16:
        warnings.append(
            f"the {_RECORD_NAMES[TYPE_SMBIOS_UUID]} holds {len(payload)} bytes instead of 16 "
            "and was ignored"
        )
        return None
    return str(uuid.UUID(bytes_le=payload))


def _display_adapter(raw: bytes, offset: int) -> str:
    return _payload(raw, offset).decode("utf-16-le", errors="replace").rstrip("\x00").strip()


def smbios_uuid_of(raw: bytes) -> str | None:
    """The SMBIOS UUID of a stored blob that once passed validation, or None.

    Reads only the record structure, so blobs stored before the checksum was
    required still answer.
    """
    if len(raw) < _HEADER_SIZE or raw[:2] != SIGNATURE:
        return None
    end = min(raw[2] | raw[3] << 8, len(raw))
    try:
        found = _walk_records(raw, end)
        return _uuid_record(raw, found, [])
    except HardwareHashError:
        return None


# ---------------------------------------------------------------------------
# Identity and cross-checks


def normalize_identity_part(value: str) -> str:
    """Casefold and collapse whitespace, for identity and comparisons."""
    return " ".join(value.split()).casefold()


def identity_key(manufacturer: str, serial_number: str) -> str:
    """The global identity of a device: its normalized manufacturer and serial number."""
    return f"{normalize_identity_part(manufacturer)}\x1f{normalize_identity_part(serial_number)}"


def uuid_identity_key(manufacturer: str, smbios_uuid: str) -> str:
    """The identity of a device whose serial number is a firmware placeholder."""
    return f"{normalize_identity_part(manufacturer)}\x1fuuid:{smbios_uuid.casefold()}"


def check_matches_row(
    decoded: DecodedHash,
    manufacturer: str | None,
    model: str | None,
    serial_number: str | None,
) -> Message | None:
    """None when every given field of a row matches the hash; else what does not match.

    Empty or missing row fields are not compared. Comparison ignores case and
    whitespace differences.
    """
    problems = []
    for template, given, actual in (
        (_MANUFACTURER_MISMATCH, manufacturer, decoded.manufacturer),
        (_MODEL_MISMATCH, model, decoded.model),
        (_SERIAL_MISMATCH, serial_number, decoded.serial_number),
    ):
        if given is None or not given.strip():
            continue
        if normalize_identity_part(given) != normalize_identity_part(actual):
            problems.append(Message(template, given=given.strip(), actual=actual))
    return joined(problems) if problems else None


_MANUFACTURER_MISMATCH = N_(
    "the manufacturer in the row ({given}) does not match the one in the hardware hash ({actual})"
)
_MODEL_MISMATCH = N_(
    "the model in the row ({given}) does not match the one in the hardware hash ({actual})"
)
_SERIAL_MISMATCH = N_(
    "the serial number in the row ({given}) does not match the one in the hardware hash ({actual})"
)


def is_sample_row(manufacturer: str | None, model: str | None, serial: str | None) -> bool:
    """Whether a row is the template's sample row (SpiralOrbit, ContosoABC, 000000000000)."""
    return (
        manufacturer is not None
        and model is not None
        and serial is not None
        and normalize_identity_part(serial) == _SAMPLE_SERIAL_KEY  # the cheap test first
        and normalize_identity_part(manufacturer) == _SAMPLE_MANUFACTURER_KEY
        and normalize_identity_part(model) == _SAMPLE_MODEL_KEY
    )


_SAMPLE_MANUFACTURER_KEY = normalize_identity_part(SAMPLE_MANUFACTURER)
_SAMPLE_MODEL_KEY = normalize_identity_part(SAMPLE_MODEL)
_SAMPLE_SERIAL_KEY = normalize_identity_part(SAMPLE_ROW_SERIAL)


# ---------------------------------------------------------------------------
# Storage


def compact(raw: bytes) -> bytes:
    """The decoded blob without its trailing zero padding, for storage."""
    return bytes(raw).rstrip(b"\x00")


def expand(compact_bytes: bytes, original_length: int) -> str:
    """Rebuild the canonical base64 text of a blob of ``original_length`` bytes."""
    if original_length < len(compact_bytes):
        raise ValueError(
            f"original_length {original_length} is shorter than the {len(compact_bytes)} "
            "stored bytes"
        )
    blob = bytes(compact_bytes) + bytes(original_length - len(compact_bytes))
    return binascii.b2a_base64(blob, newline=False).decode("ascii")


def digest(compact_bytes: bytes, original_length: int) -> str:
    """SHA-256 (hex) of the hash's canonical text, as ``expand`` rebuilds it:
    tells two captures apart without showing the hash."""
    return hashlib.sha256(expand(compact_bytes, original_length).encode("ascii")).hexdigest()


# ---------------------------------------------------------------------------
# Generation
#
# The generator writes what real captures hold: every record type from 1 to
# 37 with payloads of realistic sizes, any number of display adapters, the
# checksum and the zero padding. Records other than the identity ones are
# derived from the device identity, so two captures of one device differ only
# in their capture time (kept in an opaque record, as real captures do).

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# Opaque record types the generator fills (type -> payload size), besides the
# identity records, the TPM records and the display adapters.
_OPAQUE_RECORDS = {
    1: 24, 2: 12, 3: 16, 4: 48, 5: 24, 6: 12, 7: 26, 8: 26, 9: 12, 10: 4, 15: 12,
    18: 12, 19: 12, 20: 12, 21: 12, 22: 12, 23: 12, 26: 12, 27: 4, 28: 24, 29: 12,
    31: 8, 32: 8, 33: 8, 34: 8, 35: 8, 36: 8, 37: 8,
}  # fmt: skip
_CAPTURE_TIME_RECORD = 27
DEFAULT_DISPLAY_ADAPTERS = ("Intel Corporation|Intel(R) Iris(R) Xe Graphics",)


def build_hardware_hash(
    manufacturer: str,
    model: str,
    serial_number: str,
    *,
    product_key_id: str | None = None,
    captured_at: datetime | None = None,
    smbios_uuid: uuid.UUID | None = None,
    display_adapters: Iterable[str] = DEFAULT_DISPLAY_ADAPTERS,
    size: int = REAL_CAPTURE_SIZE,
    padded: bool = True,
    with_checksum: bool = True,
) -> str:
    """A hardware hash (base64 text) shaped like a real capture of the given device.

    ``captured_at`` defaults to now (a naive value is taken as UTC). The SMBIOS
    UUID record is written only when ``smbios_uuid`` is given; a serial number
    of "" leaves the serial record empty, as some firmware does. Without
    ``with_checksum`` the trailer is left out (a damaged capture, for tests).
    Without ``padded`` the blob ends at the checksum (a third of the text:
    small uploads for tests that need many devices).
    Raises ``ValueError`` for unusable input.
    """
    if product_key_id is not None and not _is_product_key_id(product_key_id):
        raise ValueError("product_key_id must be 13 digits")
    if captured_at is None:
        captured_at = datetime.now(UTC)
    elif captured_at.tzinfo is None:
        captured_at = captured_at.replace(tzinfo=UTC)
    micros = (captured_at - _EPOCH) // _MICROSECOND

    records = bytearray()

    def add(rtype: int, payload: bytes) -> None:
        length = _RECORD_HEADER_SIZE + len(payload)
        if length > _MAX_U16:
            raise ValueError(f"record type {rtype} is too long ({length} bytes)")
        records.extend(struct.pack("<BBH", rtype, 0, length))
        records.extend(payload)

    identity = f"{manufacturer}\x1f{serial_number}".encode("utf-8", "surrogatepass")
    seed = hashlib.sha256(b"device\x1f" + identity).digest()
    filler = hashlib.shake_256(seed).digest(2048)
    used = 0

    def opaque(count: int) -> bytes:
        nonlocal used
        chunk = filler[used : used + count]
        used += count
        return chunk

    for rtype in range(1, 12):
        if rtype in _OPAQUE_RECORDS:
            add(rtype, opaque(_OPAQUE_RECORDS[rtype]))
    add(TYPE_TPM_EK, opaque(64))
    if smbios_uuid is not None:
        add(TYPE_SMBIOS_UUID, smbios_uuid.bytes_le)
    add(TYPE_TPM_VERSION, b"TPM-Version:2.0 -Level:0-Revision:1.38\x00")
    add(TYPE_SERIAL_NUMBER, _text_payload("serial_number", serial_number, allow_empty=True))
    add(15, opaque(_OPAQUE_RECORDS[15]))
    add(TYPE_MANUFACTURER, _text_payload("manufacturer", manufacturer))
    add(TYPE_PRODUCT_NAME, _text_payload("model", model))
    for rtype in range(18, 24):
        add(rtype, opaque(_OPAQUE_RECORDS[rtype]))
    if product_key_id is not None:
        add(TYPE_PRODUCT_KEY_ID, _text_payload("product_key_id", product_key_id))
    add(TYPE_TPM_EK_PUB, opaque(256))
    add(26, opaque(_OPAQUE_RECORDS[26]))
    add(_CAPTURE_TIME_RECORD, struct.pack("<q", micros))
    for rtype in (28, 29):
        add(rtype, opaque(_OPAQUE_RECORDS[rtype]))
    for adapter in display_adapters:
        add(TYPE_DISPLAY_ADAPTER, adapter.encode("utf-16-le"))
    for rtype in range(31, 38):
        add(rtype, opaque(_OPAQUE_RECORDS[rtype]))

    end = _HEADER_SIZE + len(records)
    if end > _MAX_U16:
        raise ValueError(f"the records take {end} bytes, more than a hardware hash can hold")
    blob = bytearray(SIGNATURE)
    blob.extend(struct.pack("<H", end))
    blob.extend(records)
    if with_checksum:
        digest = hashlib.sha256(blob).digest()
        blob.extend(CHECKSUM_MARKER)
        blob.extend(digest)
    if padded:
        if len(blob) > size:
            raise ValueError(f"the content takes {len(blob)} bytes, more than size={size}")
        blob.extend(bytes(size - len(blob)))
    return binascii.b2a_base64(bytes(blob), newline=False).decode("ascii")


def _text_payload(name: str, value: str, *, allow_empty: bool = False) -> bytes:
    if not isinstance(value, str) or not (value.strip() or allow_empty):
        raise ValueError(f"{name} must be non-empty text")
    if "\x00" in value:
        raise ValueError(f"{name} must not contain NUL characters")
    try:
        return value.encode("utf-8") + b"\x00"
    except UnicodeEncodeError:
        raise ValueError(f"{name} cannot be encoded as UTF-8") from None
