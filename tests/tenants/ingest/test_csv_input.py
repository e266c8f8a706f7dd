"""Specification of reading uploaded device CSV files and writing failed rows back."""

from __future__ import annotations

import codecs
import csv
import io

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tenants.errors import CsvFileError, InputError, UploadTooLarge
from tenants.ingest.csv_input import (
    ERROR_HEADER,
    FIELDS,
    FORMATS,
    MAX_ROW_CHARS,
    DeviceRow,
    Upload,
    read_device_rows,
    write_rows_csv,
)
from tests.csv_files import encode_csv, zip_bytes

FORMAT = {fmt.name: fmt for fmt in FORMATS}
HASH = "T0Fa" + "QUJD" * 1000 + "=="  # about as long as a real hardware hash
VALUES = {
    "manufacturer": "Contoso",
    "model": "Surface Laptop 7",
    "serial_number": "SN-0001",
    "hardware_hash": HASH,
    "product_key_id": "3302419815347",
    "group_tag": "Sales",
    "assigned_user": "ana@contoso.com",
}
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16-le-bom", "utf-16-be-bom"]
LIMITS = {"max_rows": 1_000, "max_bytes": 10_000_000}
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def row_of(fmt: str, **changes: str) -> list[str]:
    values = {**VALUES, **changes}
    return [values[field] for field in FORMAT[fmt].fields]


def expected_values(fmt: str, **changes: str) -> dict[str, str | None]:
    values = {**VALUES, **changes}
    return {field: values[field] if field in FORMAT[fmt].fields else None for field in FIELDS}


def read(*files: tuple[str, bytes], **limits: int) -> list[DeviceRow]:
    uploads = [Upload(name=name, stream=io.BytesIO(data)) for name, data in files]
    return list(read_device_rows(uploads, **{**LIMITS, **limits}))


def error_of(*files: tuple[str, bytes], **limits: int) -> CsvFileError:
    with pytest.raises(CsvFileError) as caught:
        read(*files, **limits)
    return caught.value


def located(rows: list[DeviceRow]) -> list[tuple[str, int, str | None]]:
    return [(row.source, row.line, row.values["serial_number"]) for row in rows]


# --- formats, encodings, line endings, quoting -----------------------------------------------


@pytest.mark.parametrize("quoted", [False, True], ids=["unquoted", "quoted"])
@pytest.mark.parametrize("newline", ["\r\n", "\n"], ids=["crlf", "lf"])
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("fmt", list(FORMAT))
def test_every_format_encoding_line_ending_and_quoting_reads_the_rows(
    fmt, encoding, newline, quoted
):
    # Only a quoted file can carry commas and quotes inside a value.
    tricky = {"model": 'Laptop 7, 15" (2024)', "group_tag": 'Sales, "north"'} if quoted else {}
    data = encode_csv(
        [FORMAT[fmt].header, row_of(fmt, **tricky), "", row_of(fmt, serial_number="SN-0002")],
        encoding=encoding,
        newline=newline,
        quoted=quoted,
    )

    rows = read(("devices.csv", data))

    assert [(row.source, row.line, row.format) for row in rows] == [
        ("devices.csv", 2, FORMAT[fmt]),
        ("devices.csv", 4, FORMAT[fmt]),
    ]
    assert rows[0].values == expected_values(fmt, **tricky)
    assert rows[1].values == expected_values(fmt, serial_number="SN-0002")


@pytest.mark.parametrize(
    "header",
    [
        ["Device Serial Number", "Windows Product ID", "Hardware Hash"],
        ["Device Serial Number", "Windows Product ID", "Hardware Hash", "Group Tag"],
        ["Device Serial Number", "Windows Product ID", "Hardware Hash", "Assigned User"],
        [
            "Device Serial Number",
            "Windows Product ID",
            "Hardware Hash",
            "Group Tag",
            "Assigned User",
        ],
    ],
    ids=["3-columns", "group-tag", "assigned-user", "both"],
)
def test_collection_script_group_tag_and_assigned_user_columns_are_optional(header):
    fmt = FORMAT["collection_script"]
    by_label = dict(zip(fmt.header, fmt.fields, strict=True))
    cells = [VALUES[by_label[label]] for label in header]

    (row,) = read(("hwid.csv", encode_csv([header, cells])))

    assert row.format is FORMAT["collection_script"]
    assert row.values == {
        field: VALUES[field] if field in {by_label[label] for label in header} else None
        for field in FIELDS
    }


