"""Specification of hardware hash validation, decoding, identity and generation."""

from __future__ import annotations

import base64
import hashlib
import struct
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenants.errors import InputError
from tenants.ingest.hardware_hash import (
    MAX_TEXT_LENGTH,
    SAMPLE_HARDWARE_HASH,
    SAMPLE_MANUFACTURER,
    SAMPLE_MODEL,
    SAMPLE_ROW_SERIAL,
    DecodedHash,
    HardwareHashError,
    SampleDataError,
    build_hardware_hash,
    check_matches_row,
    compact,
    decode_hardware_hash,
    expand,
    identity_key,
    is_placeholder_serial,
    is_sample_row,
    normalize_identity_part,
)

CAPTURED = datetime(2025, 3, 14, 9, 26, 53, 589793, tzinfo=UTC)
DEVICE_UUID = uuid.UUID("4c4c4544-0042-3510-8052-b4c04f4e3732")
PKID = "3302419815347"

HASH = build_hardware_hash(
    "Contoso", "Surface Laptop 7", "SN-0001-ABCD", product_key_id=PKID, captured_at=CAPTURED
)
FULL_HASH = build_hardware_hash(
    "Fabrikam Inc.",
    "Ultra 14",
    "5CG1234XYZ",
    product_key_id=PKID,
    captured_at=CAPTURED,
    smbios_uuid=DEVICE_UUID,
)
PLAIN_HASH = build_hardware_hash("Contoso", "X1", "S1", captured_at=CAPTURED)
VALID_HASHES = [HASH, FULL_HASH, PLAIN_HASH]

PROPERTY_SETTINGS = settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# Hand-assembled blobs, independent of the generator under test.


def record(rtype: int, payload: bytes, *, length: int | None = None) -> bytes:
    size = len(payload) + 4 if length is None else length
    return struct.pack("<BBH", rtype, 0, size) + payload


def text_record(rtype: int, value: str) -> bytes:
    return record(rtype, value.encode("utf-8") + b"\x00")


MANUFACTURER = text_record(16, "Contoso")
MODEL = text_record(17, "Surface Laptop 7")
SERIAL = text_record(14, "SN-0001-ABCD")
IDENTITY_RECORDS = (MANUFACTURER, MODEL, SERIAL)


def blob(*records: bytes, end: int | None = None, checksum: bool = True, size: int = 3000) -> bytes:
    body = b"".join(records)
    records_end = 4 + len(body) if end is None else end
    data = b"OA" + struct.pack("<H", records_end) + body
    if checksum:
        data += b"CS$\x00" + hashlib.sha256(data[:records_end]).digest()
    return data + bytes(max(0, size - len(data)))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode_error(text: object) -> HardwareHashError:
    with pytest.raises(HardwareHashError) as caught:
        decode_hardware_hash(text)  # type: ignore[arg-type]
    return caught.value


def decode_or_error(text: object) -> DecodedHash | HardwareHashError:
    """Decode, letting only HardwareHashError through, and check its message's shape."""
    try:
        return decode_hardware_hash(text)  # type: ignore[arg-type]
    except HardwareHashError as error:
        assert error.message
        assert error.message == error.message.strip()
        assert not error.message.endswith(".")
        assert error.code == "hardware_hash_invalid"
        assert error.field == "hardware_hash"
        return error


# ---------------------------------------------------------------------------
# Generated hashes


def test_generated_hash_round_trips() -> None:
    decoded = decode_hardware_hash(HASH)

    assert decoded.manufacturer == "Contoso"
    assert decoded.model == "Surface Laptop 7"
    assert decoded.serial_number == "SN-0001-ABCD"
    assert decoded.product_key_id == PKID
    assert decoded.smbios_uuid is None
    assert decoded.warnings == ()


def test_generated_hash_looks_like_a_real_capture() -> None:
    decoded = decode_hardware_hash(HASH)

    assert HASH.startswith("T0")
    assert 3900 <= len(HASH) <= 4100
    assert len(decoded.raw) == 3000
    assert decoded.raw[:2] == b"OA"
    assert decoded.records_end == int.from_bytes(decoded.raw[2:4], "little")


def test_smbios_uuid_is_given_in_canonical_form() -> None:
    decoded = decode_hardware_hash(FULL_HASH)

    assert decoded.smbios_uuid == "4c4c4544-0042-3510-8052-b4c04f4e3732"


