"""Hardware hashes ("4K hashes"): validation, decoding, identity and generation.

A hardware hash is the base64 text of a binary blob a PC reports about itself;
a real capture is 3,000 bytes, so its text is about 4,000 characters. Layout,
every integer little-endian::

    offset 0    b"OA"           signature, so every real hash text starts with "T0"
    offset 2    uint16 L        end offset of the records
    offset 4    records, back to back, ending exactly at L:
                  byte 0        record type
                  byte 1        reserved (0)
                  bytes 2-3     uint16 record length, including this 4-byte header
                  bytes 4..     payload
    offset L    b"CS$\\0" and the 32-byte SHA-256 of bytes 0..L-1 (a missing or
                mismatching checksum is reported as a warning, not an error)
    then        zero padding up to the size of the blob

Record types read here:

    11, 13, 25  TPM data (binary, not interpreted)
    12          SMBIOS UUID, 16 bytes (first three fields little-endian, as SMBIOS stores it)
    14          SMBIOS serial number (text)
    16          system manufacturer (text)
    17          product name, i.e. the model (text)
    24          product key ID, 13 digits (text)
    30          capture time: signed 64-bit count of microseconds since the Unix epoch (UTC)

Text records are UTF-8 terminated by a NUL byte. Other record types are walked
over without being interpreted.

Because a hash embeds its capture time, two captures of the same PC differ as
strings: the identity of a device is the decoded (manufacturer, serial number)
pair, see ``identity_key``, never the hash text.

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
from datetime import UTC, datetime, timedelta

from tenants.errors import InputError

__all__ = [
    "MAX_TEXT_LENGTH",
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
    "is_sample_row",
    "normalize_identity_part",
]

#: Longest text accepted, in characters (a real hash is about 4,000).
MAX_TEXT_LENGTH = 64 * 1024

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
TYPE_TPM_INFO = 13
TYPE_SERIAL_NUMBER = 14
TYPE_MANUFACTURER = 16
TYPE_PRODUCT_NAME = 17
TYPE_PRODUCT_KEY_ID = 24
TYPE_TPM_VERSION = 25
TYPE_CAPTURE_TIME = 30

_RECORD_NAMES = {
    TYPE_SMBIOS_UUID: "SMBIOS UUID record (type 12)",
    TYPE_SERIAL_NUMBER: "SMBIOS serial number record (type 14)",
    TYPE_MANUFACTURER: "system manufacturer record (type 16)",
    TYPE_PRODUCT_NAME: "product name (model) record (type 17)",
    TYPE_PRODUCT_KEY_ID: "product key ID record (type 24)",
    TYPE_CAPTURE_TIME: "capture time record (type 30)",
}
_INTERPRETED = frozenset(_RECORD_NAMES)

_SAMPLE_BYTES = b"thisdeviceisanmmddevice"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# Characters trimmed from both ends besides whitespace: quotes (including the
# typographic ones office software substitutes) and a byte order mark.
_EDGE_CHARACTERS = "\"'\u201c\u201d\u2018\u2019\ufeff"
# \s matches exactly what str.split() removes, so positions stay consistent.
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=\s]")
_PADDING_THEN_DATA = re.compile(r"=[=\s]*[^=\s]")

_PADDING_ADDED = "padding was missing and has been added"
_CHECKSUM_MISSING = "there is no checksum after the records"
_CHECKSUM_SHORT = "the checksum after the records is cut short"
_CHECKSUM_MISMATCH = (
    "the checksum does not match the records, so the hash may have been altered or damaged"
)


class HardwareHashError(InputError):
    """A hardware hash cannot be used; ``message`` is the specific detail only."""

    code = "hardware_hash_invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        file: str | None = None,
        line: int | None = None,
        field: str | None = "hardware_hash",
    ) -> None:
        super().__init__(message, code=code, file=file, line=line, field=field)


class SampleDataError(HardwareHashError):
    """The template's sample hardware hash was submitted instead of a real one."""