def test_header_is_matched_ignoring_case_spaces_quotes_and_trailing_commas():
    header = "  manufacturer ,MODEL,  'Serial  Number' ,\u201chardware hash\u201d,,  ,"
    (row,) = read(("d.csv", encode_csv([header, row_of("self_registration")])))

    assert row.format is FORMAT["self_registration"]
    assert row.values == expected_values("self_registration")


def test_blank_lines_and_rows_of_empty_cells_are_skipped_but_counted():
    data = encode_csv(
        [
            "",
            FORMAT["partner"].header,
            "",
            "   ",
            ",,,,",
            ' , "" ,,',
            row_of("partner"),
            "",
        ]
    )

    assert located(read(("d.csv", data))) == [("d.csv", 7, "SN-0001")]


def test_trailing_commas_and_spaces_are_ignored_and_empty_cells_are_none():
    data = encode_csv(
        [
            FORMAT["self_registration"].header,
            "Contoso , Laptop 7 ,SN-1,  H1  ,,,  ,",
            "Contoso,,SN-3,",
        ]
    )

    rows = read(("d.csv", data))

    assert [
        {k: v for k, v in row.values.items() if k in FORMAT["self_registration"].fields}
        for row in rows
    ] == [
        {"manufacturer": "Contoso", "model": "Laptop 7", "serial_number": "SN-1",
         "hardware_hash": "H1"},
        {"manufacturer": "Contoso", "model": None, "serial_number": "SN-3",
         "hardware_hash": None},
    ]  # fmt: skip


def test_a_line_with_fewer_fields_than_the_header_is_refused_naming_it():
    data = encode_csv(
        [FORMAT["self_registration"].header, "Contoso,Laptop 7,SN-1,", "Contoso,X,SN-2"]
    )

    error = error_of(("d.csv", data))

    assert error.line == 3
    assert error.message.startswith(
        "d.csv, line 3: the line has 3 fields where the header has 4: was a hardware hash "
        "split over two lines?"
    )


def test_every_field_is_present_in_the_values():
    (row,) = read(("d.csv", encode_csv([FORMAT["partner"].header, row_of("partner")])))

    assert tuple(row.values) == FIELDS
    assert row.values["group_tag"] is None and row.values["assigned_user"] is None


def test_repeated_header_is_skipped_and_rows_keep_their_original_line_numbers():
    header = FORMAT["partner"].header
    # Two files concatenated naively, the second with its own UTF-8 byte order mark.
    data = encode_csv(
        [
            header,
            row_of("partner", serial_number="A"),
            "",
            "\ufeff" + ",".join(header),
            row_of("partner", serial_number="B"),
            header,
            row_of("partner", serial_number="C"),
        ]
    )

    assert located(read(("merged.csv", data))) == [
        ("merged.csv", 2, "A"),
        ("merged.csv", 5, "B"),
        ("merged.csv", 7, "C"),
    ]


def test_another_accepted_header_mid_file_applies_to_the_rows_below_it():
    data = encode_csv(
        [
            FORMAT["self_registration"].header,
            row_of("self_registration", serial_number="A"),
            FORMAT["partner"].header,
            row_of("partner", serial_number="B"),
        ]
    )

    rows = read(("merged.csv", data))

    assert [(row.line, row.format.name) for row in rows] == [
        (2, "self_registration"),
        (4, "partner"),
    ]
    assert rows[1].values == expected_values("partner", serial_number="B")


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"], ids=["crlf", "lf", "cr"])
def test_quoted_values_spanning_lines_do_not_shift_the_line_numbers(newline):
    wrapped = newline.join([HASH[:76], HASH[76:152], HASH[152:]])
    data = encode_csv(
        [
            FORMAT["self_registration"].header,
            ["Contoso", "Laptop", "A", '"' + wrapped + '"'],
            '"Contoso","Laptop","B","x' + newline + newline + 'y"',
            ["Contoso", "Laptop", "C", "H"],
        ],
        newline=newline,
    )

    rows = read(("d.csv", data))

    assert [(row.line, row.values["serial_number"]) for row in rows] == [
        (2, "A"),
        (5, "B"),
        (8, "C"),
    ]
    assert rows[0].values["hardware_hash"] == wrapped
    assert rows[1].values["hardware_hash"] == f"x{newline}{newline}y"


