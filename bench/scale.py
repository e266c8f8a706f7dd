"""The reads at scale: ``BENCH_ONLY=scale make bench`` (or ``python -m bench.scale``).

Grows the database of ``BENCH_DATABASE_URL`` (recreated) to each size of
``BENCH_SCALE_SIZES`` registrations in turn (default 100,000, 1,000,000 and
10,000,000) with SQL -- ``INSERT ... SELECT`` over ``generate_series``, never
the API -- then, at each size, counts the rows again into the counters
(``tenants.registration.counters.recount``: the rows were written around
the service), checks that the counters equal the rows, runs ``VACUUM
(ANALYZE)`` as autovacuum would, and times every read of issue 18's table
and the portal's pages against one stack (gunicorn, as ``make bench``
starts it), one request at a time: p50 and p99 of each, beside its target
(p99 <= 50 ms at 10M, and <= 2x its own p99 at the smallest size).

The data: 4 partners and 12 customers, every pair related. Orders of 1 to
5,000 rows (about 900 on average), one customer (the one measured) holding
half of them; on top of each size, the first order is a 100,000-row order
of the measured partner for the measured customer (the support lookup's):
"100k" is 200,000 rows in all, "1M" 1.1 million. Rows end 88 %
ready for the user (a third of them checked in within the last 20 days),
8 % failed with the usual error codes, 4 % deregistered; each registered
row holds its device claim, each order has the request that created it in
the request log. Stored hardware hashes are 128 bytes (real ones are about
1,000-1,500) to keep 10M rows on the disk: row width matters to scans, not
to index lookups.

Environment (besides run.py's BENCH_DATABASE_URL, BENCH_REDIS_URL, BENCH_PORT):

    BENCH_SCALE_SIZES    sizes to measure at, e.g. 100000,1000000 (quick run)
    BENCH_SCALE_SAMPLES  requests per read and size (default 40; fewer for a
                         read while its requests take more than 20 s in all)

The deep device page is page 200 of 100 (``page=200``) while the API pages
by number; once its answers carry ``Link: rel="next"``, the scenario walks
the cursor to the 200th page once, untimed, and times that page's URL.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
import requests

from bench import run as bench

SIZES = [
    int(s)
    for s in os.environ.get("BENCH_SCALE_SIZES", "100000,1000000,10000000").split(",")
    if s.strip()
]
SAMPLES = int(os.environ.get("BENCH_SCALE_SAMPLES", "40"))
METRICS_TOKEN = "bench-scale-metrics"
BIG_ORDER_ROWS = 100_000
PARTNERS, TENANTS = 4, 12
TARGET_MS, TARGET_GROWTH = 50.0, 2.0
# Order sizes, in turn: about 900 rows on average.
ORDER_SIZES = (1, 10, 25, 100, 250, 500, 1000, 2000, 50, 5000)
PORTAL_PASSWORD = "bench-scale-password"

# The rows of one order, from its plan row ``p`` (order number n) and its
# orders row ``o``; ``b`` is a pseudo-random bucket 0..999 per row.
_ROWS = """
INSERT INTO registrations (
    id, tenant_id, partner_id, order_pk, line_index, line, manufacturer, model,
    serial_number, group_tag, hardware_hash, hardware_hash_length, identity_key, state,
    error_code, message, registered_at, last_seen_at, deregistered_at, request_id,
    created_at, updated_at)
