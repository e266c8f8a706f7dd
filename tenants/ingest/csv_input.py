"""Device CSV files as uploaded by partners and customers, read as a stream.

A file is recognised by its header, one of three layouts (``FORMATS``). Files
arrive as UTF-8 (with or without a byte order mark), UTF-16 with a byte order
mark (what Windows PowerShell 5.1 ``Out-File`` writes), or Windows-1252 (what
Excel in a European locale saves as "CSV (semicolon separated)"); fields are
separated by commas, semicolons or tabs, whichever the header line uses; with
any line endings, quoted or not, with blank lines, trailing commas and
spaces, and sometimes with the header repeated mid-file after several files
were concatenated. A ``.zip`` upload stands for the CSV files inside it.

``read_device_rows`` yields one ``DeviceRow`` per device line, numbered by
its physical line in its file, and raises ``CsvFileError`` (``UploadTooLarge``
for the size limits; both input errors of tenants/errors.py) with a message
that names the file, the line and what to fix. Nothing is read into memory
whole: bytes are decoded as they are read, rows are handed out as they are
parsed, and a row is at most ``MAX_ROW_CHARS`` characters.

``write_rows_csv`` writes rows back in a format, with an error code and
message per row, for the failed-rows download (``write_table_csv`` writes
any table, the exports' too); reading that file again
ignores the two error columns, so a partner can fix it and resubmit it.
Cells a spreadsheet would run as formulas are written inert and read back as
they were (tenants/ingest/spreadsheet_cells.py).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from itertools import chain
from typing import IO, TYPE_CHECKING, cast

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

from tenants.errors import CsvFileError, UploadTooLarge

# The fields a device row may carry (SPEC section 2): one definition for JSON and CSV.
from tenants.ingest.device_rows import FIELDS, implausible_serial_problem
from tenants.ingest.spreadsheet_cells import neutralise, restore

__all__ = [
    "ERROR_HEADER",
    "FIELDS",
    "FORMATS",
    "MAX_ROW_CHARS",
    "CsvFormat",
    "DeviceRow",
    "Upload",
    "read_device_rows",
    "write_rows_csv",
    "write_table_csv",
]


@dataclass(frozen=True)
class CsvFormat:
    """One accepted header layout: its canonical header and the field of each column."""

    name: str
    header: tuple[str, ...]
    fields: tuple[str, ...]
    # Fields whose column a file may leave out of its header.
    optional: tuple[str, ...] = ()


FORMATS: tuple[CsvFormat, ...] = (
    # The self-registration sample file.
    CsvFormat(
        name="self_registration",
        header=("Manufacturer", "Model", "Serial Number", "Hardware Hash"),
        fields=("manufacturer", "model", "serial_number", "hardware_hash"),
    ),
    # What the common PowerShell collection script writes; it adds the last
    # two columns only when they were asked for.
    CsvFormat(
        name="collection_script",
        header=(
            "Device Serial Number",
            "Windows Product ID",
            "Hardware Hash",
            "Group Tag",
            "Assigned User",
        ),
        fields=("serial_number", "product_key_id", "hardware_hash", "group_tag", "assigned_user"),
        optional=("group_tag", "assigned_user"),
    ),
    # The same script's partner mode, also the partner portal's format.
    CsvFormat(
        name="partner",
        header=(
            "Device Serial Number",
            "Windows Product ID",
            "Hardware Hash",
            "Manufacturer name",
            "Device model",
        ),
        fields=("serial_number", "product_key_id", "hardware_hash", "manufacturer", "model"),
    ),
)

# The columns ``write_rows_csv`` appends; a header may end with them and
# their values are ignored, so a downloaded failures file can be resubmitted.
ERROR_HEADER = ("Error Code", "Error Message")

# A device row with a hardware hash is about 4,000 characters; anything far
# longer is not a device row (typically a quote that is never closed), and
# this bound keeps memory per row small. It is below the csv module's default
# field size limit, so that limit never applies first.
MAX_ROW_CHARS = 64 * 1024

_ZIP_MAGIC = b"PK\x03\x04"

# Undecodable bytes become this lone surrogate, which no valid UTF-8 or
# UTF-16 text decodes to. Decoding with errors="strict" would raise for a
# whole chunk of text at once, before the line holding the bad bytes is
# reached; marking them lets the line that holds them be named.
_UNDECODABLE = "\udcff"
_MARK_UNDECODABLE = "tenants.ingest.csv_input.mark_undecodable"
codecs.register_error(
    _MARK_UNDECODABLE, lambda exc: (_UNDECODABLE, cast(UnicodeDecodeError, exc).end)
)

# Trimmed from both ends of a header cell besides whitespace: quotes (also
# the typographic ones office software substitutes) and a byte order mark
# (a file concatenated after another one brings its own).
_HEADER_EDGE_CHARACTERS = "\"'\u201c\u201d\u2018\u2019\ufeff"

# Windows PowerShell 5.1 Export-Csv writes this line above the header unless
# told not to.
_POWERSHELL_TYPE_LINE = "#TYPE "

_FIX_ENCODING = "Save the file as CSV UTF-8 and upload it again."

# Field separators a file may use; the header line decides which one it does.
_DELIMITERS = (",", ";", "\t")
# Excel writes "sep=;" above the header when asked to name its separator.
_SEPARATOR_LINE = re.compile(r'\s*"?sep=(.)"?\s*', re.IGNORECASE)
# The same line as the csv reader returns it, its separator taken as one.
_SEPARATOR_CELL = re.compile(r"sep=.?", re.IGNORECASE)


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its name as uploaded, and a readable binary stream."""

    name: str
    stream: IO[bytes]