@dataclasses.dataclass(frozen=True)
class DecodedHash:
    """What a valid hardware hash says about its device."""

    manufacturer: str
    model: str
    serial_number: str
    product_key_id: str | None
    smbios_uuid: str | None  # canonical 8-4-4-4-12 hex when present
    captured_at: datetime | None  # UTC, from record 30 when present
    raw: bytes = dataclasses.field(repr=False)  # the decoded blob
    records_end: int  # L
    warnings: tuple[str, ...]  # problems that do not make the hash unusable


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
            f"it is {len(text):,} characters long, far longer than a hardware hash "
            f"(about 4,000 characters); at most {MAX_TEXT_LENGTH:,} characters are accepted"
        )
    start, body = _trim(text)
    if not body:
        raise HardwareHashError("it is empty")
    warnings: list[str] = []
    raw = _base64_decode(body, start, warnings)
    if raw == _SAMPLE_BYTES:
        raise SampleDataError(
            "the sample data from the template was not replaced by the device's real "
            f'hardware hash ("{SAMPLE_HARDWARE_HASH}" is the template\'s placeholder)'
        )

    size = len(raw)
    if size < _HEADER_SIZE:
        raise HardwareHashError(
            f"it decodes to only {size} byte{'' if size == 1 else 's'}, far too short "
            "for a hardware hash (a real one is about 3,000 bytes)"
        )
    if raw[:2] != SIGNATURE:
        first = "".join(body.split())[:2]
        raise HardwareHashError(
            f'it starts with "{first}" (first bytes 0x{raw[0]:02x} 0x{raw[1]:02x}), '
            'but a real hardware hash starts with "T0"'
        )
    end = raw[2] | raw[3] << 8
    if end < _HEADER_SIZE:
        raise HardwareHashError(
            f"the header says the records end at offset {end}, inside the 4-byte header itself"
        )
    if end > size:
        raise HardwareHashError(
            f"the header says the records end at offset {end}, but the data is only "
            f"{size} bytes long; the hash is probably cut short"
        )

    found = _walk_records(raw, end)

    serial = _text_record(found, TYPE_SERIAL_NUMBER)
    manufacturer = _text_record(found, TYPE_MANUFACTURER)
    model = _text_record(found, TYPE_PRODUCT_NAME)
    product_key_id = _text_record(found, TYPE_PRODUCT_KEY_ID)
    if not (serial and manufacturer and model):
        raise HardwareHashError(
            "; ".join(
                f"the {_RECORD_NAMES[rtype]} is missing or empty"
                for rtype, value in (
                    (TYPE_SERIAL_NUMBER, serial),
                    (TYPE_MANUFACTURER, manufacturer),
                    (TYPE_PRODUCT_NAME, model),
                )
                if not value
            )
        )

    if product_key_id is not None and not _is_product_key_id(product_key_id):
        if product_key_id:
            warnings.append(
                f"the {_RECORD_NAMES[TYPE_PRODUCT_KEY_ID]} is not 13 digits and was ignored"
            )
        product_key_id = None

    smbios_uuid = _uuid_record(found, warnings)
    captured_at = _capture_time_record(found, warnings)
    _check_checksum(raw, end, warnings)

    return DecodedHash(
        manufacturer=manufacturer,
        model=model,
        serial_number=serial,
        product_key_id=product_key_id,
        smbios_uuid=smbios_uuid,
        captured_at=captured_at,
        raw=raw,
        records_end=end,
        warnings=tuple(warnings),
    )


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        raise HardwareHashError("it is empty")
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise HardwareHashError("it is not text (it is not valid UTF-8)") from None
    raise HardwareHashError(f"it is not text (got a value of type {type(value).__name__})")


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
        raise HardwareHashError("it is empty")
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
    raise HardwareHashError("it is not valid base64: " + _base64_problem(cleaned, body, offset))


def _base64_problem(cleaned: str, body: str, offset: int) -> str:
    """Explain why ``cleaned`` (``body`` without whitespace) is not base64."""
    bad = _NOT_BASE64.search(body)
    if bad:
        character = bad.group()
        shown = repr(character) if character.isprintable() else f"U+{ord(character):04X}"
        detail = f"character {shown} at position {offset + bad.start() + 1} is not allowed"
        if character in "-_":
            detail += " (it looks like URL-safe base64, which uses '+' and '/' instead)"
        return detail
    early = _PADDING_THEN_DATA.search(body)
    if early:
        return (
            f"the padding character '=' at position {offset + early.start() + 1} "
            "is followed by more data, but padding may only appear at the end"
        )
    data = cleaned.rstrip("=")
    if len(data) % 4 == 1:
        return (
            f"its length of {len(data):,} characters (without padding) is impossible for "
            "base64; a character is probably missing or was added"
        )
    padding = len(cleaned) - len(data)
    needed = -len(data) % 4
    if padding > needed:
        allowed = {0: "none is", 1: "only one is", 2: "only two are"}[needed]
        plural = "s" if padding > 1 else ""
        return f"it ends with {padding} padding character{plural} '=' but {allowed} possible here"
    return "it cannot be decoded"  # not reached: the checks above cover strict decoding


