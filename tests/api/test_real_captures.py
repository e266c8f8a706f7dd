"""Files as real PCs and people produce them, end to end: captures of several
vendors and virtual machines (several display adapters, placeholder serial
numbers), damaged copies, European Excel files and hand-edited lines."""

from __future__ import annotations

import base64
import uuid

from tenants.ingest.hardware_hash import build_hardware_hash
from tests.csv_files import CSV_HEADERS, encode_csv
from tests.factories import unique
from tests.http import assert_problem, order_path, rows_of, upload, wait_for_order


def captures() -> list[dict]:
    """One capture per kind of machine partners meet, each with its own serial."""
    tag = uuid.uuid4().hex[:8].upper()
    return [
        {
            "manufacturer": "LENOVO",
            "model": "21HD003KMX",
            "serial": f"PF{tag}",
            "display_adapters": (
                "Intel Corporation|Intel(R) Graphics",
                "NVIDIA|NVIDIA RTX 500 Ada Generation Laptop GPU",
            ),
            "smbios_uuid": uuid.uuid4(),
        },
        {
            "manufacturer": "HP",
            "model": "HP EliteBook 840 G10 Notebook PC",
            "serial": f"5CG{tag}",
            "display_adapters": ("Intel Corporation|Intel(R) Iris(R) Xe Graphics",),
            "smbios_uuid": uuid.uuid4(),
        },
        {
            "manufacturer": "VMware, Inc.",
            "model": "VMware7,1",
            "serial": f"VMware-56 4d {tag[:2]} 9f 8e 1c 2b 3a-6d 5e 4f 3a 2b 1c 0d {tag[2:4]}",
            "display_adapters": ("VMware, Inc.|VMware SVGA 3D",),
            "smbios_uuid": uuid.uuid4(),
        },
        # Two QEMU machines whose firmware fills in no serial number.
        {
            "manufacturer": "QEMU",
            "model": "Standard PC (Q35 + ICH9, 2009)",
            "serial": "SMBIOS_STRING_INDEX_0",
            "display_adapters": ("Red Hat, Inc.|Red Hat QXL controller",),
            "smbios_uuid": uuid.uuid4(),
        },
        {
            "manufacturer": "QEMU",
            "model": "Standard PC (Q35 + ICH9, 2009)",
            "serial": "SMBIOS_STRING_INDEX_0",
            "display_adapters": ("Red Hat, Inc.|Red Hat QXL controller",),
            "smbios_uuid": uuid.uuid4(),
        },
        {
            "manufacturer": "innotek GmbH",
            "model": "VirtualBox",
            "serial": "0",
            "display_adapters": (),
            "smbios_uuid": uuid.uuid4(),
        },
    ]


def capture_hash(device: dict) -> str:
    return build_hardware_hash(
        device["manufacturer"],
        device["model"],
        device["serial"],
        display_adapters=device["display_adapters"],
        smbios_uuid=device["smbios_uuid"],
    )


def test_captures_of_every_kind_register_as_the_devices_their_hashes_describe(
    api, pair, run_worker
):
    partner, tenant = pair
    devices = captures()
    # What Get-WindowsAutoPilotInfo writes: quoted, with an empty product ID.
    lines = [list(CSV_HEADERS["collection_script"][:3])]
    lines += [[d["serial"], "", capture_hash(d)] for d in devices]

    response = upload(
        api, order_path(tenant), partner.token, [("hwid.csv", encode_csv(lines, quoted=True))]
    )
    assert response.status_code == 202, response.text
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)

    rows = rows_of(api, partner.token, order)
    assert order["status"] == "completed", rows
    assert [(r["manufacturer"], r["model"], r["serial_number"], r["state"]) for r in rows] == [
        (d["manufacturer"], d["model"], d["serial"], "ready_for_user") for d in devices
    ]
    listed = api.get("/v1/customer/devices?page_size=100", token=tenant.token).json()
    assert sum(1 for d in listed if d["serial_number"] == "SMBIOS_STRING_INDEX_0") == 2


def test_support_finds_a_placeholder_serial_machine_by_its_smbios_uuid(
    api, world, pair, run_worker
):
    partner, tenant = pair
    vm = captures()[3]
    data = encode_csv(
        [list(CSV_HEADERS["collection_script"][:3]), [vm["serial"], "", capture_hash(vm)]]
    )
    response = upload(api, order_path(tenant), partner.token, [("vm.csv", data)])
    wait_for_order(api, partner.token, response.headers["Location"], run_worker)

    found = api.get(
        f"/v1/support/devices?serial_number={str(vm['smbios_uuid']).upper()}",
        token=world.support().token,
    )

    assert found.status_code == 200, found.text
    assert str(tenant.id) in found.text


def test_the_same_virtual_machine_captured_twice_is_still_one_device(api, pair, run_worker):
    partner, tenant = pair
    vm = captures()[3]
    data = encode_csv(
        [list(CSV_HEADERS["collection_script"][:3]), [vm["serial"], "", capture_hash(vm)]]
    )

    first = upload(api, order_path(tenant), partner.token, [("a.csv", data)])
    wait_for_order(api, partner.token, first.headers["Location"], run_worker)
    again = upload(api, order_path(tenant), partner.token, [("b.csv", data)])
    order = wait_for_order(api, partner.token, again.headers["Location"], run_worker)

    (row,) = rows_of(api, partner.token, order)
    assert row["error_code"] == "device_already_registered"


