"""The partner's command line, end to end against the running service with a
real worker process: upload, progress until final, summary, failed rows
written next to the input file. And safe to retry: a network that breaks
after the service accepted an order, a load balancer answering 503, an access
token that expires while the command follows an order. Its lists (orders, an
order's rows, devices) are read to their end by cursor."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from tenants.ingest.hardware_hash import build_hardware_hash
from tests.csv_files import CSV_HEADERS, csv_row, encode_csv
from tests.factories import device, unique
from tests.http import wait_for_order
from tests.processes import start_worker, stop_all


@pytest.fixture
def worker(settings):
    process = start_worker(settings)
    yield process
    stop_all([process])


class FlakyProxy:
    """A TCP proxy in front of the service that breaks the answers to order
    submissions on purpose, one fault per submission from ``faults``:
    ``drop`` closes the connection once the service has answered (it accepted
    the order; the client never hears so), ``503`` replaces the answer with a
    load balancer's 503 and ``Retry-After: 1``. Counts what it forwarded."""

    def __init__(self, base_url: str) -> None:
        self.target = ("127.0.0.1", int(base_url.rsplit(":", 1)[1]))
        self.faults: list[str] = []
        self.order_posts = 0
        self.token_posts = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.target)
        fault: list[str | None] = [None]  # for the request in flight on this connection

        def forward_requests() -> None:
            try:
                while data := client.recv(1 << 16):
                    request_line = data.split(b"\r\n", 1)[0]
                    with self._lock:
                        if request_line.startswith(b"POST ") and b"/orders " in request_line:
                            self.order_posts += 1
                            fault[0] = self.faults.pop(0) if self.faults else None
                        elif request_line.startswith(b"POST /oauth/token "):
                            self.token_posts += 1
                    upstream.sendall(data)
            except OSError:
                pass
            finally:
                with contextlib.suppress(OSError):
                    upstream.shutdown(socket.SHUT_WR)

        threading.Thread(target=forward_requests, daemon=True).start()
        try:
            while data := upstream.recv(1 << 16):
                if fault[0] == "503":
                    client.sendall(
                        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
                        b"Content-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                if fault[0] is not None:
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            # shutdown, not only close: it also wakes the thread reading the client.
            for end in (client, upstream):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()


@pytest.fixture
def proxy(base_url):
    flaky = FlakyProxy(base_url)
    yield flaky
    flaky.close()


def one_device_csv(tmp_path, name: str = "pcs.csv"):
    serial = unique("SN")
    source = tmp_path / name
    hardware_hash = build_hardware_hash("Contoso", "Laptop 7", serial)
    source.write_bytes(
        encode_csv(
            [CSV_HEADERS["partner"], csv_row("partner", serial=serial, hardware_hash=hardware_hash)]
        )
    )
    return source


def partner_orders(api, partner) -> list[dict]:
    response = api.get("/v1/partner/orders", token=partner.token)
    assert response.status_code == 200, response.text
    return response.json()


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


def test_rerun_after_the_network_lost_the_answer_makes_one_order(api, world, proxy, tmp_path):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    source = one_device_csv(tmp_path)
    command = (str(source), "--customer", str(tenant.id), "--json")
    # The service accepts the order, but the connection breaks before the
    # answer arrives, on the first try and on the retry.
    proxy.faults = ["drop", "drop"]

    failed = run_cli(proxy.url, partner, *command, "--retries", "1")

    assert failed.returncode != 0
    assert "Run the same command again" in failed.stderr
    assert proxy.order_posts == 2
    accepted = partner_orders(api, partner)
    assert len(accepted) == 1  # the service did take it

    rerun = run_cli(proxy.url, partner, *command)

    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["order"]["id"] == accepted[0]["id"]
    assert [o["id"] for o in partner_orders(api, partner)] == [accepted[0]["id"]]


def test_a_changed_file_is_a_new_order(api, world, tmp_path):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    first, second = one_device_csv(tmp_path, "a.csv"), one_device_csv(tmp_path, "b.csv")
    args = ("--customer", str(tenant.id), "--order-id", "PO-7", "--json")

    runs = [run_cli(api.base_url, partner, str(f), *args) for f in (first, second, first)]

    assert [r.returncode for r in runs] == [0, 0, 0], [r.stderr for r in runs]
    ids = [json.loads(r.stdout)["order"]["id"] for r in runs]
    assert ids[0] != ids[1] and ids[2] == ids[0]
    assert len(partner_orders(api, partner)) == 2


def test_a_503_with_retry_after_is_retried_within_the_run(api, world, proxy, tmp_path):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    proxy.faults = ["503"]

    result = run_cli(
        proxy.url, partner, str(one_device_csv(tmp_path)), "--customer", str(tenant.id), "--json"
    )

    assert result.returncode == 0, result.stderr
    assert proxy.order_posts == 2
    assert [o["id"] for o in partner_orders(api, partner)] == [
        json.loads(result.stdout)["order"]["id"]
    ]


def test_an_expired_token_is_fetched_again_while_following_an_order(world, proxy, tmp_path):
    from partner_api.client_cli import Service

    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    service = Service(proxy.url, partner.client_id, partner.client_secret)
    order = service.submit(
        one_device_csv(tmp_path), str(tenant.id), {"order_id": "PO-1"}, idempotency_key=unique("K")
    )
    first_token = service.http.token["access_token"]
    assert proxy.token_posts == 1

    service.http.token["expires_at"] = int(time.time()) - 1  # as after a long --wait
    followed = service.order(order["id"])

    assert followed["id"] == order["id"]
    assert proxy.token_posts == 2
    assert service.http.token["access_token"] != first_token


def run_command(base_url, principal, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "partner_api.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **os.environ,
            "PARTNER_API_URL": base_url,
            "PARTNER_API_CLIENT_ID": principal.client_id,
            "PARTNER_API_CLIENT_SECRET": principal.client_secret,
        },
    )