SELECT gen_random_uuid(), o.tenant_id, o.partner_id, o.id, g, g + 2, p.manufacturer, p.model,
    p.serial, o.group_tag,
    CASE WHEN b < 960 AND b NOT BETWEEN 880 AND 919
         THEN decode(md5(p.serial) || repeat('ab', 112), 'hex') END,
    CASE WHEN b < 960 AND b NOT BETWEEN 880 AND 919 THEN 4000 END,
    lower(p.manufacturer) || chr(31) || lower(p.serial),
    CASE WHEN b < 880 THEN 'ready_for_user'
         WHEN b < 960 AND b >= 920 THEN 'deregistered'
         WHEN b < 920 THEN 'registration_failed'
         ELSE 'ready_for_user' END,
    CASE WHEN b BETWEEN 870 AND 879 THEN 'device_already_registered'
         WHEN b BETWEEN 880 AND 894 THEN 'device_claimed_by_another_organization'
         WHEN b BETWEEN 895 AND 904 THEN 'duplicate_in_order'
         WHEN b BETWEEN 905 AND 911 THEN 'hardware_hash_invalid'
         WHEN b BETWEEN 912 AND 916 THEN 'device_not_found'
         WHEN b BETWEEN 917 AND 918 THEN 'group_tag_invalid'
         WHEN b = 919 THEN 'unexpected_error' END,
    CASE WHEN b BETWEEN 880 AND 919 THEN 'This row could not be registered (scale bench).' END,
    CASE WHEN b < 880 OR b >= 920 THEN o.created_at + interval '2 seconds' END,
    CASE WHEN (b < 880 OR b >= 960) AND b %% 3 = 0
         THEN now() - make_interval(days => (b %% 20), secs => g %% 86400) END,
    CASE WHEN b BETWEEN 920 AND 959 THEN o.created_at + interval '30 days' END,
    o.request_id,
    o.created_at + g * interval '1 millisecond',
    o.created_at + interval '2 seconds'
FROM scale_plan sp
JOIN orders o ON o.id = sp.order_pk
CROSS JOIN LATERAL generate_series(0, o.row_count - 1) AS g
CROSS JOIN LATERAL (
    SELECT ((sp.n::bigint * 7919 + g::bigint * 104729) %% 1000)::int AS b,
           'SN' || lpad(sp.n::text, 6, '0') || '-' || lpad(g::text, 6, '0') AS serial,
           (ARRAY['Contoso', 'Fabrikam', 'Northwind', 'Tailspin'])[1 + sp.n %% 4] AS manufacturer,
           (ARRAY['Laptop 7', 'Tower 9', 'Tablet 3'])[1 + sp.n %% 3] AS model
) AS p
WHERE sp.n BETWEEN %(first)s AND %(last)s
"""

_CLAIMS = """
INSERT INTO device_claims (identity_key, tenant_id, registration_id, claimed_at)
SELECT r.identity_key, r.tenant_id, r.id, r.registered_at
FROM scale_plan sp JOIN registrations r ON r.order_pk = sp.order_pk
WHERE sp.n BETWEEN %(first)s AND %(last)s AND r.state = 'ready_for_user'
"""

_REQUESTS = """
INSERT INTO request_log (request_id, at, principal_kind, principal_id, client_id, method,
                         path, status, duration_ms)
SELECT o.request_id, o.created_at, CASE WHEN o.partner_id IS NULL THEN 'tenant' ELSE 'partner' END,
       coalesce(o.partner_id, o.tenant_id)::text, NULL, 'POST',
       CASE WHEN o.partner_id IS NULL THEN '/v1/customer/orders'
            ELSE '/v1/partner/customers/' || o.tenant_id || '/orders' END,
       202, 150