def test_generated_hash_carries_every_record_type_and_each_display_adapter() -> None:
    text = build_hardware_hash(
        "LENOVO",
        "21HD003KMX",
        "PF4XYZ12",
        display_adapters=(
            "Intel Corporation|Intel(R) Graphics",
            "NVIDIA|NVIDIA RTX 500 Ada Generation Laptop GPU",
        ),
        smbios_uuid=DEVICE_UUID,
        product_key_id=PKID,
    )
    raw = decode_hardware_hash(text).raw
    types, offset, end = [], 4, int.from_bytes(raw[2:4], "little")
    while offset < end:
        types.append(raw[offset])
        offset += int.from_bytes(raw[offset + 2 : offset + 4], "little")

    assert set(types) == set(range(1, 38))
    assert types.count(30) == 2
    assert decode_hardware_hash(text).display_adapters == (
        "Intel Corporation|Intel(R) Graphics",
        "NVIDIA|NVIDIA RTX 500 Ada Generation Laptop GPU",
    )


def test_two_captures_of_the_same_device_differ_but_share_identity() -> None:
    first = build_hardware_hash("Contoso", "X1", "SN-1", captured_at=CAPTURED)
    second = build_hardware_hash("Contoso", "X1", "SN-1", captured_at=CAPTURED + timedelta(days=30))

    assert first != second
    a, b = decode_hardware_hash(first), decode_hardware_hash(second)
    assert identity_key(a.manufacturer, a.serial_number) == identity_key(
        b.manufacturer, b.serial_number
    )


def test_identity_ignores_case_and_whitespace_but_not_content() -> None:
    assert identity_key("Contoso", "SN 1") == identity_key("  CONTOSO ", "sn\t 1")
    assert identity_key("Contoso", "SN1") != identity_key("Contoso", "SN2")
    assert identity_key("Contoso", "SN1") != identity_key("Fabrikam", "SN1")
    # The separator keeps the two parts apart.
    assert identity_key("ab", "c") != identity_key("a", "bc")


def test_normalize_identity_part_casefolds_and_collapses_whitespace() -> None:
    assert normalize_identity_part("  Surface \n Laptop\t7 ") == "surface laptop 7"
    assert normalize_identity_part("STRASSE") == normalize_identity_part("straße")


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"manufacturer": " "}, "manufacturer"),
        ({"model": ""}, "model"),
        ({"serial_number": "S\x001"}, "serial_number"),
        ({"serial_number": "\ud800"}, "serial_number"),
        ({"product_key_id": "12345"}, "product_key_id"),
        ({"size": 100}, "size"),
    ],
)
def test_generator_rejects_unusable_input(kwargs: dict[str, object], problem: str) -> None:
    arguments: dict[str, object] = {
        "manufacturer": "Contoso",
        "model": "X1",
        "serial_number": "S1",
    } | kwargs
    with pytest.raises(ValueError, match=problem):
        build_hardware_hash(**arguments)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Cleaning up the submitted text


@pytest.mark.parametrize(
    "wrapped",
    [
        f'"{HASH}"',
        f"'{HASH}'",
        f"  {HASH}\n",
        f' \t"{HASH}" \r\n',
        f"\u201c{HASH}\u201d",
        "\n".join(HASH[i : i + 76] for i in range(0, len(HASH), 76)),
        "\r\n".join(HASH[i : i + 64] for i in range(0, len(HASH), 64)),
        " ".join(HASH[i : i + 100] for i in range(0, len(HASH), 100)),
    ],
    ids=[
        "double-quotes",
        "single-quotes",
        "spaces",
        "quotes-and-spaces",
        "smart-quotes",
        "lf-every-76",
        "crlf-every-64",
        "spaces-inside",
    ],
)
def test_quotes_and_whitespace_are_ignored(wrapped: str) -> None:
    decoded = decode_hardware_hash(wrapped)

    assert decoded.serial_number == "SN-0001-ABCD"
    assert decoded.warnings == ()


def test_missing_padding_is_added_with_a_warning() -> None:
    padded = build_hardware_hash("Contoso", "X1", "S1", size=3001)
    assert padded.endswith("==")

    decoded = decode_hardware_hash(padded.rstrip("="))

    assert decoded.serial_number == "S1"
    assert decoded.warnings == ("padding was missing and has been added",)
    assert decoded.raw == decode_hardware_hash(padded).raw