def test_lists_are_read_to_their_end_by_cursor(api, world, run_worker, monkeypatch):
    """Seven orders, one of them of eight rows, listed three or four a page:
    each command reads every page, each next one after the cursor of the one
    before. Pages by number reach only the first three rows here, so a
    command that paged by number would fail."""
    from partner_api import pagination

    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    serials = [unique("LIST") for _ in range(14)]
    sizes = [8, 1, 1, 1, 1, 1, 1]
    created, start = [], 0
    for n, size in enumerate(sizes):
        response = world.submit(
            partner, tenant, [device(s) for s in serials[start : start + size]], order_id=f"L-{n}"
        )
        assert response.status_code == 202, response.text
        created.append(wait_for_order(api, partner.token, response.headers["Location"], run_worker))
        start += size
    monkeypatch.setattr(pagination, "MAX_OFFSET", 3)  # the app serves from this process

    listed = run_command(api.base_url, partner, "orders", "list", "--page-size", "3", "--json")
    assert listed.returncode == 0, listed.stderr
    body = json.loads(listed.stdout)
    assert body["count"] == 7
    assert [o["order_id"] for o in body["orders"]] == [f"L-{n}" for n in reversed(range(7))]

    big = created[0]["id"]
    rows = run_command(api.base_url, partner, "orders", "rows", big, "--page-size", "3", "--json")
    assert rows.returncode == 0, rows.stderr
    assert [r["serial_number"] for r in json.loads(rows.stdout)["registrations"]] == serials[:8]

    devices = run_command(
        api.base_url, tenant, "devices", "list", "--sort", "serial_number", "--page-size", "4"
    )
    assert devices.returncode == 0, devices.stderr
    header, *lines = devices.stdout.splitlines()
    assert header.split("\t")[:2] == ["id", "serial_number"]
    assert [line.split("\t")[1] for line in lines] == sorted(serials)
    assert "14 devices" in devices.stderr

    # The customer's client lists the customer's orders; --limit stops early.
    first = run_command(api.base_url, tenant, "orders", "list", "--page-size", "2", "--limit", "5")
    assert first.returncode == 0, first.stderr
    assert [line.split("\t")[1] for line in first.stdout.splitlines()[1:]] == [
        f"L-{n}" for n in (6, 5, 4, 3, 2)
    ]
    refused = run_command(api.base_url, partner, "devices", "list")
    assert refused.returncode != 0 and "customer's client" in refused.stderr
