"""Migrations carry the data stored before them."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

from sqlalchemy import create_engine, text

from tenants.ingest.hardware_hash import (
    build_hardware_hash,
    compact,
    identity_key,
    uuid_identity_key,
)
from tenants.migrate import upgrade


def _stored(manufacturer: str, serial: str, smbios_uuid: uuid.UUID | None) -> tuple[bytes, int]:
    raw = base64.b64decode(build_hardware_hash(manufacturer, "VM", serial, smbios_uuid=smbios_uuid))
    return compact(raw), len(raw)


def test_placeholder_serial_devices_are_identified_by_their_smbios_uuid(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    upgrade(url, "0006")
    engine = create_engine(url)
    now = datetime.now(UTC)
    vm_uuid = uuid.uuid4()
    devices = {
        # (serial, uuid): a VM merged under its placeholder, a real PC, a VM without a UUID
        "vm": ("SMBIOS_STRING_INDEX_0", vm_uuid),
        "pc": ("PF12345", uuid.uuid4()),
        "bare": ("Default string", None),
    }
    tenant_id, order_id = uuid.uuid4(), uuid.uuid4()
    ids = {name: uuid.uuid4() for name in devices}
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO tenants (id, name, created_at) VALUES (:id, 'T', :now)"),
            {"id": tenant_id.hex, "now": now},
        )
        connection.execute(
            text(
                "INSERT INTO orders (id, tenant_id, request_id, status, source_format, row_count, "
                "created_at) "
                "VALUES (:id, :t, 'r', 'completed', 'csv', 3, :now)"
            ),
            {"id": order_id.hex, "t": tenant_id.hex, "now": now},
        )
        for index, (name, (serial, smbios_uuid)) in enumerate(devices.items()):
            blob, length = _stored("QEMU", serial, smbios_uuid)
            connection.execute(
                text(
                    "INSERT INTO registrations (id, tenant_id, order_pk, request_id, line_index, "
                    "line, manufacturer, model, serial_number, hardware_hash, "
                    "hardware_hash_length, identity_key, state, created_at, updated_at) "
                    "VALUES (:id, :t, :o, 'r', :index, 1, 'QEMU', 'VM', :serial, :blob, :length, "
                    ":key, 'ready_for_user', :now, :now)"
                ),
                {
                    "id": ids[name].hex,
                    "t": tenant_id.hex,
                    "o": order_id.hex,
                    "index": index,
                    "serial": serial,
                    "blob": blob,
                    "length": length,
                    "key": identity_key("QEMU", serial),
                    "now": now,
                },
            )
            connection.execute(
                text(
                    "INSERT INTO device_claims (identity_key, tenant_id, registration_id, "
                    "claimed_at) VALUES (:key, :t, :r, :now)"
                ),
                {
                    "key": identity_key("QEMU", serial),
                    "t": tenant_id.hex,
                    "r": ids[name].hex,
                    "now": now,
                },
            )

    upgrade(url)

    with engine.connect() as connection:
        keys = dict(connection.execute(text("SELECT id, identity_key FROM registrations")).all())
        claims = set(connection.scalars(text("SELECT identity_key FROM device_claims")))
        columns = {row[1] for row in connection.execute(text("PRAGMA table_info(tenants)"))}
    engine.dispose()
    assert keys[ids["vm"].hex] == uuid_identity_key("QEMU", str(vm_uuid))
    assert keys[ids["pc"].hex] == identity_key("QEMU", "PF12345")
    assert keys[ids["bare"].hex] == identity_key("QEMU", "Default string")
    assert claims == set(keys.values())
    assert "group_tags" in columns
