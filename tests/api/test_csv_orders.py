"""CSV orders through HTTP and a real worker: every header format in every
encoding, line ending and quoting; several files and zips in one upload;
file-level errors; dry runs; the failed rows as a CSV to fix and resubmit."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tenants import db
from tenants.ingest import group_tags
from tenants.ingest.hardware_hash import build_hardware_hash
from tests.csv_files import CSV_HEADERS, csv_row, encode_csv, zip_bytes
from tests.factories import unique
from tests.http import assert_problem, order_path, rows_of, upload, wait_for_order

FORMATS = tuple(CSV_HEADERS)
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16-le-bom")


def hashed_row(fmt: str, serial: str, **extra) -> list[str]:
    return csv_row(
        fmt,
        serial=serial,
        hardware_hash=build_hardware_hash("Contoso", "Laptop 7", serial),
        **extra,
    )


@pytest.mark.parametrize("quoted", [False, True], ids=["unquoted", "quoted"])
@pytest.mark.parametrize("newline", ["\r\n", "\n"], ids=["crlf", "lf"])
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_encoding_newline_and_quoting_registers(
    api, pair, run_worker, fmt, encoding, newline, quoted
):
    partner, tenant = pair
    serials = [unique("SN"), unique("SN")]
    header = list(CSV_HEADERS[fmt])
    lines = [
        header,
        hashed_row(fmt, serials[0]),
        "",  # a blank line
        hashed_row(fmt, serials[1]) + [""],  # a trailing comma
    ]
    data = encode_csv(lines, encoding=encoding, newline=newline, quoted=quoted)

    response = upload(
        api, order_path(tenant), partner.token, [("devices.csv", data)], order_id="O1"
    )

    assert response.status_code == 202, response.text
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)
    assert order["status"] == "completed"
    assert order["order_id"] == "O1"
    rows = rows_of(api, partner.token, order)
    assert [(r["serial_number"], r["line"], r["source"], r["state"]) for r in rows] == [
        (serials[0], 2, "devices.csv", "ready_for_user"),
        (serials[1], 4, "devices.csv", "ready_for_user"),
    ]
    assert {r["manufacturer"] for r in rows} == {"Contoso"}


def test_repeated_header_several_files_and_a_zip_in_one_upload(api, pair, run_worker):
    partner, tenant = pair
    serials = [unique("SN") for _ in range(6)]
    fmt = "collection_script"
    header = list(CSV_HEADERS[fmt])
    # Two files naively concatenated: the header comes again on line 3.
    merged = encode_csv(
        [header, hashed_row(fmt, serials[0]), header, hashed_row(fmt, serials[1])],
        encoding="utf-16-le-bom",
    )
    partner_file = encode_csv(
        [list(CSV_HEADERS["partner"]), hashed_row("partner", serials[2])], newline="\n"
    )
    archive = zip_bytes(
        {
            "PC-A.csv": encode_csv([header, hashed_row(fmt, serials[3])]),
            "PC-B.csv": encode_csv([header, hashed_row(fmt, serials[4])], encoding="utf-8-sig"),
            "nested/PC-C.csv": encode_csv([header, hashed_row(fmt, serials[5])], quoted=True),
        }
    )

    response = upload(
        api,
        order_path(tenant),
        partner.token,
        [("merged.csv", merged), ("partner.csv", partner_file), ("pcs.zip", archive)],
    )

    assert response.status_code == 202, response.text
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)
    assert order["counts"]["by_state"] == {"ready_for_user": 6}
    rows = rows_of(api, partner.token, order)
    assert [(r["source"], r["line"], r["serial_number"]) for r in rows] == [
        ("merged.csv", 2, serials[0]),
        ("merged.csv", 4, serials[1]),
        ("partner.csv", 2, serials[2]),
        ("pcs.zip/PC-A.csv", 2, serials[3]),
        ("pcs.zip/PC-B.csv", 2, serials[4]),
        ("pcs.zip/nested/PC-C.csv", 2, serials[5]),
    ]


def test_customer_self_registers_from_a_powershell_file(api, world, run_worker):
    tenant = world.tenant()
    serial = unique("SN")
    fmt = "collection_script"
    data = encode_csv(
        [list(CSV_HEADERS[fmt]), hashed_row(fmt, serial, group_tag="Microsoft365Managed_Standard")],
        encoding="utf-16-le-bom",
    )

    response = upload(api, "/v1/customer/orders", tenant.token, [("AutopilotHWID.csv", data)])

    assert response.status_code == 202, response.text
    order = wait_for_order(api, tenant.token, response.headers["Location"], run_worker)
    assert order["status"] == "completed"
    assert order["partner_id"] is None
    devices = api.get(f"/v1/customer/devices?serial_number={serial}", token=tenant.token).json()
    assert [(d["state"], d["group_tag"]) for d in devices] == [
        ("ready_for_user", "Microsoft365Managed_Standard")
    ]


def test_self_registration_row_without_hash_is_rejected(api, world, run_worker):
    tenant = world.tenant()
    data = encode_csv([CSV_HEADERS["self_registration"], ["Contoso", "Laptop 7", unique("SN"), ""]])

    response = upload(api, "/v1/customer/orders", tenant.token, [("d.csv", data)])

    order = wait_for_order(api, tenant.token, response.headers["Location"], run_worker)
    [row] = api.get(f"/v1/customer/orders/{order['id']}/registrations", token=tenant.token).json()
    assert row["error_code"] == "hardware_hash_invalid"
    assert "Get-WindowsAutopilotInfo" in row["message"]


# --- every outcome, from a CSV file ---------------------------------------------------------


def test_every_row_outcome_from_one_file(api, world, pair, run_worker):
    partner, tenant = pair
    other_partner, other_tenant = world.partner(), world.tenant()
    world.approved(other_partner, other_tenant)
    fmt = "partner"
    owned_here, owned_elsewhere, dup, fresh = (unique("SN") for _ in range(4))
    captured = datetime(2026, 1, 5, tzinfo=UTC)
    for owner, who, serial in (
        (partner, tenant, owned_here),
        (other_partner, other_tenant, owned_elsewhere),
    ):
        data = encode_csv(
            [
                CSV_HEADERS[fmt],
                csv_row(
                    fmt,
                    serial=serial,
                    hardware_hash=build_hardware_hash(
                        "Contoso", "Laptop 7", serial, captured_at=captured
                    ),
                ),
            ]
        )
        first = upload(api, order_path(who), owner.token, [("first.csv", data)])
        wait_for_order(api, owner.token, first.headers["Location"], run_worker)

    # Recaptured hashes: the same PCs, a month later.
    later = captured + timedelta(days=30)

    def recaptured(serial: str) -> str:
        return build_hardware_hash("Contoso", "Laptop 7", serial, captured_at=later)

    lines = [
        CSV_HEADERS[fmt],
        csv_row(fmt, serial=fresh, hardware_hash=recaptured(fresh)),  # 2: registered
        csv_row(fmt, serial=owned_here, hardware_hash=recaptured(owned_here)),  # 3
        csv_row(fmt, serial=owned_elsewhere, hardware_hash=recaptured(owned_elsewhere)),  # 4
        csv_row(fmt, serial=dup, hardware_hash=recaptured(dup)),  # 5
        csv_row(fmt, serial=dup, hardware_hash=recaptured(dup)),  # 6: duplicate
        csv_row(fmt, serial="X1", hardware_hash="bm90IGEgaGFzaA=="),  # 7: not a hash
        csv_row(fmt, serial=unique("SN"), manufacturer="Fabrikam", model="Tower 9"),  # 8
        csv_row(fmt, serial="000000000000", manufacturer="SpiralOrbit", model="ContosoABC"),  # 9
        csv_row(fmt, serial="OTHER-SERIAL", hardware_hash=recaptured(unique("SN"))),  # 10
    ]
    response = upload(api, order_path(tenant), partner.token, [("order.csv", encode_csv(lines))])
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)

    rows = {r["line"]: r for r in rows_of(api, partner.token, order)}
    assert {line: (r["state"], r["error_code"]) for line, r in rows.items()} == {
        2: ("ready_for_user", None),
        3: ("registration_failed", "device_already_registered"),
        4: ("registration_failed", "device_claimed_by_another_organization"),
        5: ("ready_for_user", None),
        6: ("registration_failed", "duplicate_in_order"),
        7: ("registration_failed", "hardware_hash_invalid"),
        8: ("registration_failed", "device_not_found"),
        9: ("registration_failed", "device_not_found"),
        10: ("registration_failed", "device_not_found"),
    }
    assert order["status"] == "completed_with_errors"
    assert rows[7]["message"].startswith("The hardware hash provided for this device is not")
    assert "sample" in rows[9]["message"]
    assert "serial number" in rows[10]["message"] and "OTHER-SERIAL" in rows[10]["message"]
    assert str(other_tenant.id) not in str(rows)
    # Nothing about the other tenant's device leaked into this tenant's list.
    serials = {
        d["serial_number"]
        for d in api.get(
            "/v1/customer/devices?page_size=100&state=ready_for_user", token=tenant.token
        ).json()
    }
    assert serials == {owned_here, fresh, dup}


def test_real_group_tags_register_by_default_as_given(api, pair, run_worker):
    partner, tenant = pair
    fmt = "collection_script"
    tags = ["SP001_STD01", "microsoft365managed_standard", "Sales – Malmö (EMEA) 2", "x" * 128]
    data = encode_csv(
        [CSV_HEADERS[fmt], *(hashed_row(fmt, unique("SN"), group_tag=t) for t in tags)]
    )

    response = upload(api, order_path(tenant), partner.token, [("tags.csv", data)])
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)

    rows = rows_of(api, partner.token, order)
    assert [(r["state"], r["group_tag"]) for r in rows] == [("ready_for_user", t) for t in tags]


def test_group_tags_that_cannot_be_tags_are_refused_with_the_reason(api, pair, run_worker):
    partner, tenant = pair
    fmt = "collection_script"
    data = encode_csv(
        [
            CSV_HEADERS[fmt],
            hashed_row(fmt, unique("SN"), group_tag="x" * 129),
            hashed_row(fmt, unique("SN"), group_tag="Sales\x07Team"),
        ]
    )

    response = upload(api, order_path(tenant), partner.token, [("tags.csv", data)])
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)

    too_long, unprintable = rows_of(api, partner.token, order)
    assert too_long["error_code"] == "group_tag_invalid"
    assert "129 characters long; at most 128" in too_long["message"]
    assert unprintable["error_code"] == "group_tag_invalid"
    assert "not printable" in unprintable["message"]


def test_a_tenant_held_to_a_strict_list_refuses_other_tags_naming_the_allowed_ones(
    api, pair, run_worker
):
    partner, tenant = pair
    with db.transaction() as session:
        group_tags.set_allowed_tags(session, tenant.id, group_tags.MANAGED_DESKTOP_TAGS)
    fmt = "collection_script"
    data = encode_csv(
        [
            CSV_HEADERS[fmt],
            hashed_row(fmt, unique("SN"), group_tag="microsoft365managed_standard"),
            hashed_row(fmt, unique("SN"), group_tag="Microsoft365Managed_PowerUser"),
            hashed_row(fmt, unique("SN"), group_tag="SP001_STD01"),
        ]
    )

    response = upload(api, order_path(tenant), partner.token, [("tags.csv", data)])
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)

    near_miss, allowed, other = rows_of(api, partner.token, order)
    assert near_miss["error_code"] == "group_tag_invalid"
    assert "use 'Microsoft365Managed_Standard'" in near_miss["message"]
    assert allowed["state"] == "ready_for_user"
    assert other["error_code"] == "group_tag_invalid"
    assert "allows only: Microsoft365Managed_Standard, " in other["message"]
    # Another tenant still accepts any tag.
    with db.transaction() as session:
        assert group_tags.policy_for(session, uuid.uuid4()).allowed == ()


def test_order_group_tag_from_the_form_applies_to_rows_without_one(api, pair, run_worker):
    partner, tenant = pair
    fmt = "self_registration"
    data = encode_csv([CSV_HEADERS[fmt], hashed_row(fmt, unique("SN"))])

    response = upload(
        api,
        order_path(tenant),
        partner.token,
        [("d.csv", data)],
        group_tag="Microsoft365Managed_Kiosk-Shared",
        purchase_id="PO-77",
    )
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)

    assert order["purchase_id"] == "PO-77"
    [row] = rows_of(api, partner.token, order)
    assert row["group_tag"] == "Microsoft365Managed_Kiosk-Shared"


def test_relationship_revoked_before_processing(api, world, run_worker):
    partner, tenant = world.partner(), world.tenant()
    relationship_id = world.approved(partner, tenant)
    fmt = "partner"
    data = encode_csv([CSV_HEADERS[fmt], hashed_row(fmt, unique("SN"))])
    response = upload(api, order_path(tenant), partner.token, [("d.csv", data)])
    assert response.status_code == 202

    api.post(f"/v1/customer/relationships/{relationship_id}/revoke", token=tenant.token)
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)

    assert order["status"] == "failed"
    assert order["counts"]["by_error_code"] == {"relationship_revoked": 1}


# --- file-level problems: 422 naming the file and the line ----------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"Serial,Hash\r\nA,B\r\n", ["line 1", "Manufacturer,Model,Serial Number,Hardware Hash"]),
        (
            b"Manufacturer,Model,Serial Number,Hardware Hash\r\nA,B,C,D\r\nA,B,C,D,E,F\r\n",
            ["line 3", "6"],
        ),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", ["line 1"]),
        (b"", ["no rows"]),
        (b"Manufacturer,Model,Serial Number,Hardware Hash\r\n\r\n", ["no"]),
    ],
    ids=["unknown-header", "too-many-fields", "binary", "empty", "header-only"],
)
def test_unusable_files_are_422_naming_the_line(api, pair, data, expected):
    partner, tenant = pair

    response = upload(api, order_path(tenant), partner.token, [("bad.csv", data)])

    body = assert_problem(response, 422, "csv_invalid")
    assert "bad.csv" in body["detail"]
    for text in expected:
        assert text in body["detail"], body["detail"]
    # Nothing was stored.
    assert api.get("/v1/partner/orders", token=partner.token).json() == []


def test_a_bad_file_among_good_ones_stores_nothing(api, pair):
    partner, tenant = pair
    fmt = "partner"
    good = encode_csv([CSV_HEADERS[fmt], hashed_row(fmt, unique("SN"))])
    bad = encode_csv(
        [CSV_HEADERS[fmt], hashed_row(fmt, unique("SN")), ["a", "b", "c", "d", "e", "f", "g"]]
    )

    response = upload(
        api, order_path(tenant), partner.token, [("good.csv", good), ("bad.csv", bad)]
    )

    body = assert_problem(response, 422, "csv_invalid")
    assert body["detail"].startswith("bad.csv, line 3")
    assert body["errors"] == {"bad.csv, line 3": [body["detail"]]}
    assert api.get("/v1/partner/orders", token=partner.token).json() == []


def test_row_limit_is_configuration(api, app, pair):
    import dataclasses

    partner, tenant = pair
    fmt = "partner"
    data = encode_csv([CSV_HEADERS[fmt]] + [hashed_row(fmt, unique("SN")) for _ in range(4)])
    settings = app.extensions["partner_api.settings"]
    app.extensions["partner_api.settings"] = dataclasses.replace(settings, max_order_rows=3)
    try:
        response = upload(api, order_path(tenant), partner.token, [("big.csv", data)])
    finally:
        app.extensions["partner_api.settings"] = settings

    body = assert_problem(response, 422, "upload_too_large")
    assert "3" in body["detail"] and "split" in body["detail"].lower()


def test_missing_file_and_unknown_form_field_are_422(api, pair):
    partner, tenant = pair

    no_file = api.post(order_path(tenant), token=partner.token, data={"order_id": "x"}, files={})
    assert no_file.status_code in (415, 422)
    fmt = "partner"
    data = encode_csv([CSV_HEADERS[fmt], hashed_row(fmt, unique("SN"))])
    stray = upload(api, order_path(tenant), partner.token, [("d.csv", data)], colour="blue")
    body = assert_problem(stray, 422, "validation_failed")
    assert "colour" in str(body["errors"])


def test_unsupported_content_type_is_415(api, pair):
    partner, tenant = pair

    response = api.post(
        order_path(tenant), token=partner.token, data="a,b", headers={"Content-Type": "text/csv"}
    )

    assert_problem(response, 415, "unsupported_media_type")


# --- dry run and failures.csv ------------------------------------------------------------


def test_dry_run_returns_verdicts_and_registers_nothing(api, pair):
    partner, tenant = pair
    fmt = "self_registration"
    good = unique("SN")
    data = encode_csv(
        [CSV_HEADERS[fmt], hashed_row(fmt, good), ["Contoso", "Laptop 7", "S2", "@@@"]]
    )

    response = upload(
        api, order_path(tenant), partner.token, [("d.csv", data)], params={"dry_run": "true"}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dry_run"] is True
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert [(r["line"], r["verdict"], r["error_code"]) for r in body["rows"]] == [
        (2, "accepted", None),
        (3, "rejected", "hardware_hash_invalid"),
    ]
    assert api.get("/v1/partner/orders", token=partner.token).json() == []
    assert api.get("/v1/customer/devices", token=tenant.token).json() == []


def test_failures_csv_is_the_submitted_format_ready_to_resubmit(api, pair, run_worker):
    partner, tenant = pair
    fmt = "partner"
    ok = unique("SN")
    bad_hash = "T0FBQUFB"
    lines = [
        CSV_HEADERS[fmt],
        hashed_row(fmt, ok),
        csv_row(fmt, serial="S-BAD", hardware_hash=bad_hash, product_id="1234567890123"),
        hashed_row(fmt, ok),
    ]
    response = upload(api, order_path(tenant), partner.token, [("d.csv", encode_csv(lines))])
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)

    download = api.get(f"/v1/partner/orders/{order['id']}/failures.csv", token=partner.token)

    assert download.status_code == 200
    assert download.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in download.headers["Content-Disposition"]
    assert download.content.startswith(b"\xef\xbb\xbf")  # Excel reads it as UTF-8
    table = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert table[0] == [*CSV_HEADERS[fmt], "Error Code", "Error Message"]
    assert [(r[0], r[1], r[2], r[5]) for r in table[1:]] == [
        ("S-BAD", "1234567890123", bad_hash, "hardware_hash_invalid"),
        # The duplicate's hash is rebuilt exactly from the stored bytes.
        (ok, "", lines[3][2], "duplicate_in_order"),
    ]
    assert table[1][6].startswith("The hardware hash provided for this device is not")

    # Fixed and resubmitted as it is (the error columns are ignored).
    table[1][2] = build_hardware_hash("Contoso", "Laptop 7", "S-BAD")
    fixed = encode_csv(table[:2], quoted=True)
    again = upload(api, order_path(tenant), partner.token, [("fixed.csv", fixed)])
    assert again.status_code == 202, again.text
    order = wait_for_order(api, partner.token, again.headers["Location"], run_worker)
    assert order["status"] == "completed"


def test_failures_csv_of_another_partners_order_is_404(api, world, pair, run_worker):
    partner, tenant = pair
    fmt = "partner"
    response = upload(
        api,
        order_path(tenant),
        partner.token,
        [("d.csv", encode_csv([CSV_HEADERS[fmt], hashed_row(fmt, unique("SN"))]))],
    )
    order_id = response.json()["id"]
    stranger = world.partner()

    assert_problem(
        api.get(f"/v1/partner/orders/{order_id}/failures.csv", token=stranger.token),
        404,
        "not_found",
    )


def test_a_large_failures_csv_streams_every_row_to_partner_customer_and_support(
    api, world, pair, run_worker
):
    partner, tenant = pair
    support = world.support()
    fmt = "partner"
    bad_hash = "T0FBQUFB"
    serials = [f'=HYPERLINK("x","{i}")' if i % 500 == 0 else f"S-{i:05d}" for i in range(3000)]
    lines = [
        CSV_HEADERS[fmt],
        *(csv_row(fmt, serial=s, hardware_hash=bad_hash, product_id="") for s in serials),
    ]
    big = encode_csv(lines, quoted=True)
    response = upload(api, order_path(tenant), partner.token, [("big.csv", big)])
    assert response.status_code == 202, response.text
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)

    downloads = {}
    for who, path, token in (
        ("partner", f"/v1/partner/orders/{order['id']}/failures.csv", partner.token),
        ("customer", f"/v1/customer/orders/{order['id']}/failures.csv", tenant.token),
        ("support", f"/v1/support/orders/{order['id']}/failures.csv", support.token),
    ):
        with api.get(path, token=token, stream=True, check=False) as streamed:
            assert streamed.status_code == 200
            # Sent as it is written: chunked, no length known in advance.
            assert "Content-Length" not in streamed.headers
            assert streamed.headers.get("Transfer-Encoding") == "chunked"
            chunks = list(streamed.iter_content(chunk_size=16 * 1024))
        assert len(chunks) > 1
        downloads[who] = b"".join(chunks)

    # The same file for everyone, every failed row in line order, formulas neutralised.
    assert downloads["customer"] == downloads["partner"] == downloads["support"]
    table = list(csv.reader(io.StringIO(downloads["partner"].decode("utf-8-sig"))))
    assert table[0] == [*CSV_HEADERS[fmt], "Error Code", "Error Message"]
    assert [(r[0], r[2], r[5]) for r in table[1:]] == [
        (("'" + s) if s.startswith("=") else s, bad_hash, "hardware_hash_invalid") for s in serials
    ]

    # Another organisation's failed rows are not found, nor open to a partner as support's.
    other_partner, other_tenant = world.partner(), world.tenant()
    for path, token in (
        (f"/v1/partner/orders/{order['id']}/failures.csv", other_partner.token),
        (f"/v1/customer/orders/{order['id']}/failures.csv", other_tenant.token),
    ):
        assert_problem(api.get(path, token=token), 404, "not_found")
    denied = api.get(f"/v1/support/orders/{order['id']}/failures.csv", token=partner.token)
    assert denied.status_code == 404


def test_a_request_trace_shows_the_first_failed_rows_and_where_the_rest_are(
    api, world, pair, run_worker
):
    partner, tenant = pair
    support = world.support()
    fmt = "partner"
    lines = [
        CSV_HEADERS[fmt],
        hashed_row(fmt, unique("SN")),
        *(csv_row(fmt, serial=f"F-{i:03d}", hardware_hash="T0FBQUFB") for i in range(120)),
    ]
    response = upload(api, order_path(tenant), partner.token, [("d.csv", encode_csv(lines))])
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)

    trace = api.get(
        f"/v1/support/requests/{response.headers['X-Request-ID']}", token=support.token
    ).json()

    assert trace["registrations_touched"] == 121
    assert [r["serial_number"] for r in trace["failed_registrations"]] == [
        f"F-{i:03d}" for i in range(50)
    ]
    assert trace["more_failed_registrations"] is True
    [traced] = trace["orders"]
    assert traced["id"] == order["id"]
    assert traced["counts"]["by_error_code"] == {"hardware_hash_invalid": 120}
    rest = api.get(traced["failures_csv_url"], token=support.token)
    assert rest.status_code == 200
    table = list(csv.reader(io.StringIO(rest.content.decode("utf-8-sig"))))
    assert [r[0] for r in table[1:]] == [f"F-{i:03d}" for i in range(120)]