FROM scale_plan sp JOIN orders o ON o.id = sp.order_pk
WHERE sp.n BETWEEN %(first)s AND %(last)s
"""


@dataclass
class Read:
    name: str
    url: str
    auth: str  # "partner", "tenant", "support", "metrics", "portal-tenant", "portal-partner"
    p50: dict[int, float] = field(default_factory=dict)
    p99: dict[int, float] = field(default_factory=dict)
    n: dict[int, int] = field(default_factory=dict)


# --- growing the data ---------------------------------------------------------------------------


def directory() -> dict:
    """Partners, customers, relationships, API clients and portal users, through the domain."""
    os.environ.update(bench._env())
    from partner_api.auth.principals import SCOPES_BY_KIND
    from tenants import db
    from tenants.access import organisations, portal_users
    from tenants.access.clients import create_client

    db.configure(bench.PG_BENCH.replace("postgresql://", "postgresql+psycopg://"))
    partners = [organisations.create_partner(f"Scale partner {i}").id for i in range(PARTNERS)]
    tenants = [organisations.create_tenant(f"Scale customer {i}").id for i in range(TENANTS)]
    for partner in partners:
        for tenant in tenants:
            organisations.activate_relationship(partner, tenant)
    partner_client = create_client(
        "partner", scopes=SCOPES_BY_KIND["partner"], partner_id=partners[0]
    )
    tenant_client = create_client("tenant", scopes=SCOPES_BY_KIND["tenant"], tenant_id=tenants[0])
    support_client = create_client("support", scopes=SCOPES_BY_KIND["support"])
    tag = uuid.uuid4().hex[:6]
    portal_users.create_user(
        "tenant", f"tenant-{tag}@scale.example", password=PORTAL_PASSWORD, tenant_id=tenants[0]
    )
    portal_users.create_user(
        "partner", f"partner-{tag}@scale.example", password=PORTAL_PASSWORD, partner_id=partners[0]
    )
    return {
        "partners": partners,
        "tenants": tenants,
        "tokens": {
            "partner": bench.token(partner_client.client_id, partner_client.client_secret),
            "tenant": bench.token(tenant_client.client_id, tenant_client.client_secret),
            "support": bench.token(support_client.client_id, support_client.client_secret),
        },
        "portal": {
            "tenant": portal_sign_in(f"tenant-{tag}@scale.example"),
            "partner": portal_sign_in(f"partner-{tag}@scale.example"),
        },
    }


def portal_sign_in(email: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{bench.BASE}/portal/sign-in", timeout=30)
    page.raise_for_status()
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if found is None:
        raise SystemExit("the portal's sign-in form carries no CSRF token")
    response = session.post(
        f"{bench.BASE}/portal/sign-in",
        data={"csrf_token": found.group(1), "email": email, "password": PORTAL_PASSWORD},
        timeout=30,
        allow_redirects=False,
    )
    if response.status_code != 302:
        raise SystemExit(f"portal sign-in refused: {response.status_code}")
    return session


def plan_orders(first_n: int, rows_now: int, target: int) -> list[tuple[int, int, int, int | None]]:
    """(n, rows, tenant index, partner index or None) of the orders that grow
    the data from ``rows_now`` to at least ``target`` rows."""
    plan = []
    n = first_n
    while rows_now < target:
        if n == 0:
            size, tenant, partner = BIG_ORDER_ROWS, 0, 0
        else:
            size = ORDER_SIZES[n % len(ORDER_SIZES)]
            # Blocks of ten orders alternate between the measured customer and the others.
            tenant = 0 if (n // 10) % 2 == 0 else 1 + (n // 20) % (TENANTS - 1)
            partner = None if n % 13 == 0 else (n // 7) % PARTNERS
        plan.append((n, size, tenant, partner))
        rows_now += size
        n += 1
    return plan


def _order_pk(n: int) -> uuid.UUID:
    """Order n's ID (the same in every run)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"bench-scale-order-{n}")