def test_lone_cr_line_endings_are_lines():
    data = encode_csv([FORMAT["partner"].header, "", row_of("partner")], newline="\r")

    assert located(read(("mac.csv", data))) == [("mac.csv", 3, "SN-0001")]


def test_powershell_type_line_above_the_header_is_skipped():
    data = encode_csv(
        [
            "#TYPE System.Management.Automation.PSCustomObject",
            FORMAT["collection_script"].header,
            row_of("collection_script"),
        ],
        quoted=True,
    )

    assert located(read(("export.csv", data))) == [("export.csv", 3, "SN-0001")]


def test_error_columns_of_a_failed_rows_file_are_ignored():
    header = [*FORMAT["partner"].header, *ERROR_HEADER]
    data = encode_csv(
        [header, [*row_of("partner"), "device_not_found", "We couldn't, sorry."]], quoted=True
    )

    (row,) = read(("failures.csv", data))

    assert row.format is FORMAT["partner"]
    assert row.values == expected_values("partner")


def test_an_error_message_split_at_its_commas_is_still_ignored():
    header = [*FORMAT["partner"].header, *ERROR_HEADER]
    data = encode_csv([header, [*row_of("partner"), "device_not_found", "We couldn't, sorry."]])

    (row,) = read(("failures.csv", data))

    assert row.values == expected_values("partner")


def test_extra_cells_after_an_error_code_column_are_still_an_error():
    header = [*FORMAT["partner"].header, ERROR_HEADER[0]]
    data = encode_csv([header, [*row_of("partner"), "device_not_found", "extra"]])

    error = error_of(("failures.csv", data))

    assert "line 2: the row has 7 fields but the header has 6" in error.message


# --- several files and zips -----------------------------------------------------------------


def test_several_uploads_are_read_in_turn_each_with_its_own_numbering():
    first = encode_csv([FORMAT["partner"].header, row_of("partner", serial_number="A")])
    second = encode_csv(
        ["", FORMAT["self_registration"].header, row_of("self_registration", serial_number="B")],
        encoding="utf-16-le-bom",
    )

    rows = read(("first.csv", first), ("second.csv", second))

    assert located(rows) == [("first.csv", 2, "A"), ("second.csv", 3, "B")]
    assert [row.format.name for row in rows] == ["partner", "self_registration"]


def test_zip_members_are_read_in_name_order_skipping_what_is_not_a_csv_file():
    def one(serial: str, **kw) -> bytes:
        return encode_csv([FORMAT["partner"].header, row_of("partner", serial_number=serial)], **kw)

    archive = zip_bytes(
        {
            "nested/": b"",
            "PC-B.CSV": one("B", encoding="utf-16-le-bom"),
            "nested/PC-C.csv": one("C", quoted=True),
            "PC-A.csv": one("A", encoding="utf-8-sig"),
            "__MACOSX/._PC-A.csv": b"\x00\x05\x16\x07 binary resource fork",
            ".hidden.csv": b"junk",
            "nested/.DS_Store.csv": b"junk",
            "README.txt": b"not a CSV file",
        }
    )

    rows = read(("orders.zip", archive))

    assert located(rows) == [
        ("orders.zip/PC-A.csv", 2, "A"),
        ("orders.zip/PC-B.CSV", 2, "B"),
        ("orders.zip/nested/PC-C.csv", 2, "C"),
    ]


def test_zip_is_recognised_by_its_content_whatever_its_name():
    data = zip_bytes({"a.csv": encode_csv([FORMAT["partner"].header, row_of("partner")])})

    assert located(read(("upload", data))) == [("upload/a.csv", 2, "SN-0001")]


def test_zips_and_plain_files_mix_in_one_upload():
    plain = encode_csv([FORMAT["partner"].header, row_of("partner", serial_number="A")])
    archive = zip_bytes({"b.csv": encode_csv([FORMAT["partner"].header, row_of("partner")])})

    assert [row.source for row in read(("a.csv", plain), ("b.zip", archive))] == [
        "a.csv",
        "b.zip/b.csv",
    ]