@dataclass
class DeviceRow:
    """One device line of a file, with every field of ``FIELDS`` (None when empty)."""

    source: str  # the file name; "orders.zip/PC1.csv" for a member of a zip
    line: int  # the physical line, from 1, where the row starts in its file
    format: CsvFormat
    values: dict[str, str | None]


def read_device_rows(
    uploads: Iterable[Upload], *, max_rows: int, max_bytes: int
) -> Iterator[DeviceRow]:
    """Yield the device rows of every upload in turn, expanding zips.

    Every file must hold at least one device row. ``max_rows`` counts device
    rows and ``max_bytes`` the bytes read (decompressed, for zip members),
    both over all the uploads together.
    """
    limits = _Limits(max_rows=max_rows, max_bytes=max_bytes)
    uploaded = False
    for upload in uploads:
        uploaded = True
        raw = _CountingStream(upload.stream, limits, upload.name)
        if upload.name.lower().endswith(".zip") or raw.head(len(_ZIP_MAGIC)) == _ZIP_MAGIC:
            yield from _read_zip(upload, limits)
        else:
            yield from _read_file(raw, upload.name, limits)
    if not uploaded:
        raise CsvFileError(
            "No file was uploaded. Attach the device CSV file, or a .zip of CSV files."
        )


def write_rows_csv(
    fmt: CsvFormat, rows: Iterable[tuple[dict[str, str | None], str, str]]
) -> Iterator[str]:
    """CSV text in ``fmt`` plus the error columns: the header, then one row per
    ``(values, error_code, error_message)``. Every cell is quoted, and none
    starts a spreadsheet formula (``write_table_csv``)."""
    return write_table_csv(
        (*fmt.header, *ERROR_HEADER),
        (
            (*(values.get(field) for field in fmt.fields), error_code, error_message)
            for values, error_code, error_message in rows
        ),
    )


# Rows written before the text is handed out: few enough to keep memory
# flat, enough that a million-row file is not a million tiny writes.
_ROWS_PER_PIECE = 200