def test_well_formed_hash_has_no_warnings() -> None:
    assert decode_hardware_hash(FULL_HASH).warnings == ()


# ---------------------------------------------------------------------------
# Rejecting text that is not base64


def test_non_base64_character_is_named_with_its_position() -> None:
    error = decode_error(HASH[:16] + "#" + HASH[17:])

    assert error.message == "it is not valid base64: character '#' at position 17 is not allowed"


def test_position_counts_in_the_text_as_submitted() -> None:
    error = decode_error('  "' + HASH[:10] + "\n" + HASH[10:16] + "*" + HASH[17:] + '"')

    # Two spaces, a quote, ten characters, a line break, six characters: the 21st.
    assert "character '*' at position 21 is not allowed" in error.message


def test_invisible_character_is_named_by_code_point() -> None:
    error = decode_error(HASH[:5] + "\u200b" + HASH[5:])

    assert "character U+200B at position 6 is not allowed" in error.message


def test_url_safe_base64_is_explained() -> None:
    error = decode_error(HASH[:8] + "-" + HASH[9:])

    assert "character '-' at position 9" in error.message
    assert "URL-safe" in error.message


def test_impossible_length_is_rejected() -> None:
    error = decode_error(HASH + "A")

    assert error.message.startswith("it is not valid base64: its length of 4,001 characters")
    assert "impossible" in error.message


def test_padding_in_the_middle_is_rejected() -> None:
    error = decode_error(HASH[:100] + "=" + HASH[101:])

    assert "padding character '=' at position 101 is followed by more data" in error.message


def test_too_much_padding_is_rejected() -> None:
    error = decode_error(HASH + "==")

    assert "it ends with 2 padding characters '=' but none is possible" in error.message


@pytest.mark.parametrize("empty", ["", "   ", '""', "''", "\n\t", None])
def test_empty_input_is_rejected(empty: str | None) -> None:
    assert decode_error(empty).message == "it is empty"


def test_overlong_input_is_rejected_before_any_work() -> None:
    error = decode_error("T0" + "A" * MAX_TEXT_LENGTH)

    assert "far longer than a hardware hash" in error.message
    assert "65,536" in error.message


def test_non_text_input_is_rejected() -> None:
    assert "not text" in decode_error(12345).message
    assert "not valid UTF-8" in decode_error(b"\xff\xfe").message


def test_bytes_holding_a_valid_hash_are_accepted() -> None:
    submitted = HASH.encode("ascii")

    assert decode_hardware_hash(submitted).serial_number == "SN-0001-ABCD"  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Rejecting blobs that are not hardware hashes


def test_too_short_data_is_rejected() -> None:
    error = decode_error(b64(b"OA"))

    assert error.message.startswith("it decodes to only 2 bytes, far too short")


def test_wrong_header_says_what_it_starts_with() -> None:
    error = decode_error(b64(b"PK\x03\x04" + bytes(100)))

    assert error.message == (
        'it starts with "UE" (first bytes 0x50 0x4b), but a real hardware hash starts with "T0"'
    )


def test_records_end_past_the_data_is_rejected() -> None:
    error = decode_error(b64(blob(*IDENTITY_RECORDS, end=5000, checksum=False)))

    assert error.message.startswith("it is cut short: it has 3,000 of at least 5,036 bytes")


def test_records_end_inside_the_header_is_rejected() -> None:
    error = decode_error(b64(blob(end=2, checksum=False)))

    assert "records end at offset 2, inside the 4-byte header" in error.message