def test_zip_without_csv_files_is_an_error():
    error = error_of(("photos.zip", zip_bytes({"photo.jpg": b"\xff\xd8", "notes/": b""})))

    assert error.message.startswith("photos.zip contains no .csv files")
    assert error.source == "photos.zip"


def test_file_named_zip_that_is_not_a_zip_is_an_error():
    error = error_of(("devices.zip", b"Manufacturer,Model,Serial Number,Hardware Hash\r\n"))

    assert error.message.startswith("devices.zip is not a zip archive that can be read")


def test_damaged_zip_member_is_an_error_naming_the_member():
    data = bytearray(
        zip_bytes({"a.csv": encode_csv([FORMAT["partner"].header, row_of("partner")])})
    )
    # Damage the compressed data just after the 30-byte local header and the name.
    data[30 + len("a.csv") + 10] ^= 0xFF

    error = error_of(("pcs.zip", bytes(data)))

    assert error.source == "pcs.zip/a.csv"
    assert "cannot be read from the zip archive" in error.message


def test_each_file_of_a_zip_must_hold_device_rows():
    data = zip_bytes(
        {
            "a.csv": encode_csv([FORMAT["partner"].header, row_of("partner")]),
            "b.csv": encode_csv([FORMAT["partner"].header]),
        }
    )

    error = error_of(("pcs.zip", data))

    assert error.message.startswith("pcs.zip/b.csv contains no device rows")


# --- file-level errors ----------------------------------------------------------------------


def test_unknown_header_names_the_first_non_blank_line_and_the_accepted_headers():
    error = error_of(("bad.csv", b"\r\n\r\nSerial,Hash\r\nA,B\r\n"))

    assert error.message.startswith(
        "bad.csv, line 3: the header is not one we accept: 'Serial,Hash'"
    )
    for accepted in (
        "Manufacturer,Model,Serial Number,Hardware Hash",
        "Device Serial Number,Windows Product ID,Hardware Hash[,Group Tag][,Assigned User]",
        "Device Serial Number,Windows Product ID,Hardware Hash,Manufacturer name,Device model",
    ):
        assert accepted in error.message
    assert (error.source, error.line) == ("bad.csv", 3)


def test_file_errors_are_input_errors_that_say_where():
    """Reported like every other input error: a stable code, and the file and
    line that the message starts with."""
    unreadable = error_of(("bad.csv", b"\r\n\r\nSerial,Hash\r\nA,B\r\n"))
    data = encode_csv([FORMAT["partner"].header, row_of("partner")])
    too_large = error_of(("a.csv", data), ("b.csv", data), max_bytes=2 * len(data) - 1)

    assert isinstance(unreadable, InputError) and isinstance(too_large, InputError)
    assert (unreadable.code, unreadable.location()) == ("csv_invalid", "bad.csv, line 3")
    assert (too_large.code, too_large.location()) == ("upload_too_large", "b.csv")


def test_unknown_header_is_shortened_in_the_message():
    error = error_of(("data.csv", encode_csv([row_of("partner")])))

    assert "'SN-0001,3302419815347,T0FaQUJD" in error.message
    assert HASH not in error.message
    assert len(error.message) < 1_000


def test_a_row_with_more_fields_than_the_header_names_the_line_and_the_counts():
    data = encode_csv([FORMAT["self_registration"].header, "A,B,C,D", "A,B,C,D,E,F,,"])

    error = error_of(("devices.csv", data))

    assert error.message == (
        "devices.csv, line 3: the row has 6 fields but the header has 4. Remove the extra "
        "values or quote fields that contain commas."
    )
    assert (error.source, error.line) == ("devices.csv", 3)


def test_windows_1252_deep_in_a_long_file_is_read_as_windows_1252():
    good = [row_of("partner", serial_number=f"SN-{n}") for n in range(5000)]
    # Valid UTF-8 for thousands of lines, then what Excel writes in Windows-1252.
    data = encode_csv([FORMAT["partner"].header, *good]) + "SN-Å€,,,Fabrikam Ö,Modèl\r\n".encode(
        "cp1252"
    )

    rows = read(("excel.csv", data), max_rows=10_000, max_bytes=len(data))

    assert rows[-1].line == 5002
    assert rows[-1].values["serial_number"] == "SN-Å€"
    assert rows[-1].values["manufacturer"] == "Fabrikam Ö"
    assert rows[-1].values["model"] == "Modèl"


