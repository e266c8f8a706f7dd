"""The partner's command line, end to end against the running service with a
real worker process: upload, progress until final, summary, failed rows
written next to the input file."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from tenants.hardware_hash import build_hardware_hash
from tests.helpers import CSV_HEADERS, csv_row, encode_csv, unique
from tests.processes import start_worker, stop_all


@pytest.fixture
def worker(settings):
    process = start_worker(settings)
    yield process
    stop_all([process])


def run_cli(base_url, partner, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "partner_api.cli", "orders", "submit", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **os.environ,
            "PARTNER_API_URL": base_url,
            "PARTNER_API_CLIENT_ID": partner.client_id,
            "PARTNER_API_CLIENT_SECRET": partner.client_secret,
        },
    )


def test_submit_wait_summary_and_failed_rows(base_url, world, worker, tmp_path):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    fmt = "partner"
    good = [unique("SN") for _ in range(3)]
    lines = [CSV_HEADERS[fmt]]
    lines += [
        csv_row(fmt, serial=s, hardware_hash=build_hardware_hash("Contoso", "Laptop 7", s))
        for s in good
    ]
    lines.append(csv_row(fmt, serial="BROKEN-1", hardware_hash="not-a-hash"))
    source = tmp_path / "pcs.csv"
    source.write_bytes(encode_csv(lines, encoding="utf-16-le-bom"))

    result = run_cli(base_url, partner, str(source), "--customer", str(tenant.id), "--wait")

    assert result.returncode == 1, result.stderr  # one row failed
    assert "Order pcs: completed_with_errors" in result.stdout
    assert "ready_for_user" in result.stdout and "hardware_hash_invalid" in result.stdout
    assert "Registering" in result.stderr  # the progress bar
    failures = tmp_path / "pcs.failures.csv"
    rows = list(csv.reader(failures.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0][-2:] == ["Error Code", "Error Message"]
    assert [(r[0], r[-2]) for r in rows[1:]] == [("BROKEN-1", "hardware_hash_invalid")]


def test_submit_json_output_and_all_registered(base_url, world, worker, tmp_path):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    fmt = "self_registration"
    serial = unique("SN")
    source = tmp_path / "one.csv"
    source.write_bytes(
        encode_csv(
            [
                CSV_HEADERS[fmt],
                csv_row(
                    fmt,
                    serial=serial,
                    hardware_hash=build_hardware_hash("Contoso", "Laptop 7", serial),
                ),
            ]
        )
    )

    result = run_cli(
        base_url,
        partner,
        str(source),
        "--customer",
        str(tenant.id),
        "--order-id",
        "PO-9",
        "--wait",
        "--json",
    )

    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["order"]["status"] == "completed" and body["order"]["order_id"] == "PO-9"
    assert body["failures_file"] is None


def test_a_refused_order_says_why(base_url, world, tmp_path):
    partner, tenant = world.partner(), world.tenant()  # no relationship
    source = tmp_path / "x.csv"
    source.write_bytes(encode_csv([CSV_HEADERS["partner"], ["S1", "", "", "A", "B"]]))

    result = run_cli(base_url, partner, str(source), "--customer", str(tenant.id))

    assert result.returncode != 0
    assert "403" in result.stderr and "relationship_required" in result.stderr
