"""JSON logs, one line per event, stamped with request_id, principal and job_id.

The API binds request_id/principal per request, the worker binds job_id and the
request_id that created the job; every logger in the process picks them up.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime

_context: ContextVar[dict[str, str] | None] = ContextVar("log_context", default=None)

_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()) | {
    "message",
    "asctime",
}


def bind(**values: str | None) -> None:
    """Add values to the current context (a request or a job)."""
    current = dict(_context.get() or {})
    current.update({k: v for k, v in values.items() if v is not None})
    _context.set(current)


@contextlib.contextmanager
def bound(**values: str | None) -> Iterator[None]:
    token = _context.set(
        {**(_context.get() or {}), **{k: v for k, v in values.items() if v is not None}}
    )
    try:
        yield
    finally:
        _context.reset(token)


def clear() -> None:
    _context.set({})


def context() -> dict[str, str]:
    return dict(_context.get() or {})


# Never in a log line: access tokens (JWTs), secrets, whole hardware hashes.
_JWT = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")
_LONG_BASE64 = re.compile(r"[A-Za-z0-9+/=]{200,}")
_SECRET_KEYS = re.compile(r"secret|password|token|authorization", re.IGNORECASE)


def redact(value: object, key: str = "") -> object:
    if isinstance(value, str):
        if key and _SECRET_KEYS.search(key):
            return "[redacted]"
        value = _JWT.sub("[token]", value)
        return _LONG_BASE64.sub(lambda m: f"{m.group(0)[:12]}…[{len(m.group(0))} chars]", value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, key) for v in value]
    return value


_base_record_factory = logging.getLogRecordFactory()


def _record_with_context(*args, **kwargs) -> logging.LogRecord:
    # Stamped when the event happens, not when a handler formats it later.
    record = _base_record_factory(*args, **kwargs)
    record.context = dict(_context.get() or {})
    return record


logging.setLogRecordFactory(_record_with_context)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update(getattr(record, "context", None) or {})
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key != "context" and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(redact(entry), default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Python's warnings (deprecations in libraries) as log lines too, not raw text.
    logging.captureWarnings(True)
    # Werkzeug's access log duplicates our request line.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