def test_hash_cut_short_is_rejected() -> None:
    error = decode_error(HASH[:200])

    end = decode_hardware_hash(HASH).records_end
    assert error.message == (
        f"it is cut short: it has 150 of at least {end + 36:,} bytes; copy it again from "
        "the original file"
    )


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        (
            (MANUFACTURER, record(99, b"", length=2), MODEL, SERIAL),
            f"record walk broken at offset {4 + len(MANUFACTURER)}: record length 2 is shorter "
            "than the 4-byte record header",
        ),
        (
            (MANUFACTURER, MODEL, record(99, b"abcd", length=200), SERIAL),
            f"record walk broken at offset {4 + len(MANUFACTURER) + len(MODEL)}: the record "
            f"(type 99, length 200) runs past the end of the records at "
            f"{4 + len(MANUFACTURER) + len(MODEL) + 8 + len(SERIAL)}",
        ),
        (
            (MANUFACTURER, MODEL, SERIAL, b"\x63\x00"),
            f"record walk broken at offset {4 + len(MANUFACTURER) + len(MODEL) + len(SERIAL)}: "
            "a record header needs 4 bytes but only 2 remain",
        ),
    ],
    ids=["length-shorter-than-header", "record-past-records-end", "partial-header"],
)
def test_broken_record_walk_names_the_offset(records: tuple[bytes, ...], expected: str) -> None:
    error = decode_error(b64(blob(*records)))

    assert error.message.startswith(expected)


def test_record_walk_must_end_exactly_at_records_end() -> None:
    # The records end (and the checksum follows) in the middle of the serial
    # number record.
    error = decode_error(b64(blob(MANUFACTURER, MODEL, SERIAL[:6])))

    assert error.message.startswith(
        f"record walk broken at offset {4 + len(MANUFACTURER) + len(MODEL)}"
    )


def test_unknown_records_are_walked_over() -> None:
    decoded = decode_hardware_hash(
        b64(blob(record(1, b"\x01\x02\x03"), MANUFACTURER, record(200, bytes(50)), MODEL, SERIAL))
    )

    assert (decoded.manufacturer, decoded.model, decoded.serial_number) == (
        "Contoso",
        "Surface Laptop 7",
        "SN-0001-ABCD",
    )


@pytest.mark.parametrize(
    ("rtype", "message"),
    [
        (
            14,
            "the device it describes cannot be told apart from others: its firmware reports "
            "no serial number as the serial number and no SMBIOS UUID either; set a serial "
            "number in the virtual machine's or the firmware's settings, then capture the "
            "hash again",
        ),
        (16, "the system manufacturer record (type 16) is missing or empty"),
        (17, "the product name (model) record (type 17) is missing or empty"),
    ],
)
@pytest.mark.parametrize("how", ["absent", "empty", "blank"])
def test_each_required_record_must_be_present_and_not_empty(
    rtype: int, message: str, how: str
) -> None:
    records = [r for r in IDENTITY_RECORDS if r[0] != rtype]
    if how == "empty":
        records.append(text_record(rtype, ""))
    elif how == "blank":
        records.append(text_record(rtype, "   "))

    assert decode_error(b64(blob(*records))).message == message


def test_all_missing_required_records_are_reported_together() -> None:
    error = decode_error(b64(blob(record(1, b"x"))))

    assert error.message == (
        "the system manufacturer record (type 16) is missing or empty; "
        "the product name (model) record (type 17) is missing or empty"
    )


def test_text_record_without_its_nul_is_read_whole() -> None:
    decoded = decode_hardware_hash(b64(blob(MANUFACTURER, MODEL, record(14, b"SN-1"))))

    assert decoded.serial_number == "SN-1"


def test_text_record_ends_at_its_first_nul() -> None:
    decoded = decode_hardware_hash(b64(blob(MANUFACTURER, MODEL, record(14, b"SN\x001\x00"))))

    assert decoded.serial_number == "SN"


def test_text_record_in_another_8_bit_encoding_is_read_as_latin_1() -> None:
    decoded = decode_hardware_hash(b64(blob(record(16, b"Soci\xe9t\xe9\x00"), MODEL, SERIAL)))

    assert decoded.manufacturer == "Société"


def test_a_device_with_two_different_serial_numbers_is_rejected() -> None:
    error = decode_error(b64(blob(*IDENTITY_RECORDS, text_record(14, "OTHER"))))

    assert error.message.startswith(
        "the SMBIOS serial number record (type 14) appears twice with different values "
        "('SN-0001-ABCD' at offset"
    )


def test_a_record_repeated_with_the_same_value_is_accepted() -> None:
    decoded = decode_hardware_hash(b64(blob(*IDENTITY_RECORDS, SERIAL)))

    assert decoded.serial_number == "SN-0001-ABCD"