def test_bytes_that_are_no_known_encoding_name_the_line_and_byte_offset():
    good = [row_of("partner", serial_number=f"SN-{n}") for n in range(10)]
    head = encode_csv([FORMAT["partner"].header, *good])
    # 0x81 is undefined in Windows-1252 and invalid in UTF-8.
    data = head + b"SN-\x81,x,y,z,w\r\n"

    error = error_of(("odd.csv", data))

    assert error.line == 12
    assert error.message.startswith("odd.csv, line 12: the line is not text")
    assert f"byte offset {len(head) + 3:,}" in error.message
    assert "save the file as csv utf-8" in error.message.lower()


def test_invalid_utf16_names_its_line():
    text = "\r\n".join([",".join(FORMAT["partner"].header), ",".join(row_of("partner"))])
    # An unpaired high surrogate on line 3.
    data = codecs.BOM_UTF16_LE + (text + "\r\n").encode("utf-16-le") + b"\x00\xd8A\x00"

    error = error_of(("ps.csv", data))

    assert error.message.startswith("ps.csv, line 3: the line is not text")
    assert "UTF-16" in error.message


def test_binary_file_is_an_error_on_line_1():
    error = error_of(("image.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00"))

    assert error.line == 1
    assert error.message.startswith("image.csv, line 1: the header is not one we accept")


def test_nul_bytes_are_an_error_naming_the_line():
    # UTF-16 without a byte order mark reads as UTF-8 full of NUL characters.
    data = encode_csv([FORMAT["partner"].header])
    data += "\r\n".join(row_of("partner")).encode("utf-16-le")

    error = error_of(("nobom.csv", data))

    assert error.message.startswith("nobom.csv, line 2: the line contains NUL characters")


@pytest.mark.parametrize("data", [b"", b"\r\n\r\n   \n", codecs.BOM_UTF8, codecs.BOM_UTF16_LE])
def test_an_empty_file_contains_no_rows(data):
    error = error_of(("empty.csv", data))

    assert error.message.startswith("empty.csv contains no rows")
    assert (error.source, error.line) == ("empty.csv", None)


def test_a_file_with_only_a_header_contains_no_device_rows():
    error = error_of(
        ("a.csv", encode_csv([FORMAT["partner"].header, row_of("partner")])),
        ("b.csv", encode_csv(["", FORMAT["partner"].header, ",,,,", ""])),
    )

    assert error.message.startswith("b.csv contains no device rows, only the header (line 2)")


def test_no_upload_at_all_is_an_error():
    with pytest.raises(CsvFileError, match="No file was uploaded"):
        list(read_device_rows([], **LIMITS))


def test_a_quote_never_closed_is_an_error_naming_the_row():
    data = encode_csv([FORMAT["partner"].header, row_of("partner"), 'SN-2,"3302419815347,H', "x,y"])

    error = error_of(("d.csv", data))

    assert error.message == (
        "d.csv, line 3: a quote opened on this row is never closed. Close it, or remove it."
    )


def test_a_quote_never_closed_in_a_long_file_stops_at_the_row_length_limit():
    rows = [row_of("partner", serial_number=f"SN-{n}") for n in range(40)]
    data = encode_csv([FORMAT["partner"].header, '"SN-0,x', *rows])

    error = error_of(("d.csv", data))

    assert error.message.startswith(f"d.csv, line 2: the row is longer than {MAX_ROW_CHARS:,}")
    assert "quote" in error.message


def test_a_line_without_line_breaks_is_not_read_whole():
    stream = ReadTracking(encode_csv([FORMAT["partner"].header]) + b"x" * 5_000_000)

    with pytest.raises(CsvFileError, match="line 2: the row is longer than"):
        list(read_device_rows([Upload("one-line.csv", stream)], **LIMITS))

    assert stream.bytes_read < 1_000_000


