"""Device bodies: JSON, or multipart/form-data carrying CSV files.

Orders and supplier catalogs both take either a JSON document with a
``devices`` list, or a form with one or more CSV files in the field ``file``
(a ``.zip`` of CSV files counts as several) plus the JSON document's other
fields. Either way the view gets one dict: the form/JSON fields, and
``rows``, a ``RowStream`` of ``RowInput`` that streams the files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

import marshmallow as ma
from flask import request
from werkzeug.exceptions import BadRequest

from partner_api import json_bodies
from partner_api.errors import ApiError, describe_validation
from tenants.ingest import csv_input
from tenants.ingest.device_rows import RowInput

FILE_FIELD = "file"


class RowStream:
    """Iterates over the submitted rows once, noting the formats they came in."""

    def __init__(self, rows: Iterable[RowInput], source_format: str | None = None) -> None:
        self._rows = rows
        self.formats: set[str] = {source_format} if source_format else set()

    @classmethod
    def from_csv(
        cls, uploads: list[csv_input.Upload], *, max_rows: int, max_bytes: int
    ) -> RowStream:
        stream = cls(())
        stream._rows = stream._read_csv(uploads, max_rows=max_rows, max_bytes=max_bytes)
        return stream

    def __iter__(self) -> Iterator[RowInput]:
        return iter(self._rows)

    def _read_csv(
        self, uploads: list[csv_input.Upload], *, max_rows: int, max_bytes: int
    ) -> Iterator[RowInput]:
        for row in csv_input.read_device_rows(uploads, max_rows=max_rows, max_bytes=max_bytes):
            self.formats.add(row.format.name)
            yield RowInput(values=row.values, line=row.line, source=row.source)

    @property
    def source_format(self) -> str:
        """The single format every row came in, or ``mixed``."""
        return next(iter(self.formats)) if len(self.formats) == 1 else "mixed"


def multipart_schema(form_schema: type[ma.Schema]) -> dict:
    """The OpenAPI schema of the multipart variant of a body."""
    properties: dict[str, dict] = {
        FILE_FIELD: {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "description": (
                "One or more CSV files (repeat the field), or a .zip of CSV files. "
                "Headers: `Manufacturer,Model,Serial Number,Hardware Hash`; "
                "`Device Serial Number,Windows Product ID,Hardware Hash[,Group Tag]"
                "[,Assigned User]`; or `Device Serial Number,Windows Product ID,Hardware Hash,"
                "Manufacturer name,Device model`. UTF-8 (with or without BOM) or UTF-16 with BOM."
            ),
        }
    }
    for name, field in form_schema().fields.items():
        properties[name] = {"type": "string", **field.metadata}
    return {"type": "object", "required": [FILE_FIELD], "properties": properties}


def request_fingerprint() -> str:
    """A digest of what the request asks for, the same however it is encoded:
    path and query, then the canonical JSON, or the form fields and each
    file's name and bytes (multipart boundaries differ between retries)."""
    digest = hashlib.sha256()
    digest.update(
        f"{request.method} {request.path}?{sorted(request.args.items(multi=True))}".encode()
    )
    if request.mimetype == "multipart/form-data":
        digest.update(json.dumps(sorted(request.form.items(multi=True))).encode())
        for storage in request.files.getlist(FILE_FIELD):
            digest.update(f"\0{storage.filename}\0".encode())
            stream = storage.stream
            while block := stream.read(1 << 20):
                digest.update(block)
            stream.seek(0)  # the rows are read from the start afterwards
    else:
        payload = request.get_json(silent=True)
        digest.update(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()


def parse_device_body(
    json_schema: type[ma.Schema], form_schema: type[ma.Schema], *, max_rows: int, max_bytes: int
) -> dict:
    """Read the request body as JSON or as a form with CSV files."""
    if request.mimetype == "multipart/form-data":
        return _parse_form(form_schema, max_rows=max_rows, max_bytes=max_bytes)
    if request.is_json:
        return _parse_json(json_schema)
    raise ApiError(
        415,
        "unsupported_media_type",
        f"Send the devices as JSON (Content-Type: application/json) or as CSV files in the "
        f"form field '{FILE_FIELD}' (Content-Type: multipart/form-data); got "
        f"{request.mimetype or 'no content type'}.",
    )


def _load(schema: ma.Schema, data: Any, location: str) -> dict:
    """``data`` is whatever the client sent: the schema judges it."""
    try:
        return schema.load(data)
    except ma.ValidationError as exc:
        errors = {location: exc.messages}
        raise ApiError(
            422, "validation_failed", describe_validation(errors), errors=errors
        ) from exc


def _parse_json(json_schema: type[ma.Schema]) -> dict:
    try:
        payload = request.get_json()
    except BadRequest as exc:
        raise ApiError(
            400,
            "bad_request",
            f"The request body is not valid JSON. {json_bodies.describe(exc)}",
        ) from exc
    body = _load(json_schema(), payload, "json")
    devices = body.pop("devices")
    body["rows"] = RowStream(
        (RowInput(values=d, line=i + 1) for i, d in enumerate(devices)), "json"
    )
    return body


def _parse_form(form_schema: type[ma.Schema], *, max_rows: int, max_bytes: int) -> dict:
    strays = sorted(set(request.files) - {FILE_FIELD})
    if strays:
        raise ApiError(
            422,
            "validation_failed",
            f"Unexpected file field {strays[0]!r}: attach every CSV file in the field "
            f"'{FILE_FIELD}' (repeat it for several files).",
            errors={"files": {strays[0]: ["Unknown field."]}},
        )
    files = [f for f in request.files.getlist(FILE_FIELD) if f.filename or f.content_length]
    if not files:
        raise ApiError(
            422,
            "validation_failed",
            f"No file was attached: put the CSV file (or a .zip of CSV files) in the form "
            f"field '{FILE_FIELD}'.",
            errors={"files": {FILE_FIELD: ["Missing data for required field."]}},
        )
    body = _load(form_schema(), request.form.to_dict(), "form")
    uploads = [
        csv_input.Upload(name=f.filename or f"upload-{n + 1}.csv", stream=f.stream)
        for n, f in enumerate(files)
    ]
    body["rows"] = RowStream.from_csv(uploads, max_rows=max_rows, max_bytes=max_bytes)
    return body