def test_text_values_are_stripped_and_may_be_non_ascii() -> None:
    decoded = decode_hardware_hash(
        b64(blob(text_record(16, " Société Générale "), text_record(17, "Modèle 1 "), SERIAL))
    )

    assert decoded.manufacturer == "Société Générale"
    assert decoded.model == "Modèle 1"


# ---------------------------------------------------------------------------
# Warnings: problems that leave the hash usable


def test_one_altered_byte_anywhere_is_refused_as_altered() -> None:
    original = decode_hardware_hash(HASH).raw
    end = decode_hardware_hash(HASH).records_end
    for position in (5, 100, end - 1, end + 2, end + 10, end + 40, len(original) - 1):
        data = bytearray(original)
        data[position] ^= 0x01

        message = decode_error(b64(bytes(data))).message

        assert message.startswith("it was altered after capture"), (position, message)


def test_an_altered_record_end_names_both_ends() -> None:
    data = bytearray(decode_hardware_hash(HASH).raw)
    end = int.from_bytes(data[2:4], "little")
    data[2:4] = (end - 8).to_bytes(2, "little")

    assert decode_error(b64(bytes(data))).message == (
        f"it was altered after capture: the header says the records end at offset {end - 8}, "
        f"but the checksum shows they end at {end}"
    )


def test_missing_checksum_is_refused() -> None:
    error = decode_error(build_hardware_hash("Contoso", "X1", "S1", with_checksum=False))

    assert error.message.startswith(
        "it was altered after capture, or is not a complete capture: there is no checksum"
    )


@pytest.mark.parametrize("keep", [200, 1000, 1344, 2000, 3000, 3996, 3999])
def test_hash_cut_anywhere_is_refused_as_cut_short(keep: int) -> None:
    message = decode_error(HASH[:keep]).message

    assert message.startswith("it is cut short: it has "), message
    assert message.endswith("copy it again from the original file")


def test_checksum_cut_short_is_refused() -> None:
    data = blob(*IDENTITY_RECORDS, size=0)[:-10]

    assert decode_error(b64(data)).message.startswith("it is cut short")


def test_capture_without_padding_is_complete() -> None:
    decoded = decode_hardware_hash(b64(blob(*IDENTITY_RECORDS, size=0)))

    assert decoded.serial_number == "SN-0001-ABCD"


def test_malformed_optional_records_are_ignored_with_a_warning() -> None:
    decoded = decode_hardware_hash(
        b64(
            blob(
                *IDENTITY_RECORDS,
                text_record(24, "12-34"),
                record(12, bytes(10)),
            )
        )
    )

    assert decoded.product_key_id is None
    assert decoded.smbios_uuid is None
    assert decoded.warnings == (
        "the product key ID record (type 24) is not 13 digits and was ignored",
        "the SMBIOS UUID record (type 12) holds 10 bytes instead of 16 and was ignored",
    )


def test_optional_records_may_be_absent() -> None:
    decoded = decode_hardware_hash(b64(blob(*IDENTITY_RECORDS)))

    assert decoded.product_key_id is None
    assert decoded.smbios_uuid is None
    assert decoded.display_adapters == ()
    assert decoded.warnings == ()


# ---------------------------------------------------------------------------
# The template's sample row


@pytest.mark.parametrize(
    "text",
    [
        SAMPLE_HARDWARE_HASH,
        "dGhpc2RldmljZWlzYW5tbWRkZXZpY2U",
        "dGhpc2RldmljZWlzYW5tbWRkZXZpY2U=",
        ' "dGhpc2RldmljZWlzYW5tbWRkZXZpY2U" ',
    ],
)
def test_seed_sample_raises_sample_data_error(text: str) -> None:
    with pytest.raises(SampleDataError) as caught:
        decode_hardware_hash(text)

    error = caught.value
    assert isinstance(error, HardwareHashError)
    assert (
        "the sample data from the template was not replaced by the device's real "
        "hardware hash" in error.message
    )
    assert error.code == "hardware_hash_invalid"
    assert error.field == "hardware_hash"


def test_sample_row_is_recognised_regardless_of_case_and_spaces() -> None:
    assert is_sample_row(SAMPLE_MANUFACTURER, SAMPLE_MODEL, SAMPLE_ROW_SERIAL)
    assert is_sample_row(" spiralorbit", "CONTOSOABC ", " 000000000000 ")
    assert not is_sample_row("SpiralOrbit", "ContosoABC", "000000000001")
    assert not is_sample_row("Contoso", "ContosoABC", "000000000000")
    assert not is_sample_row(None, "ContosoABC", "000000000000")