def write_table_csv(header: Iterable[str], rows: Iterable[Iterable[str | None]]) -> Iterator[str]:
    """CSV text of ``header`` and ``rows`` (None is an empty cell), handed out
    in pieces as the rows come. Every cell is quoted and none starts a
    spreadsheet formula (tenants/ingest/spreadsheet_cells.py): the one way
    every CSV file the service writes is written."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_ALL)

    def written() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow([neutralise(cell) for cell in header])
    yield written()
    pending = 0
    for row in rows:
        writer.writerow([neutralise(cell or "") for cell in row])
        pending += 1
        if pending == _ROWS_PER_PIECE:
            yield written()
            pending = 0
    if pending:
        yield written()


# ---------------------------------------------------------------------------
# Bytes: limits, zips, decoding


@dataclass
class _Limits:
    """What one upload may hold, over all its files, and what was read so far."""

    max_rows: int
    max_bytes: int
    rows_read: int = 0
    bytes_read: int = 0

    def charge_bytes(self, count: int, source: str) -> None:
        self.bytes_read += count
        if self.bytes_read > self.max_bytes:
            raise self.too_many_bytes(source)

    def too_many_bytes(self, source: str) -> UploadTooLarge:
        return UploadTooLarge(
            f"{source}: the upload is larger than {_size(self.max_bytes)} (a zip counts "
            "uncompressed), the most one order takes. Split the devices into smaller "
            "files and submit them as separate orders.",
            source=source,
        )

    def count_row(self, source: str, line: int) -> None:
        self.rows_read += 1
        if self.rows_read > self.max_rows:
            raise UploadTooLarge(
                f"{source}, line {line}: the upload has more than {self.max_rows:,} device "
                f"rows, the most one order takes. Split the devices into orders of at most "
                f"{self.max_rows:,} rows each.",
                source=source,
                line=line,
            )


class _CountingStream(io.RawIOBase):
    """A binary stream that charges every byte it hands out to the upload's limits.

    ``head`` looks at the first bytes without consuming them. Errors of the
    underlying stream listed in ``damaged`` become a ``CsvFileError`` (a zip
    member whose compressed data is corrupt).
    """

    def __init__(
        self,
        stream: IO[bytes],
        limits: _Limits,
        source: str,
        *,
        damaged: tuple[type[BaseException], ...] = (),
    ) -> None:
        super().__init__()
        self._stream = stream
        self._limits = limits
        self._source = source
        self._damaged = damaged
        self._pending = b""

    def readable(self) -> bool:
        return True

    def head(self, size: int) -> bytes:
        while len(self._pending) < size:
            data = self._read(size - len(self._pending))
            if not data:
                break
            self._pending += data
        return self._pending[:size]

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        if self._pending:
            data, self._pending = self._pending[: len(view)], self._pending[len(view) :]
        else:
            data = self._read(len(view))
        view[: len(data)] = data
        self._limits.charge_bytes(len(data), self._source)
        return len(data)

    def _read(self, size: int) -> bytes:
        try:
            return self._stream.read(size)
        except self._damaged as exc:
            raise CsvFileError(
                f"{self._source}: the file cannot be read from the zip archive ({exc}). "
                "Zip the files again, without a password, or upload the CSV files themselves.",
                source=self._source,
            ) from exc


# A damaged or hostile archive can fail inside the decompressor of any
# compression method (zlib.error, lzma.LZMAError, OSError, EOFError, ...), so
# any failure while opening or inflating a member means it cannot be read.
_ZIP_READ_ERRORS: tuple[type[BaseException], ...] = (Exception,)


def _read_zip(upload: Upload, limits: _Limits) -> Iterator[DeviceRow]:
    """The rows of every CSV member of a zip, in name order."""
    try:
        upload.stream.seek(0)
        archive = zipfile.ZipFile(upload.stream)
    except _ZIP_READ_ERRORS as exc:
        raise CsvFileError(
            f"{upload.name} is not a zip archive that can be read ({exc}). Zip the files "
            "again, or upload the CSV files themselves.",
            source=upload.name,
        ) from exc
    with archive:
        members = sorted(
            (info for info in archive.infolist() if _is_csv_member(info)),
            key=lambda info: info.filename,
        )
        if not members:
            raise CsvFileError(
                f"{upload.name} contains no .csv files. Put the device CSV files in the zip, "
                "or upload the CSV files themselves.",
                source=upload.name,
            )
        # The sizes in the archive can lie, but when even they are over the
        # limit there is no point inflating anything.
        if limits.bytes_read + sum(info.file_size for info in members) > limits.max_bytes:
            raise limits.too_many_bytes(upload.name)
        for info in members:
            source = f"{upload.name}/{info.filename}"
            try:
                member = archive.open(info)
            except _ZIP_READ_ERRORS as exc:
                raise CsvFileError(
                    f"{source}: the file cannot be read from the zip archive ({exc}). Zip the "
                    "files again, without a password, or upload the CSV files themselves.",
                    source=source,
                ) from exc
            with member:
                raw = _CountingStream(member, limits, source, damaged=_ZIP_READ_ERRORS)
                yield from _read_file(raw, source, limits)


def _is_csv_member(info: zipfile.ZipInfo) -> bool:
    """A CSV file of the archive, not a folder, macOS metadata or a hidden file."""
    parts = info.filename.split("/")
    return (
        not info.is_dir()
        and info.filename.lower().endswith(".csv")
        and not any(part.startswith(".") or part == "__MACOSX" for part in parts)
    )


def _read_file(raw: _CountingStream, source: str, limits: _Limits) -> Iterator[DeviceRow]:
    """Decode one file by its byte order mark (UTF-8, else Windows-1252, without
    one) and parse it."""
    bom = raw.head(2)
    stream: io.RawIOBase
    if bom in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        # The codec reads the mark, picks the byte order and drops it.
        stream, encoding, label = raw, "utf-16", "UTF-16"
        undecodable: list[int] = []
    else:
        stream = _Utf8OrWindows1252(raw)
        undecodable = stream.undecodable
        # Drops a UTF-8 byte order mark when there is one.
        encoding, label = "utf-8-sig", "UTF-8 or Windows-1252"
    # newline="" keeps every line ending (CRLF, LF or a lone CR) for the csv
    # module, which must see them to read quoted values that span lines.
    with io.TextIOWrapper(
        io.BufferedReader(stream), encoding=encoding, errors=_MARK_UNDECODABLE, newline=""
    ) as text:
        yield from _parse(_Lines(text, source, label, undecodable), limits)


class _Utf8OrWindows1252(io.RawIOBase):
    """The bytes of a file without a byte order mark, as UTF-8.

    Decided line by line: a line that is valid UTF-8 passes through, a line
    that is not is read as Windows-1252 (Excel's encoding in Western European
    locales), and once one line was, every later line is too. The five bytes
    Windows-1252 leaves undefined stay undecodable; their offsets in the file
    are recorded in ``undecodable`` for the error message.
    """

    _CHUNK = 1 << 16
    # A line longer than this is passed on in pieces (the reader refuses it).
    _MAX_PENDING = 4 * MAX_ROW_CHARS

    def __init__(self, raw: io.RawIOBase) -> None:
        super().__init__()
        self._raw = raw
        self._pending = b""  # the start of a line not ended yet
        self._offset = 0  # file offset of the first byte of _pending
        self._out = b""
        self._windows_1252 = False
        self.undecodable: list[int] = []

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        while not self._out:
            chunk = self._raw.read(self._CHUNK)
            if chunk is None:
                return 0
            if not chunk:
                if not self._pending:
                    return 0
                self._out, self._pending = self._convert(self._pending), b""
                break
            data = self._pending + chunk if self._pending else chunk
            if data.isascii():
                self._offset += len(data)
                self._pending, self._out = b"", data
                continue
            cut = data.rfind(b"\n") + 1
            if cut == 0 and len(data) > self._MAX_PENDING:
                cut = len(data)
            self._pending = data[cut:]
            self._out = self._convert(data[:cut])
        count = min(len(buffer), len(self._out))
        buffer[:count] = self._out[:count]
        self._out = self._out[count:]
        return count

    def _convert(self, data: bytes) -> bytes:
        """Whole lines of the file, as UTF-8."""
        start = self._offset
        self._offset += len(data)
        if data.isascii():
            return data
        out = bytearray()
        for line in data.splitlines(keepends=True):
            if not self._windows_1252 and not line.isascii():
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError:
                    self._windows_1252 = True
            if self._windows_1252 and not line.isascii():
                out += self._from_windows_1252(line, start).encode("utf-8", "surrogatepass")
            else:
                out += line
            start += len(line)
        return bytes(out)

    def _from_windows_1252(self, line: bytes, start: int) -> str:
        try:
            return line.decode("cp1252")
        except UnicodeDecodeError:
            pass
        characters = []
        for at in range(len(line)):
            try:
                characters.append(line[at : at + 1].decode("cp1252"))
            except UnicodeDecodeError:
                characters.append(_UNDECODABLE)
                self.undecodable.append(start + at)
        return "".join(characters)


# ---------------------------------------------------------------------------
# Text: lines, rows, headers


class _Lines:
    """The physical lines of one decoded file, numbered and checked, for csv.reader.

    ``start_row`` is called before each row is parsed: it returns the number
    of the row's first line and starts the per-row length count.
    """

    def __init__(
        self,
        text: io.TextIOBase,
        source: str,
        encoding_label: str,
        undecodable_offsets: list[int] | None = None,
    ) -> None:
        self.source = source
        self.number = 0  # lines handed out so far
        # Whether the csv reader asked for a line past the end while reading
        # the current row, which only happens inside an unclosed quote.
        self.ran_out = False
        self._text = text
        self._encoding_label = encoding_label
        self._undecodable_offsets = [] if undecodable_offsets is None else undecodable_offsets
        self._row_start = 1
        self._row_chars = 0
        self._peeked: deque[str] = deque()  # read ahead, not handed out yet

    def delimiter(self) -> str:
        """The field separator the file's header line uses (a comma when none fits).

        Reads ahead to the first line that is not blank, the PowerShell type
        line or Excel's "sep=" line; those lines are still handed out in turn.
        """
        while len(self._peeked) < 20:
            line = self._text.readline(MAX_ROW_CHARS + 1)
            if not line:
                break
            self._peeked.append(line)
            content = line.strip().lstrip("\ufeff")
            separator = _SEPARATOR_LINE.fullmatch(content)
            if separator:
                return separator.group(1) if separator.group(1) in _DELIMITERS else ","
            if (
                not content
                or content.startswith(_POWERSHELL_TYPE_LINE)
                or not content.strip(",;\t")
            ):
                continue
            return _header_delimiter(line)
        return ","

    def start_row(self) -> int:
        self._row_start = self.number + 1
        self._row_chars = 0
        self.ran_out = False
        return self._row_start

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        # Bounded, so a file with no line breaks is never read whole.
        line = self._peeked.popleft() if self._peeked else self._text.readline(MAX_ROW_CHARS + 1)
        if not line:
            self.ran_out = True
            raise StopIteration
        self.number += 1
        if _UNDECODABLE in line:
            where = (
                f" (the first at byte offset {self._undecodable_offsets[0]:,} of the file)"
                if self._undecodable_offsets
                else ""
            )
            raise self.error(
                self.number,
                f"the line is not text: it contains bytes that are not valid "
                f"{self._encoding_label}{where}. {_FIX_ENCODING}",
            )
        if "\x00" in line:
            raise self.error(
                self.number,
                "the line contains NUL characters, so the file is not a text CSV file (a "
                "binary file, or text saved as UTF-16 without a byte order mark, looks like "
                f"this). {_FIX_ENCODING}",
            )
        self._row_chars += len(line)
        if self._row_chars > MAX_ROW_CHARS:
            raise self.error(
                self._row_start,
                f"the row is longer than {MAX_ROW_CHARS:,} characters, far longer than a "
                "device row. Check that every quote on this line is closed and that the file "
                "is a device CSV file.",
            )
        return line

    def error(self, line: int, problem: str) -> CsvFileError:
        return CsvFileError(f"{self.source}, line {line}: {problem}", source=self.source, line=line)


@dataclass(frozen=True)
class _Layout:
    """How the columns of a file map to fields: a field name, or None for ignored."""

    format: CsvFormat
    columns: tuple[str | None, ...]
    # Cells past a last "Error Message" column are that message cut at its
    # commas (the file was saved without quotes), ignored like it.
    ends_with_message: bool = False

    @cached_property
    def required(self) -> int:
        """Fields a device line must have: up to the last column that is neither
        optional in the format nor an ignored error column."""
        needed = [
            i
            for i, field in enumerate(self.columns)
            if field is not None and field not in self.format.optional
        ]
        return needed[-1] + 1 if needed else 0


def _cells(lines: _Lines, delimiter: str) -> list[str] | None:
    """The next row's cells as the csv module reads them (None at the end).

    A line without a quote is its cells split at the separator (the caller
    strips them, so the spaces the csv module would skip do not matter): the
    csv module parses in C but character by character, which for a row with
    a 4,000-character hash costs more than everything else done with it.
    A line with a quote goes to the csv module, which reads on into the next
    lines while a quoted value spans them."""
    line = next(lines, None)
    if line is None:
        return None
    if '"' not in line:
        return line.rstrip("\r\n").split(delimiter)
    # skipinitialspace reads `a, "b"` as two values, as people who type CSV mean.
    reader = csv.reader(chain((line,), lines), delimiter=delimiter, skipinitialspace=True)
    return next(reader, None)


def _parse(lines: _Lines, limits: _Limits) -> Iterator[DeviceRow]:
    delimiter = lines.delimiter()
    layout: _Layout | None = None
    header_line = 0
    rows = 0
    while True:
        line = lines.start_row()
        try:
            cells = _cells(lines, delimiter)
        except csv.Error as exc:
            raise lines.error(
                line, f"the row is not valid CSV ({exc}). Check the quotes and commas."
            ) from exc
        if cells is None:
            break
        if lines.ran_out:
            raise lines.error(
                line, "a quote opened on this row is never closed. Close it, or remove it."
            )
        fields_given = len(cells)
        cells = _trimmed(cells)
        if not cells or (
            len(cells) == 1
            and (cells[0].startswith(_POWERSHELL_TYPE_LINE) or _SEPARATOR_CELL.fullmatch(cells[0]))
        ):
            continue
        # The header again, or another accepted one, after files were
        # concatenated: it applies to the rows below it.
        found = _match_header(cells)
        if found is not None:
            layout, header_line = found, header_line or line
            continue
        if layout is None:
            raise lines.error(line, _unknown_header(cells))
        if len(cells) > len(layout.columns) and not layout.ends_with_message:
            raise lines.error(
                line,
                f"the row has {len(cells)} fields but the header has {len(layout.columns)}. "
                "Remove the extra values or quote fields that contain commas.",
            )
        if fields_given < layout.required:
            raise lines.error(
                line,
                f"the line has {fields_given} field{'' if fields_given == 1 else 's'} where the "
                f"header has {len(layout.columns)}: was a hardware hash split over two lines? "
                "Put each device on one line, with a value or an empty field for every column.",
            )
        limits.count_row(lines.source, line)
        rows += 1
        values: dict[str, str | None] = dict.fromkeys(FIELDS)
        for field, cell in zip(layout.columns, cells, strict=False):
            if field is not None:
                values[field] = restore(cell) or None
        serial = values["serial_number"]
        serial_problem = serial and implausible_serial_problem(serial)
        if serial_problem:
            raise lines.error(
                line,
                f"{serial_problem}. Was a hardware hash split over two lines, or are the "
                "columns in another order than the header says? Put each device on one line, "
                "its values in the header's order.",
            )
        yield DeviceRow(source=lines.source, line=line, format=layout.format, values=values)
    if layout is None:
        raise CsvFileError(
            f"{lines.source} contains no rows: the file is empty or only has blank lines. "
            "Upload a CSV file with a header line and one line per device.",
            source=lines.source,
        )
    if rows == 0:
        raise CsvFileError(
            f"{lines.source} contains no device rows, only the header (line {header_line}). "
            "Add one line per device below the header.",
            source=lines.source,
            line=header_line,
        )


def _trimmed(cells: list[str]) -> list[str]:
    """The cells without surrounding spaces, and without the empty ones at the end."""
    cells = [cell.strip() for cell in cells]
    while cells and not cells[-1]:
        cells.pop()
    return cells


def _header_name(cell: str) -> str:
    cell = cell.strip().strip(_HEADER_EDGE_CHARACTERS)
    return " ".join(cell.split()).casefold()


def _match_header(cells: list[str]) -> _Layout | None:
    # Every row passes through here: rule most of them out on the first cell.
    if _header_name(cells[0]) not in _FIRST_HEADER_NAMES:
        return None
    names = [_header_name(cell) for cell in cells]
    for fmt in FORMATS:
        columns = _match_columns(fmt, names)
        if columns is not None:
            return _Layout(fmt, columns, names[-1] == _header_name(ERROR_HEADER[-1]))
    return None


_FIRST_HEADER_NAMES = frozenset(_header_name(fmt.header[0]) for fmt in FORMATS)


def _header_delimiter(line: str) -> str:
    """The separator with which ``line`` reads as an accepted header; when none
    does, the one the line uses most (so the error shows its columns)."""
    for delimiter in _DELIMITERS:
        cells = _trimmed(next(csv.reader([line], delimiter=delimiter, skipinitialspace=True), []))
        if cells and _match_header(cells) is not None:
            return delimiter
    return max(_DELIMITERS, key=line.count)


def _match_columns(fmt: CsvFormat, names: list[str]) -> tuple[str | None, ...] | None:
    """The column fields when ``names`` is ``fmt``'s header (optional columns
    left out or not) followed by none, some or all of the error columns."""
    expected: list[tuple[str, str | None]] = list(zip(fmt.header, fmt.fields, strict=True))
    expected += [(label, None) for label in ERROR_HEADER]
    columns: list[str | None] = []
    for label, field in expected:
        if len(columns) < len(names) and names[len(columns)] == _header_name(label):
            columns.append(field)
        elif field is not None and field not in fmt.optional:
            return None
    return tuple(columns) if len(columns) == len(names) else None


def _unknown_header(cells: list[str]) -> str:
    found = ",".join(cells)
    if len(found) > 120:
        found = found[:120] + "..."
    accepted = "; ".join(_describe(fmt) for fmt in FORMATS)
    return (
        f"the header is not one we accept: {found!r}. The first line must be one of these "
        f"headers (any case): {accepted}. If the file has no header line, add one."
    )


def _describe(fmt: CsvFormat) -> str:
    """'A,B[,C]': the header with its optional columns in brackets."""
    text = ""
    for label, field in zip(fmt.header, fmt.fields, strict=True):
        text += f"[,{label}]" if field in fmt.optional else f",{label}"
    return text.removeprefix(",")


def _size(count: int) -> str:
    mib = 1024 * 1024
    if count >= mib:
        return f"{count / mib:,.0f} MiB" if count % mib == 0 else f"{count / mib:,.1f} MiB"
    return f"{count:,} bytes"