def test_csv_file_error_is_the_message():
    error = error_of(("d.csv", encode_csv(["Serial"])))

    assert str(error) == error.message
    assert error.field is None


# --- limits ---------------------------------------------------------------------------------


def test_rows_up_to_the_limit_are_read():
    data = encode_csv([FORMAT["partner"].header, *[row_of("partner")] * 3])

    assert len(read(("d.csv", data), max_rows=3)) == 3


def test_one_row_over_the_limit_is_too_large_after_the_rows_within_it():
    first = encode_csv([FORMAT["partner"].header, *[row_of("partner")] * 2])
    second = encode_csv([FORMAT["partner"].header, "", row_of("partner"), row_of("partner")])
    reader = read_device_rows(
        [Upload("a.csv", io.BytesIO(first)), Upload("b.csv", io.BytesIO(second))],
        max_rows=3,
        max_bytes=LIMITS["max_bytes"],
    )

    assert len([next(reader) for _ in range(3)]) == 3
    with pytest.raises(UploadTooLarge) as caught:
        next(reader)

    assert caught.value.message == (
        "b.csv, line 4: the upload has more than 3 device rows, the most one order takes. "
        "Split the devices into orders of at most 3 rows each."
    )
    assert (caught.value.source, caught.value.line) == ("b.csv", 4)


def test_bytes_up_to_the_limit_are_read():
    data = encode_csv([FORMAT["partner"].header, row_of("partner")])

    assert len(read(("d.csv", data), max_bytes=len(data))) == 1


def test_bytes_over_the_limit_over_all_files_are_too_large():
    data = encode_csv([FORMAT["partner"].header, row_of("partner")])

    error = error_of(("a.csv", data), ("b.csv", data), max_bytes=2 * len(data) - 1)

    assert isinstance(error, UploadTooLarge)
    assert error.message.startswith("b.csv: the upload is larger than ")
    assert "Split the devices" in error.message


def test_bytes_limit_is_told_in_mebibytes():
    data = encode_csv([FORMAT["partner"].header]) + b"\n" * (1024 * 1024)

    error = error_of(("big.csv", data), max_bytes=1024 * 1024)

    assert "larger than 1 MiB" in error.message


def test_a_zip_counts_its_uncompressed_bytes():
    header = ",".join(FORMAT["partner"].header) + "\r\n"
    csv_bytes = (header + "\r\n" * 200_000 + ",".join(row_of("partner")) + "\r\n").encode()
    data = zip_bytes({"bomb.csv": csv_bytes})
    assert len(data) < 10_000

    assert len(read(("z.zip", data), max_bytes=len(csv_bytes))) == 1
    error = error_of(("z.zip", data), max_bytes=len(csv_bytes) - 1)
    assert isinstance(error, UploadTooLarge)
    assert "a zip counts uncompressed" in error.message


class ReadTracking(io.BytesIO):
    """A stream that remembers how much was read from it."""

    bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer) -> int:
        count = super().readinto(buffer)
        self.bytes_read += count
        return count


def test_rows_are_handed_out_while_the_file_is_still_being_read():
    rows = [row_of("partner", serial_number=f"SN-{n}") for n in range(1_000)]
    stream = ReadTracking(encode_csv([FORMAT["partner"].header, *rows]))
    size = len(stream.getvalue())

    reader = read_device_rows([Upload("big.csv", stream)], **LIMITS)
    first = next(reader)

    assert first.values["serial_number"] == "SN-0"
    assert stream.bytes_read < size / 10
    assert sum(1 for _ in reader) == 999


# --- the failed rows, written back ----------------------------------------------------------


def test_failed_rows_are_written_in_the_format_with_the_error_columns():
    rows = [
        (expected_values("partner", model='Laptop, 15"'), "device_not_found", "Not found."),
        ({"serial_number": "SN-2"}, "unexpected_error", "Contact support: req-1"),
    ]

    chunks = list(write_rows_csv(FORMAT["partner"], rows))
    # The header first, then the rows, written in pieces of many rows.
    first, second = "".join(chunks[1:]).splitlines(keepends=True)

    assert chunks[0] == (
        '"Device Serial Number","Windows Product ID","Hardware Hash","Manufacturer name",'
        '"Device model","Error Code","Error Message"\r\n'
    )
    assert first.endswith('"Laptop, 15""","device_not_found","Not found."\r\n')
    assert second == '"SN-2","","","","","unexpected_error","Contact support: req-1"\r\n'