_RECORD_HEADER = struct.Struct("<BxH")


def _walk_records(raw: bytes, end: int) -> dict[int, tuple[int, bytes]]:
    """Walk the records to exactly ``end``; return {type: (offset, payload)} of known types."""
    read_header = _RECORD_HEADER.unpack_from
    interpreted = _INTERPRETED
    found: dict[int, int] = {}
    offset = _HEADER_SIZE
    while offset < end:
        if end - offset < _RECORD_HEADER_SIZE:
            raise _walk_error(
                offset,
                f"a record header needs 4 bytes but only {end - offset} remain before "
                f"the end of the records at {end}",
            )
        rtype, length = read_header(raw, offset)
        if length < _RECORD_HEADER_SIZE:
            raise _walk_error(
                offset, f"record length {length} is shorter than the 4-byte record header"
            )
        following = offset + length
        if following > end:
            raise _walk_error(
                offset,
                f"the record (type {rtype}, length {length}) runs past the end of the "
                f"records at {end}",
            )
        if rtype in interpreted:
            if rtype in found:
                raise HardwareHashError(
                    f"the {_RECORD_NAMES[rtype]} appears more than once "
                    f"(at offsets {found[rtype]} and {offset})"
                )
            found[rtype] = offset
        offset = following
    return {
        rtype: (offset, raw[offset + _RECORD_HEADER_SIZE : offset + read_header(raw, offset)[1]])
        for rtype, offset in found.items()
    }


def _walk_error(offset: int, reason: str) -> HardwareHashError:
    return HardwareHashError(f"record walk broken at offset {offset}: {reason}")


def _text_record(found: dict[int, tuple[int, bytes]], rtype: int) -> str | None:
    """The stripped text of a text record, None when the record is absent."""
    item = found.get(rtype)
    if item is None:
        return None
    offset, payload = item
    name = _RECORD_NAMES[rtype]
    if not payload or payload[-1] != 0:
        raise HardwareHashError(f"the {name} at offset {offset} is not terminated by a NUL byte")
    content = payload[:-1]
    if 0 in content:
        raise HardwareHashError(f"the {name} at offset {offset} has a NUL byte before its end")
    try:
        value = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HardwareHashError(
            f"the {name} at offset {offset} is not valid UTF-8 (byte {exc.start + 1} of its text)"
        ) from None
    return value.strip()


def _is_product_key_id(value: str) -> bool:
    return len(value) == 13 and value.isascii() and value.isdigit()


def _uuid_record(found: dict[int, tuple[int, bytes]], warnings: list[str]) -> str | None:
    item = found.get(TYPE_SMBIOS_UUID)
    if item is None:
        return None
    payload = item[1]
    if len(payload) != 16:
        warnings.append(
            f"the {_RECORD_NAMES[TYPE_SMBIOS_UUID]} holds {len(payload)} bytes instead of 16 "
            "and was ignored"
        )
        return None
    return str(uuid.UUID(bytes_le=payload))


def _capture_time_record(
    found: dict[int, tuple[int, bytes]], warnings: list[str]
) -> datetime | None:
    item = found.get(TYPE_CAPTURE_TIME)
    if item is None:
        return None
    payload = item[1]
    name = _RECORD_NAMES[TYPE_CAPTURE_TIME]
    if len(payload) != 8:
        warnings.append(f"the {name} holds {len(payload)} bytes instead of 8 and was ignored")
        return None
    micros = int.from_bytes(payload, "little", signed=True)
    try:
        return _EPOCH + micros * _MICROSECOND
    except OverflowError:
        warnings.append(f"the {name} holds an impossible date and was ignored")
        return None