def test_a_machine_with_neither_serial_nor_uuid_is_refused_saying_what_to_set(
    api, pair, run_worker
):
    partner, tenant = pair
    text = build_hardware_hash("QEMU", "Standard PC (i440FX + PIIX, 1996)", "Default string")
    data = encode_csv([list(CSV_HEADERS["collection_script"][:3]), ["Default string", "", text]])

    response = upload(api, order_path(tenant), partner.token, [("vm.csv", data)])
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)

    (row,) = rows_of(api, partner.token, order)
    assert row["error_code"] == "hardware_hash_invalid"
    assert 'reports the placeholder "Default string" as the serial number' in row["message"]
    assert (
        "set a serial number in the virtual machine's or the firmware's settings"
        in (row["message"])
    )


def test_a_tuple_row_with_a_placeholder_serial_is_refused_asking_for_the_hash(
    api, pair, run_worker
):
    partner, tenant = pair
    data = encode_csv(
        [list(CSV_HEADERS["partner"]), ["To be filled by O.E.M.", "", "", "ASUS", "PN50"]]
    )

    response = upload(api, order_path(tenant), partner.token, [("t.csv", data)])
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)

    (row,) = rows_of(api, partner.token, order)
    assert row["error_code"] == "device_not_found"
    assert "is a firmware placeholder" in row["message"]
    assert "Give the device's hardware hash instead" in row["message"]


def test_cut_short_and_altered_hashes_fail_saying_what_happened(api, pair, run_worker):
    partner, tenant = pair
    devices = captures()[:3]
    texts = [capture_hash(d) for d in devices]
    altered = bytearray(base64.b64decode(texts[2]))
    altered[200] ^= 0x20
    damaged = [
        texts[0][:2000],
        texts[1][:3999],
        base64.b64encode(bytes(altered)).decode(),
    ]
    lines = [list(CSV_HEADERS["collection_script"][:3])]
    lines += [[d["serial"], "", t] for d, t in zip(devices, damaged, strict=True)]

    response = upload(api, order_path(tenant), partner.token, [("cut.csv", encode_csv(lines))])
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)

    rows = rows_of(api, partner.token, order)
    assert [r["error_code"] for r in rows] == ["hardware_hash_invalid"] * 3
    assert "it is cut short: it has 1,500 of 3,000 bytes; copy it again" in rows[0]["message"]
    assert "it is cut short: it has 2,999 of 3,000 bytes" in rows[1]["message"]
    assert "it was altered after capture" in rows[2]["message"]
    assert order["status"] == "failed"


def test_a_european_excel_file_registers_like_its_utf8_original(api, world, run_worker):
    """Semicolons, Windows-1252, no byte order mark: what Excel in a German,
    Dutch or Swedish locale saves as "CSV (semicolon separated)"."""
    partner = world.partner()
    tenants = [world.tenant(), world.tenant()]
    for tenant in tenants:
        world.approved(partner, tenant)
    header = list(CSV_HEADERS["partner"])
    rows = []
    for model in ("Lifebook Ü7 Ärende", "Modèle Été; 14"):
        serial = unique("SN")
        text = build_hardware_hash("Société Générale", model, serial)
        rows.append([serial, "", text, "Société Générale", model])
    original = encode_csv([header, *rows], quoted=True)
    excel = encode_csv([header, *rows], delimiter=";", encoding="cp1252")
    assert not excel.startswith(b"\xef\xbb\xbf")

    outcomes = []
    for tenant, data in zip(tenants, (original, excel), strict=True):
        # The same devices: the first tenant releases them before the second registers.
        response = upload(api, order_path(tenant), partner.token, [("devices.csv", data)])
        assert response.status_code == 202, response.text
        order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)
        registered = rows_of(api, partner.token, order)
        outcomes.append(
            [(r["manufacturer"], r["model"], r["serial_number"], r["state"]) for r in registered]
        )
        for r in registered:
            api.delete(f"/v1/customer/devices/{r['id']}", token=tenant.token)

    assert outcomes[0] == outcomes[1]
    assert [state for *_, state in outcomes[1]] == ["ready_for_user", "ready_for_user"]
    assert outcomes[1][0][1] == "Lifebook Ü7 Ärende"


def test_a_hash_split_over_two_lines_stores_nothing_and_names_the_line(api, pair):
    partner, tenant = pair
    serial = unique("SN")
    text = build_hardware_hash("Contoso", "Laptop 7", serial)
    data = encode_csv(
        [
            list(CSV_HEADERS["collection_script"][:3]),
            [serial, "", text[:2000]],
            [text[2000:]],
        ]
    )
    before = api.get("/v1/partner/orders", token=partner.token).json()

    response = upload(api, order_path(tenant), partner.token, [("edited.csv", data)])

    body = assert_problem(response, 422, "csv_invalid")
    assert "line 3" in body["detail"]
    assert "was a hardware hash split over two lines?" in body["detail"]
    assert api.get("/v1/partner/orders", token=partner.token).json() == before
