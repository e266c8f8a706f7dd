"""Device CSV files as the collection tools, portals and spreadsheets write
them (SPEC section 3): the layouts, and one encoder for every encoding, line
ending, separator and quoting the tests send."""

from __future__ import annotations

import codecs
import io
import zipfile

# The header of each layout, as the tools write it.
CSV_HEADERS = {
    "self_registration": ("Manufacturer", "Model", "Serial Number", "Hardware Hash"),
    "collection_script": (
        "Device Serial Number",
        "Windows Product ID",
        "Hardware Hash",
        "Group Tag",
        "Assigned User",
    ),
    "partner": (
        "Device Serial Number",
        "Windows Product ID",
        "Hardware Hash",
        "Manufacturer name",
        "Device model",
    ),
}

# Encodings ``encode_csv`` writes besides Python's own names: UTF-16 with a
# byte order mark (``utf-16-le-bom`` is what Windows PowerShell 5.1's Out-File
# writes).
_BOM_ENCODINGS = {
    "utf-16-le-bom": (codecs.BOM_UTF16_LE, "utf-16-le"),
    "utf-16-be-bom": (codecs.BOM_UTF16_BE, "utf-16-be"),
}


def csv_row(
    fmt: str,
    *,
    serial: str,
    manufacturer: str = "Contoso",
    model: str = "Laptop 7",
    hardware_hash: str = "",
    product_id: str = "",
    group_tag: str = "",
    user: str = "",
) -> list[str]:
    """One line of layout ``fmt``, cells in the header's order."""
    if fmt == "self_registration":
        return [manufacturer, model, serial, hardware_hash]
    if fmt == "collection_script":
        return [serial, product_id, hardware_hash, group_tag, user]
    return [serial, product_id, hardware_hash, manufacturer, model]


def encode_csv(
    lines: list[list[str] | tuple[str, ...] | str],
    *,
    encoding: str = "utf-8",
    newline: str = "\r\n",
    delimiter: str = ",",
    quoted: bool = False,
) -> bytes:
    """Lines (lists of cells, or raw text taken as it is) as the bytes of a CSV file.

    ``encoding`` is any Python codec (``utf-8``, ``utf-8-sig``, ``cp1252`` as
    European Excel saves, ...) or ``utf-16-le-bom`` / ``utf-16-be-bom``.
    With ``quoted`` every cell is quoted; otherwise cells are written as they
    are (a comma in a cell then splits it), except that with another
    ``delimiter`` (European Excel's semicolon, a tab) a cell holding it is
    quoted, as Excel does.
    """
    rendered = []
    for line in lines:
        if isinstance(line, str):
            rendered.append(line)
        else:
            rendered.append(delimiter.join(_cell(cell, delimiter, quoted) for cell in line))
    text = newline.join(rendered) + newline
    if encoding in _BOM_ENCODINGS:
        bom, codec = _BOM_ENCODINGS[encoding]
        return bom + text.encode(codec)
    return text.encode(encoding)


def _cell(cell: str, delimiter: str, quoted: bool) -> str:
    if quoted or (delimiter != "," and delimiter in cell):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def zip_bytes(members: dict[str, bytes]) -> bytes:
    """A ZIP archive of the named members (deflated), as bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()