def test_formula_cells_are_written_inert_and_read_back_as_sent():
    values = expected_values(
        "partner", serial_number="-2+3", manufacturer='=HYPERLINK("http://evil.example")'
    )
    text = "".join(write_rows_csv(FORMAT["partner"], [(values, "device_not_found", "@once")]))

    assert '"\'-2+3"' in text and '"\'=HYPERLINK(""http://evil.example"")"' in text
    assert text.endswith('"device_not_found","\'@once"\r\n')
    (row,) = read(("failures.csv", encode_csv([text.removesuffix("\r\n")])))
    assert row.values == values


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("fmt", list(FORMAT))
def test_written_failed_rows_read_back_as_the_same_values(fmt, encoding):
    values = [
        expected_values(fmt, model='Laptop, "15"', group_tag="a\r\nb"),
        expected_values(fmt, serial_number="SN-2"),
    ]
    text = "".join(
        write_rows_csv(FORMAT[fmt], [(v, "device_not_found", "Not, found") for v in values])
    )

    rows = read(("failures.csv", encode_csv([text.removesuffix("\r\n")], encoding=encoding)))

    assert [row.values for row in rows] == values
    assert {row.format.name for row in rows} == {fmt}


# --- properties -----------------------------------------------------------------------------

BOMS = st.sampled_from([b"", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE])
HEADER_LINES = st.sampled_from([b""] + [",".join(fmt.header).encode() + b"\r\n" for fmt in FORMATS])


def outcome_of(files: list[tuple[str, bytes]], **limits: int) -> None:
    """Read everything; only CsvFileError may come out, with a message naming the file."""
    try:
        rows = read(*files, **limits)
    except CsvFileError as error:
        assert error.message
        assert error.source is None or any(error.source.startswith(n) for n, _ in files)
        return
    for row in rows:
        assert set(row.values) == set(FIELDS)
        assert all(v is None or (v and v == v.strip()) for v in row.values.values())


@FUZZ
@given(
    name=st.sampled_from(["d.csv", "d.zip", "d"]),
    bom=BOMS,
    header=HEADER_LINES,
    body=st.binary(max_size=600),
    max_bytes=st.sampled_from([50, 10_000]),
)
def test_arbitrary_bytes_raise_nothing_but_csv_file_errors(name, bom, header, body, max_bytes):
    outcome_of([(name, bom + header + body)], max_rows=5, max_bytes=max_bytes)


CSVISH = st.lists(
    st.sampled_from(
        [",", '"', "\r", "\n", "\r\n", " ", "a", "é", "\ufeff", "\x00", "#TYPE x", "Group Tag"]
        + [label for fmt in FORMATS for label in fmt.header]
    ),
    max_size=40,
).map("".join)


@FUZZ
@given(header=st.sampled_from(FORMATS), text=CSVISH, encoding=st.sampled_from(ENCODINGS))
def test_arbitrary_csv_like_text_raises_nothing_but_csv_file_errors(header, text, encoding):
    outcome_of(
        [("d.csv", encode_csv([",".join(header.header) + "\r\n" + text], encoding=encoding))]
    )


VALID_ZIP = zip_bytes(
    {
        "a.csv": encode_csv([FORMAT["partner"].header, row_of("partner")]),
        "b/c.csv": encode_csv([FORMAT["self_registration"].header, row_of("self_registration")]),
    }
)


@FUZZ
@given(
    changes=st.lists(
        st.tuples(st.integers(0, len(VALID_ZIP) - 1), st.integers(0, 255)), min_size=1, max_size=4
    ),
    cut=st.integers(1, len(VALID_ZIP)),
)
def test_damaged_zips_raise_nothing_but_csv_file_errors(changes, cut):
    data = bytearray(VALID_ZIP)
    for position, byte in changes:
        data[position] = byte
    outcome_of([("pcs.zip", bytes(data[:cut]))])


VALUE = st.one_of(
    st.none(),
    st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        min_size=1,
        max_size=30,
    )
    .map(str.strip)
    .filter(bool),
)