def _secondary_indexes(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """registrations' indexes that back no constraint: (name, definition)."""
    return conn.execute(
        """
        SELECT i.relname, pg_get_indexdef(i.oid)
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indrelid = 'registrations'::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
        ORDER BY i.relname
        """
    ).fetchall()


def grow(ids: dict, target: int) -> tuple[int, float]:
    """Add orders and their rows until the database holds ``target``
    registrations; returns the rows it holds and the seconds it took."""
    started = time.monotonic()
    with psycopg.connect(bench.PG_BENCH, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS scale_plan (n integer PRIMARY KEY, order_pk uuid NOT NULL)"
        )
        (rows_now,) = conn.execute("SELECT count(*) FROM registrations").fetchone()
        (last_n,) = conn.execute("SELECT coalesce(max(n), -1) FROM scale_plan").fetchone()
        plan = plan_orders(last_n + 1, rows_now, target)
        if not plan:
            return rows_now, 0.0
        adding = sum(size for _, size, _, _ in plan)
        # The rows were checked by construction: no foreign-key triggers per row.
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '512MB'")
        dropped = []
        if adding > rows_now:  # building an index afresh beats updating it row by row
            dropped = _secondary_indexes(conn)
            for name, _ in dropped:
                conn.execute(f'DROP INDEX "{name}"')
        # Order n came 50 minutes after order n - 1: about 11,000 orders in a year.
        epoch = datetime(2024, 1, 1, tzinfo=UTC)
        with conn.cursor() as cursor:
            with cursor.copy("COPY scale_plan (n, order_pk) FROM STDIN") as copy:
                for n, *_ in plan:
                    copy.write_row((n, _order_pk(n)))
            with cursor.copy(
                "COPY orders (id, tenant_id, partner_id, request_id, order_id, group_tag, "
                "status, source_format, row_count, created_at, started_at, completed_at, "
                "enqueued_at) FROM STDIN"
            ) as copy:
                for n, size, tenant, partner in plan:
                    created = epoch + timedelta(minutes=50 * n)
                    copy.write_row(
                        (
                            _order_pk(n),
                            ids["tenants"][tenant],
                            None if partner is None else ids["partners"][partner],
                            f"scale-{n:06d}",
                            f"PO-{n:06d}",
                            f"Site {n % 5}" if n % 4 == 0 else None,
                            "completed" if size == 1 else "completed_with_errors",
                            "json" if n % 2 else "partner",
                            size,
                            created,
                            created + timedelta(seconds=1),
                            created + timedelta(seconds=60),
                            created,
                        )
                    )
        # Batches of about a million rows, so progress shows.
        batch: list[int] = []
        batch_rows = 0
        done = rows_now
        for n, size, _, _ in plan:
            batch.append(n)
            batch_rows += size
            if batch_rows >= 1_000_000 or n == plan[-1][0]:
                span = {"first": batch[0], "last": batch[-1]}
                conn.execute(_ROWS, span)
                conn.execute(_CLAIMS, span)
                conn.execute(_REQUESTS, span)
                done += batch_rows
                rate = (done - rows_now) / (time.monotonic() - started)
                print(f"   {done:,} rows ({rate:,.0f} rows/s)", flush=True)
                batch, batch_rows = [], 0
        for name, definition in dropped:
            print(f"   index {name} ...", flush=True)
            conn.execute(definition)
        (rows_now,) = conn.execute("SELECT count(*) FROM registrations").fetchone()
    return rows_now, time.monotonic() - started


def recount_and_check() -> tuple[float, bool]:
    """Counters from the rows (``counters.recount``), then whether every
    counter equals its rows. Returns the seconds the recount took."""
    from tenants import db
    from tenants.registration import counters

    started = time.monotonic()
    with db.transaction() as session:
        counters.recount(session)
    took = time.monotonic() - started
    with psycopg.connect(bench.PG_BENCH) as conn:
        (differ,) = conn.execute(
            """
            WITH r AS (SELECT order_pk, state, coalesce(error_code, '') AS e, count(*) AS c
                       FROM registrations GROUP BY 1, 2, 3),
                 k AS (SELECT order_id, state, error_code, count::bigint
                       FROM order_counts WHERE count <> 0),
                 t AS (SELECT tenant_id, coalesce(partner_id::text, ''), state,
                              coalesce(error_code, ''), count(*)
                       FROM registrations GROUP BY 1, 2, 3, 4),
                 u AS (SELECT tenant_id, coalesce(partner_id::text, ''), state, error_code, count
                       FROM registration_totals WHERE count <> 0)
            SELECT (SELECT count(*) FROM ((TABLE r EXCEPT TABLE k)
                                          UNION ALL (TABLE k EXCEPT TABLE r)) d)
                 + (SELECT count(*) FROM ((TABLE t EXCEPT TABLE u)
                                          UNION ALL (TABLE u EXCEPT TABLE t)) e)
            """
        ).fetchone()
    return took, differ == 0


def vacuum_analyze() -> float:
    started = time.monotonic()
    with psycopg.connect(bench.PG_BENCH, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    return time.monotonic() - started


# --- the reads ----------------------------------------------------------------------------------


def reads(ids: dict) -> list[Read]:
    with psycopg.connect(bench.PG_BENCH) as conn:
        (big_request,) = conn.execute(
            "SELECT request_id FROM orders WHERE id = %s", (_order_pk(0),)
        ).fetchone()
    big = _order_pk(0)
    serial = f"SN000000-{BIG_ORDER_ROWS // 2:06d}"
    devices = "/v1/customer/devices?page_size=100"
    return [
        Read("partner orders list", "/v1/partner/orders", "partner"),
        Read("customer orders list", "/v1/customer/orders", "tenant"),
        Read("device list, first page", devices, "tenant"),
        Read("device list, page 200 of 100", deep_page(devices, ids), "tenant"),
        Read("device list sorted by serial", f"{devices}&sort=serial_number", "tenant"),
        Read("device list, failed state", f"{devices}&state=registration_failed", "tenant"),
        Read(
            "support request lookup (100k-row order)",
            f"/v1/support/requests/{big_request}",
            "support",
        ),
        Read(
            "support device lookup by serial",
            f"/v1/support/devices?serial_number={serial}",
            "support",
        ),
        Read("/metrics", "/metrics", "metrics"),
        Read("portal: overview (customer)", "/portal/overview", "portal-tenant"),
        Read("portal: overview (partner)", "/portal/overview", "portal-partner"),
        Read("portal: devices page", "/portal/devices", "portal-tenant"),
        Read("portal: orders page", "/portal/orders", "portal-partner"),
        Read("portal: order page (100k rows)", f"/portal/orders/{big}", "portal-partner"),
        Read("/healthz (the floor)", "/healthz", "none"),
    ]


def _get(url: str, auth: str, ids: dict) -> requests.Response:
    if auth.startswith("portal-"):
        session = ids["portal"][auth.removeprefix("portal-")]
        return session.get(url, timeout=300, allow_redirects=False)
    token = METRICS_TOKEN if auth == "metrics" else ids["tokens"].get(auth)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return ids["http"].get(url, headers=headers, timeout=300)


def deep_page(first: str, ids: dict) -> str:
    """The URL of the 200th page: ``page=200`` while the API pages by number,
    else the cursor walked there."""
    response = _get(bench.BASE + first, "tenant", ids)
    response.raise_for_status()
    if "next" not in response.links:
        return f"{first}&page=200"
    url = first
    for _ in range(199):
        if "next" not in response.links:
            break
        url = response.links["next"]["url"]
        response = _get(url if url.startswith("http") else bench.BASE + url, "tenant", ids)
        response.raise_for_status()
    return url.removeprefix(bench.BASE)


def time_read(read: Read, size: int, ids: dict) -> None:
    url = bench.BASE + read.url
    for _ in range(2):  # warm up
        response = _get(url, read.auth, ids)
        if response.status_code != 200:
            raise SystemExit(f"{read.name}: {response.status_code} {response.text[:300]}")
    samples: list[float] = []
    spent = time.monotonic()
    while len(samples) < SAMPLES and (len(samples) < 5 or time.monotonic() - spent < 20):
        started = time.perf_counter()
        response = _get(url, read.auth, ids)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    read.p50[size] = statistics.median(samples)
    read.p99[size] = bench.percentile(samples, 99)
    read.n[size] = len(samples)
    print(
        f"   {read.name}: p50 {read.p50[size]:,.1f} ms, p99 {read.p99[size]:,.1f} ms "
        f"({len(samples)} requests)",
        flush=True,
    )


def verdict(read: Read, sizes: list[int]) -> tuple[str, str]:
    """The target at the largest size measured, and whether it is met."""
    first, last = sizes[0], sizes[-1]
    limit = TARGET_GROWTH * read.p99[first]
    if last >= 10_000_000:
        target = f"<= {min(TARGET_MS, limit):,.0f} ms"
        ok = read.p99[last] <= TARGET_MS and read.p99[last] <= limit
    else:
        target = f"<= {limit:,.0f} ms (2x)"
        ok = read.p99[last] <= limit
    return target, "yes" if ok else "NO"


def _label(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1_000_000:g}M"
    return f"{size / 1000:g}k"


def print_table(measured: list[Read], sizes: list[int], notes: list[str]) -> None:
    width = max(len(r.name) for r in measured)
    heads = [f"{_label(s)} p50 / p99 ms" for s in sizes]
    cols = [max(len(h), 17) for h in heads]
    line = "=" * (width + sum(c + 2 for c in cols) + 24)
    print("\n" + line)
    print(
        "read".ljust(width)
        + "".join(f"  {h:>{c}}" for h, c in zip(heads, cols, strict=True))
        + f"  {'p99 target':<16} ok"
    )
    print("-" * len(line))
    for read in measured:
        cells = [
            f"{read.p50[s]:,.1f} / {read.p99[s]:,.1f}" if s in read.p99 else "-" for s in sizes
        ]
        target, ok = ("", "") if read.auth == "none" else verdict(read, sizes)
        print(
            read.name.ljust(width)
            + "".join(f"  {cell:>{c}}" for cell, c in zip(cells, cols, strict=True))
            + f"  {target:<16} {ok}"
        )
    print(line)
    for note in notes:
        print(note)


def main() -> None:
    bench.OUT.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("METRICS_TOKEN", METRICS_TOKEN)
    os.environ.setdefault("METRICS_CACHE_SECONDS", "0")  # every scrape reads the database
    print(
        f"scale: reads at {', '.join(f'{s:,}' for s in SIZES)} registrations; stack on "
        f"{bench.BASE}, PostgreSQL {bench.PG_BENCH}, Redis {bench.REDIS}",
        flush=True,
    )
    bench.ensure_services()
    bench.reset_services()
    stack = bench.Stack()
    notes = []
    measured: list[Read] = []
    try:
        stack.start()
        ids = directory()
        ids["http"] = requests.Session()
        for size in sorted(SIZES):
            print(f"growing to {size:,} registrations ...", flush=True)
            # The 100,000-row order of the support lookup comes on top.
            rows, took = grow(ids, size + BIG_ORDER_ROWS)
            recount_took, exact = recount_and_check()
            vacuum_took = vacuum_analyze()
            load = os.getloadavg()[0]
            notes.append(
                f"{_label(size)}: {rows:,} rows grown in {took:,.0f} s, "
                f"recount {recount_took:,.1f} s "
                f"(counters {'equal the rows' if exact else 'DIFFER FROM THE ROWS'}), "
                f"VACUUM (ANALYZE) {vacuum_took:,.0f} s, load average {load:.1f} on "
                f"{os.cpu_count()} cores"
            )
            print(f"   {notes[-1]}", flush=True)
            if not exact:
                raise SystemExit("the counters differ from the rows after recount()")
            if not measured:
                measured = reads(ids)
            for read in measured:
                time_read(read, size, ids)
    finally:
        stack.stop()
    print_table(measured, sorted(SIZES), notes)
    (bench.OUT / "scale.json").write_text(
        json.dumps(
            {
                "sizes": sorted(SIZES),
                "notes": notes,
                "reads": [
                    {"name": r.name, "url": r.url, "p50": r.p50, "p99": r.p99, "n": r.n}
                    for r in measured
                ],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
