"""The partner-api command line, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.http import wait_for_order


def cli(*args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "partner_api.cli", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout
    return json.loads(lines[0])


def test_db_upgrade_is_repeatable(settings):
    assert cli("db", "upgrade")["status"] == "ok"
    assert cli("db", "upgrade")["status"] == "ok"


def test_operator_creates_partner_tenant_and_clients_that_work(api, settings):
    partner = cli("partners", "create", "--name", "CLI Partner")
    tenant = cli("tenants", "create", "--name", "CLI Tenant", "--domain", "cli.example")
    partner_client = cli("clients", "create", "--partner", partner["id"])
    tenant_client = cli("clients", "create", "--tenant", tenant["id"])
    support_client = cli("clients", "create", "--support")
    supplier_client = cli("clients", "create", "--supplier", "contoso-factory")

    assert partner_client["principal_kind"] == "partner"
    assert supplier_client["scope"] == "supplier:write"
    token = api.token(partner_client["client_id"], partner_client["client_secret"])
    assert api.get("/v1/partner/customers", token=token).json() == []
    token = api.token(tenant_client["client_id"], tenant_client["client_secret"])
    assert api.get("/v1/customer/devices", token=token).json() == []
    token = api.token(support_client["client_id"], support_client["client_secret"])
    assert token


def test_clients_create_needs_exactly_one_principal(settings):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "partner_api.cli",
            "clients",
            "create",
            "--support",
            "--json",
            "--tenant",
            "00000000-0000-0000-0000-000000000000",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "exactly one" in result.stderr


def test_demo_order_is_registered_by_a_worker_process(api, settings, redis_connection):
    demo = cli("demo")
    token = api.token(demo["partner_client"]["client_id"], demo["partner_client"]["client_secret"])
    response = api.post(
        f"/v1/partner/customers/{demo['tenant_id']}/orders", token=token, json=demo["order"]
    )
    assert response.status_code == 202

    def worker_process() -> None:
        subprocess.run(
            [sys.executable, "-m", "partner_api.cli", "worker", "--burst"],
            check=True,
            timeout=120,
            capture_output=True,
        )

    order = wait_for_order(api, token, response.headers["Location"], worker_process)
    assert order["status"] == "completed"
    customer = api.token(demo["tenant_client"]["client_id"], demo["tenant_client"]["client_secret"])
    devices = api.get(
        f"/v1/customer/devices?serial_number={demo['serial_number']}", token=customer
    ).json()
    assert [d["state"] for d in devices] == ["ready_for_user"]
