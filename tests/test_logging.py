"""Log lines never carry a token, a secret or a whole hardware hash."""

from __future__ import annotations

import json
import logging

from config.logging import JsonFormatter
from tenants.ingest.hardware_hash import build_hardware_hash


def format_line(message: str, **extra) -> dict:
    record = logging.getLogger("test").makeRecord(
        "test", logging.INFO, __file__, 1, message, (), None, extra=extra
    )
    return json.loads(JsonFormatter().format(record))


def test_tokens_secrets_and_hashes_are_redacted():
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwYV94eHgiLCJleHAiOjF9.c2lnbmF0dXJlc2lnbmF0dXJl"
    hardware_hash = build_hardware_hash("Contoso", "Laptop 7", "SN-1")

    line = format_line(
        f"got Bearer {token} for row with {hardware_hash}",
        client_secret="s3cr3t-value",
        headers={"Authorization": f"Bearer {token}"},
        serial_number="SN-1",
    )

    text = json.dumps(line)
    assert token not in text and "s3cr3t-value" not in text
    assert hardware_hash not in text
    assert "[token]" in line["event"] and hardware_hash[:12] in line["event"]
    assert line["client_secret"] == "[redacted]"
    assert line["headers"]["Authorization"] == "[redacted]"
    assert line["serial_number"] == "SN-1"
