"""Domain errors: raised by tenants/, turned into problem JSON at the HTTP edge.

The domain never speaks HTTP; each error carries a stable machine code and a
message a person can act on. The edge maps the class to a status.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""

    code = "domain_error"

    def __init__(
        self, message: str, *, code: str | None = None, details: dict | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        # Machine-readable facts the caller acts on (e.g. the state that won a race).
        self.details = details or {}


class InputError(DomainError):
    """The caller's input cannot be used as it is (maps to 422)."""

    code = "invalid_input"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.file = file
        self.line = line
        self.field = field

    def location(self) -> str:
        """'orders.csv, line 12' style prefix, empty when nothing is known."""
        parts = []
        if self.file:
            parts.append(self.file)
        if self.line is not None:
            parts.append(f"line {self.line}")
        return ", ".join(parts)


class CsvFileError(InputError):
    """A file cannot be read as device rows (tenants/ingest/csv_input.py). The
    message names the file, the line (when there is one) and what to fix."""

    code = "csv_invalid"

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        field: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code, file=source, line=line, field=field)

    @property
    def source(self) -> str | None:
        """The file, named as its device rows name it ("orders.zip/PC1.csv")."""
        return self.file


class UploadTooLarge(CsvFileError):
    """The upload has more rows or bytes than one order takes."""

    code = "upload_too_large"


class NotFound(DomainError):
    """The object does not exist, or is not visible in the current scope (404)."""

    code = "not_found"


class Forbidden(DomainError):
    """The principal may not do this (403)."""

    code = "forbidden"


class Conflict(DomainError):
    """The request conflicts with the current state (409)."""

    code = "conflict"


class RetryLater(DomainError):
    """The same request is refused for a while; ``retry_after`` says how long
    in seconds (429)."""

    code = "retry_later"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = max(1, retry_after)
