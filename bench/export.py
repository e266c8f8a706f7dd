"""A customer exports its devices as one CSV file through the API:
``BENCH_ONLY=export make bench`` runs this alone (it is quick), and a full
``make bench`` runs it after the order scenarios.

Grows the database of ``BENCH_DATABASE_URL`` (recreated) with SQL -- never
the API -- to ``BENCH_EXPORT_DEVICES`` devices of one customer (default
100,000, the size the target names), counts them into the counters
(``counters.recount``: the rows were written around the service), and times
``GET /v1/customer/devices?format=csv`` against the stack ``make bench``
starts (gunicorn, as in production): every device, then the active ones
only (a filter), from the request until the last byte, with the API
process's peak RSS while it streams. Each file is read to the end and its
rows counted, so a short file cannot pass.
"""

from __future__ import annotations

import os
import time
import uuid

import psycopg
import requests

from bench import run as bench

DEVICES = int(os.environ.get("BENCH_EXPORT_DEVICES", "100000"))
TARGET_SECONDS_PER_100K = 10.0
TARGET_RSS_GROWTH_MIB = 100.0

# The customer's devices in one self-registered order: every one registered,
# a third checked in within the last 20 days, a tenth with a group tag.
_ROWS = """
INSERT INTO registrations (
    id, tenant_id, partner_id, order_pk, line_index, line, manufacturer, model,
    serial_number, group_tag, assigned_user, hardware_hash, hardware_hash_length, identity_key,
    state, registered_at, last_seen_at, request_id, created_at, updated_at)
SELECT gen_random_uuid(), %(tenant)s, NULL, %(order)s, g, g + 2, 'Contoso', 'Laptop 7',
    'EXPORT-' || lpad(g::text, 8, '0'),
    CASE WHEN g %% 10 = 0 THEN 'Microsoft365Managed_Lab' END,
    CASE WHEN g %% 4 = 0 THEN 'user' || g || '@bench.example' END,
    decode(md5(g::text) || repeat('ab', 112), 'hex'), 4000,
    'contoso' || chr(31) || 'export-' || lpad(g::text, 8, '0'),
    'ready_for_user', now() - interval '30 days',
    CASE WHEN g %% 3 = 0 THEN now() - make_interval(days => g %% 20) END,
    'bench-export', now() - interval '30 days' + g * interval '1 millisecond', now()
FROM generate_series(0, %(n)s - 1) AS g
"""

_CLAIMS = """
INSERT INTO device_claims (identity_key, tenant_id, registration_id, claimed_at)
SELECT identity_key, tenant_id, id, registered_at FROM registrations WHERE order_pk = %(order)s
"""


def grow(tenant_id: str, devices: int) -> float:
    """The customer's ``devices`` devices, counted; returns the seconds it took."""
    from tenants import db
    from tenants.registration import counters

    started = time.monotonic()
    order = uuid.uuid4()
    with psycopg.connect(bench.PG_BENCH, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO orders (id, tenant_id, request_id, order_id, status, source_format, "
            "row_count, created_at, started_at, completed_at, enqueued_at) VALUES "
            "(%s, %s, 'bench-export', 'EXPORT', 'completed', 'json', %s, now(), now(), now(), "
            "now())",
            (order, tenant_id, devices),
        )
        span = {"tenant": tenant_id, "order": order, "n": devices}
        conn.execute(_ROWS, span)
        conn.execute(_CLAIMS, span)
    with db.transaction() as session:
        counters.recount(session)
    with psycopg.connect(bench.PG_BENCH, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    return time.monotonic() - started


def export(query: str, token: str) -> tuple[float, int, int]:
    """GET the device list as CSV, read to the end: (seconds, rows, bytes)."""
    started = time.monotonic()
    response = requests.get(
        f"{bench.BASE}/v1/customer/devices?format=csv{query}",
        headers={"Authorization": f"Bearer {token}"},
        stream=True,
        timeout=600,
    )
    response.raise_for_status()
    lines = size = 0
    for piece in response.iter_content(chunk_size=1 << 16):
        size += len(piece)
        lines += piece.count(b"\r\n")
    return time.monotonic() - started, lines - 1, size  # less the header


def scenario(ids: dict, api_pid: int, report: bench.Report) -> None:
    main_side = ids["main"]
    print(f"7. export: {DEVICES:,} devices of one customer, grown with SQL ...", flush=True)
    took = grow(main_side["tenant_id"], DEVICES)
    print(f"   grown and counted in {took:,.1f} s", flush=True)
    export("&state=active", main_side["tenant"])  # warm up: connections, plans
    target = TARGET_SECONDS_PER_100K * max(1.0, DEVICES / 100_000)
    with bench.RssSampler({"api": api_pid}) as sampler:
        baseline = sampler.current()["api"]
        seconds, rows, size = export("", main_side["tenant"])
        active_seconds, active_rows, _ = export("&state=active", main_side["tenant"])
    complete = rows == DEVICES
    report.add(
        f"export {DEVICES:,} devices (CSV, API)",
        seconds,
        "s",
        f"<= {target:,.0f} s",
        complete and seconds <= target,
    )
    report.add("export rows/s", rows / seconds, "rows/s")
    report.add("export file size", size / 2**20, "MiB")
    report.add(
        "export: every device in the file", 1.0 if complete else 0.0, "", "1 (yes)", complete
    )
    report.add(f"export active devices ({active_rows:,}, a filter)", active_seconds, "s")
    growth = sampler.peak["api"] - baseline
    report.add(
        "API RSS growth while exporting",
        growth,
        "MiB",
        f"< {TARGET_RSS_GROWTH_MIB:.0f} MiB",
        growth < TARGET_RSS_GROWTH_MIB,
    )


def main() -> None:
    bench.OUT.mkdir(parents=True, exist_ok=True)
    report = bench.Report()
    print(f"export: {DEVICES:,} devices; stack on {bench.BASE}, PostgreSQL {bench.PG_BENCH}")
    bench.ensure_services()
    bench.reset_services()
    stack = bench.Stack()
    try:
        stack.start()
        scenario(bench.prepare_directory(), stack.api.pid, report)
    finally:
        stack.stop()
    report.print()


if __name__ == "__main__":
    main()