def test_hardware_hash_errors_are_input_errors_with_a_stable_code_and_field() -> None:
    error = decode_error("T0#")

    assert isinstance(error, InputError)
    assert error.code == "hardware_hash_invalid"
    assert error.field == "hardware_hash"
    assert str(error) == error.message


def test_hardware_hash_error_keeps_its_location() -> None:
    error = HardwareHashError("it is empty", file="devices.csv", line=7)

    assert error.location() == "devices.csv, line 7"
    assert error.field == "hardware_hash"


# ---------------------------------------------------------------------------
# Cross-checking a row against its hash


DECODED = decode_hardware_hash(HASH)


def test_row_matching_the_hash_passes() -> None:
    assert check_matches_row(DECODED, "Contoso", "Surface Laptop 7", "SN-0001-ABCD") is None


def test_row_comparison_ignores_case_and_whitespace() -> None:
    assert check_matches_row(DECODED, " CONTOSO", "surface  laptop\t7", "sn-0001-abcd ") is None


@pytest.mark.parametrize("absent", [None, "", "   "])
def test_empty_row_fields_are_not_compared(absent: str | None) -> None:
    assert check_matches_row(DECODED, absent, absent, absent) is None


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            ("Fabrikam", None, None),
            "the manufacturer in the row (Fabrikam) does not match the one in the hardware "
            "hash (Contoso)",
        ),
        (
            (None, "Surface Pro", None),
            "the model in the row (Surface Pro) does not match the one in the hardware hash "
            "(Surface Laptop 7)",
        ),
        (
            (None, None, " SN-9 "),
            "the serial number in the row (SN-9) does not match the one in the hardware hash "
            "(SN-0001-ABCD)",
        ),
    ],
    ids=["manufacturer", "model", "serial-number"],
)
def test_mismatching_row_field_is_named(
    row: tuple[str | None, str | None, str | None], message: str
) -> None:
    assert check_matches_row(DECODED, *row) == message


def test_every_mismatching_field_is_named() -> None:
    message = check_matches_row(DECODED, "Fabrikam", "Surface Pro", "SN-9")

    assert message is not None
    assert message.count("does not match") == 3
    assert message.index("manufacturer") < message.index("model") < message.index("serial")


# ---------------------------------------------------------------------------
# Storage


@pytest.mark.parametrize("text", VALID_HASHES)
def test_compact_and_expand_round_trip_exactly(text: str) -> None:
    raw = decode_hardware_hash(text).raw

    stored = compact(raw)

    assert len(stored) <= 1536
    assert len(stored) < len(raw)
    assert expand(stored, len(raw)) == text
    assert decode_hardware_hash(expand(stored, len(raw))).raw == raw


def test_expand_gives_the_canonical_text_of_a_tidied_submission() -> None:
    padded = build_hardware_hash("Contoso", "X1", "S1", size=3001)
    raw = decode_hardware_hash(f'"{padded.rstrip("=")}"\n').raw

    assert expand(compact(raw), len(raw)) == padded


def test_expand_refuses_a_length_shorter_than_the_stored_bytes() -> None:
    with pytest.raises(ValueError):
        expand(b"OA\x04\x00", 3)


# ---------------------------------------------------------------------------
# Properties: nothing but HardwareHashError ever escapes, valid hashes round-trip


BASE64_ISH = st.text(
    alphabet=st.sampled_from(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \n\"'#-_"
    ),
    max_size=300,
)


@PROPERTY_SETTINGS
@given(st.one_of(st.text(max_size=300), BASE64_ISH, BASE64_ISH.map(lambda s: "T0" + s)))
def test_arbitrary_text_never_raises_anything_but_hardware_hash_error(text: str) -> None:
    decode_or_error(text)


@PROPERTY_SETTINGS
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_raise_anything_but_hardware_hash_error(data: bytes) -> None:
    decode_or_error(b64(data))
    decode_or_error(b64(b"OA" + data))
    decode_or_error(data)
    decode_or_error(data.decode("latin-1"))