def _check_checksum(raw: bytes, end: int, warnings: list[str]) -> None:
    trailer = raw[end : end + _CHECKSUM_SIZE]
    if trailer[: len(CHECKSUM_MARKER)] != CHECKSUM_MARKER:
        warnings.append(_CHECKSUM_MISSING)
    elif len(trailer) < _CHECKSUM_SIZE:
        warnings.append(_CHECKSUM_SHORT)
    elif hashlib.sha256(memoryview(raw)[:end]).digest() != trailer[len(CHECKSUM_MARKER) :]:
        warnings.append(_CHECKSUM_MISMATCH)


# ---------------------------------------------------------------------------
# Identity and cross-checks


def normalize_identity_part(value: str) -> str:
    """Casefold and collapse whitespace, for identity and comparisons."""
    return " ".join(value.split()).casefold()


def identity_key(manufacturer: str, serial_number: str) -> str:
    """The global identity of a device: its normalized manufacturer and serial number."""
    return f"{normalize_identity_part(manufacturer)}\x1f{normalize_identity_part(serial_number)}"


def check_matches_row(
    decoded: DecodedHash,
    manufacturer: str | None,
    model: str | None,
    serial_number: str | None,
) -> str | None:
    """None when every given field of a row matches the hash; else what does not match.

    Empty or missing row fields are not compared. Comparison ignores case and
    whitespace differences.
    """
    problems = []
    for label, given, actual in (
        ("manufacturer", manufacturer, decoded.manufacturer),
        ("model", model, decoded.model),
        ("serial number", serial_number, decoded.serial_number),
    ):
        if given is None or not given.strip():
            continue
        if normalize_identity_part(given) != normalize_identity_part(actual):
            problems.append(
                f"the {label} in the row ({given.strip()}) does not match the one in the "
                f"hardware hash ({actual})"
            )
    return "; ".join(problems) if problems else None


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


# ---------------------------------------------------------------------------
# Generation


def build_hardware_hash(
    manufacturer: str,
    model: str,
    serial_number: str,
    *,
    product_key_id: str | None = None,
    captured_at: datetime | None = None,
    smbios_uuid: uuid.UUID | None = None,
    size: int = 3000,
    with_checksum: bool = True,
) -> str:
    """A structurally valid hardware hash (base64 text) for the given device.

    ``captured_at`` defaults to now (a naive value is taken as UTC); the TPM
    records are derived from the device identity, so two captures of one
    device differ only in their capture time. The SMBIOS UUID record is written
    only when ``smbios_uuid`` is given. Raises ``ValueError`` for unusable input.
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

    add(TYPE_MANUFACTURER, _text_payload("manufacturer", manufacturer))
    add(TYPE_PRODUCT_NAME, _text_payload("model", model))
    add(TYPE_SERIAL_NUMBER, _text_payload("serial_number", serial_number))
    if smbios_uuid is not None:
        add(TYPE_SMBIOS_UUID, smbios_uuid.bytes_le)
    if product_key_id is not None:
        add(TYPE_PRODUCT_KEY_ID, _text_payload("product_key_id", product_key_id))
    add(TYPE_CAPTURE_TIME, struct.pack("<q", micros))
    tpm_seed = hashlib.sha256(
        b"tpm\x1f" + identity_key(manufacturer, serial_number).encode("utf-8")
    ).digest()
    tpm = hashlib.shake_256(tpm_seed).digest(256 + 64 + 32)
    add(TYPE_TPM_EK, tpm[:256])
    add(TYPE_TPM_INFO, tpm[256:320])
    add(TYPE_TPM_VERSION, tpm[320:])

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
    if len(blob) > size:
        raise ValueError(f"the content takes {len(blob)} bytes, more than size={size}")
    blob.extend(bytes(size - len(blob)))
    return binascii.b2a_base64(bytes(blob), newline=False).decode("ascii")


def _text_payload(name: str, value: str) -> bytes:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be non-empty text")
    if "\x00" in value:
        raise ValueError(f"{name} must not contain NUL characters")
    try:
        return value.encode("utf-8") + b"\x00"
    except UnicodeEncodeError:
        raise ValueError(f"{name} cannot be encoded as UTF-8") from None