@FUZZ
@given(
    fmt=st.sampled_from(FORMATS),
    encoding=st.sampled_from(ENCODINGS),
    rows=st.lists(st.tuples(st.fixed_dictionaries({f: VALUE for f in FIELDS}), VALUE), min_size=1),
)
def test_written_rows_read_back_the_same_in_every_format_and_encoding(fmt, encoding, rows):
    values = [{f: v[f] if f in fmt.fields else None for f in FIELDS} for v, _ in rows]
    # A row whose first value is a header's first column reads as that header.
    firsts = {f.header[0].casefold() for f in FORMATS}
    assume(not any((v[fmt.fields[0]] or "").casefold() in firsts for v in values))
    # A row with only "#TYPE ..." in its first column reads as a PowerShell type line.
    assume(not any((v[fmt.fields[0]] or "").startswith("#TYPE ") for v in values))
    text = "".join(
        write_rows_csv(
            fmt,
            [
                (v, "code", message or "failed")
                for v, (_, message) in zip(values, rows, strict=True)
            ],
        )
    )

    read_back = read(("failures.csv", encode_csv([text.removesuffix("\r\n")], encoding=encoding)))

    assert [row.values for row in read_back] == values
    assert [row.line for row in read_back] == _expected_lines(text)


def _expected_lines(text: str) -> list[int]:
    """The physical line each record after the header starts on, per the csv module."""
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(lines)
    starts = []
    while True:
        start = reader.line_num + 1
        if next(reader, None) is None:
            break
        starts.append(start)
    return starts[1:]


# --- European Excel: semicolons, tabs, Windows-1252 ------------------------------------------


@pytest.mark.parametrize("delimiter", [";", "\t"])
@pytest.mark.parametrize("fmt", list(FORMAT))
def test_semicolon_and_tab_separated_files_read_like_comma_separated_ones(fmt, delimiter):
    rows = [row_of(fmt, serial_number=f"SN-{n}", model="Laptop; 7, 15") for n in range(3)]
    comma = encode_csv([FORMAT[fmt].header, *rows], quoted=True)
    other = encode_csv([FORMAT[fmt].header, *rows], delimiter=delimiter, encoding="cp1252")

    assert [r.values for r in read(("excel.csv", other))] == [
        r.values for r in read(("comma.csv", comma))
    ]


def test_excel_separator_line_is_honoured_and_skipped():
    data = encode_csv(
        ["sep=;", FORMAT["partner"].header, row_of("partner", serial_number="SN-1")],
        delimiter=";",
    )

    (row,) = read(("excel.csv", data))

    assert (row.line, row.values["serial_number"]) == (3, "SN-1")


def test_a_hash_split_over_two_lines_is_refused_naming_the_line():
    whole = row_of("collection_script", serial_number="SN-1")[:3]
    cut = len(whole[2]) // 2
    data = encode_csv(
        [
            FORMAT["collection_script"].header[:3],
            row_of("collection_script", serial_number="SN-0")[:3],
            [whole[0], whole[1], whole[2][:cut]],
            [whole[2][cut:]],
        ]
    )

    error = error_of(("split.csv", data))

    assert error.line == 4
    assert error.message.startswith(
        "split.csv, line 4: the line has 1 field where the header has 3: was a hardware hash "
        "split over two lines?"
    )


def test_a_piece_of_a_hash_in_the_serial_column_is_refused_naming_the_line():
    piece = "T0FmAxEAHAAAAAoA6ANGYgAACgDoA0Zi0xd8KuQCCQgCABAACQABAAEAAgABAAAABQAZ"
    data = encode_csv([FORMAT["collection_script"].header[:3], [piece, "", ""], ["SN-2", "", "H"]])

    error = error_of(("shifted.csv", data))

    assert error.line == 2
    assert "a piece of a hardware hash rather than a serial number" in error.message
    assert "Was a hardware hash split over two lines" in error.message


def test_a_serial_hundreds_of_characters_long_is_refused_naming_the_line():
    data = encode_csv([FORMAT["partner"].header, row_of("partner", serial_number="SN " * 100)])

    error = error_of(("long.csv", data))

    assert error.line == 2
    assert "the serial number is 299 characters long; a serial number has at most 128" in (
        error.message
    )