@PROPERTY_SETTINGS
@given(
    records_end=st.integers(0, 700),
    body=st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 80), st.binary(max_size=60)), max_size=12
    ),
    tail=st.binary(max_size=80),
)
def test_arbitrary_record_layouts_never_raise_anything_but_hardware_hash_error(
    records_end: int, body: list[tuple[int, int, bytes]], tail: bytes
) -> None:
    records = b"".join(struct.pack("<BBH", t, 0, n) + payload for t, n, payload in body)
    decode_or_error(b64(b"OA" + struct.pack("<H", records_end) + records + tail))


def mutated_text(data: st.DataObject) -> str:
    text = data.draw(st.sampled_from(VALID_HASHES))
    index = data.draw(st.integers(0, len(text)))
    kind = data.draw(st.sampled_from(["replace", "truncate", "insert", "delete"]))
    character = data.draw(st.one_of(st.sampled_from('AQgw+/=T0 \n"#'), st.characters()))
    if kind == "replace":
        return text[:index] + character + text[index + 1 :]
    if kind == "truncate":
        return text[:index]
    if kind == "insert":
        return text[:index] + character + text[index:]
    return text[:index] + text[index + 1 :]


def mutated_blob(data: st.DataObject) -> bytes:
    raw = bytearray(decode_hardware_hash(data.draw(st.sampled_from(VALID_HASHES))).raw)
    records_end = int.from_bytes(raw[2:4], "little")
    # Mostly where the structure is, sometimes anywhere.
    index = data.draw(st.one_of(st.integers(0, records_end + 40), st.integers(0, len(raw) - 1)))
    kind = data.draw(st.sampled_from(["replace", "truncate", "insert", "delete"]))
    value = data.draw(st.integers(0, 255))
    if kind == "replace":
        raw[index] = value
    elif kind == "truncate":
        del raw[index:]
    elif kind == "insert":
        raw.insert(index, value)
    else:
        del raw[index]
    return bytes(raw)


@PROPERTY_SETTINGS
@given(st.data())
def test_mutated_hash_text_never_raises_anything_but_hardware_hash_error(
    data: st.DataObject,
) -> None:
    decode_or_error(mutated_text(data))


@PROPERTY_SETTINGS
@given(st.data())
def test_mutated_hash_data_never_raises_anything_but_hardware_hash_error(
    data: st.DataObject,
) -> None:
    result = decode_or_error(b64(mutated_blob(data)))
    if isinstance(result, DecodedHash):
        assert result.manufacturer and result.model and result.serial_number


DEVICE_TEXT = st.text(
    alphabet=st.characters(categories=("L", "M", "N", "P", "S", "Zs"), exclude_characters="\x00"),
    min_size=1,
    max_size=40,
).filter(lambda value: value.strip())
SERIAL_TEXT = DEVICE_TEXT.filter(lambda value: not is_placeholder_serial(value))


@PROPERTY_SETTINGS
@given(
    manufacturer=DEVICE_TEXT,
    model=DEVICE_TEXT,
    serial_number=SERIAL_TEXT,
    product_key_id=st.none() | st.text(alphabet="0123456789", min_size=13, max_size=13),
    captured_at=st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    smbios_uuid=st.none() | st.uuids(),
)
def test_generated_hashes_always_round_trip(
    manufacturer: str,
    model: str,
    serial_number: str,
    product_key_id: str | None,
    captured_at: datetime,
    smbios_uuid: uuid.UUID | None,
) -> None:
    text = build_hardware_hash(
        manufacturer,
        model,
        serial_number,
        product_key_id=product_key_id,
        captured_at=captured_at,
        smbios_uuid=smbios_uuid,
    )

    decoded = decode_hardware_hash(text)

    assert text.startswith("T0")
    assert (decoded.manufacturer, decoded.model, decoded.serial_number) == (
        manufacturer.strip(),
        model.strip(),
        serial_number.strip(),
    )
    assert decoded.product_key_id == product_key_id
    assert decoded.smbios_uuid == (None if smbios_uuid is None else str(smbios_uuid))
    assert decoded.warnings == ()
    assert identity_key(decoded.manufacturer, decoded.serial_number) == identity_key(
        manufacturer, serial_number
    )
    assert check_matches_row(decoded, manufacturer, model, serial_number) is None
    assert expand(compact(decoded.raw), len(decoded.raw)) == text
