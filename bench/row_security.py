"""What PostgreSQL's row-level security costs, measured in the data layer alone.

    python -m bench.row_security

``make bench`` runs the whole stack, where the noise of HTTP, CSV parsing and
hash decoding hides a difference of a few percent; this runs the statements
row security touches, in one process, alternately with the policies of
migration 0011 on and off (``ALTER TABLE ... DISABLE ROW LEVEL SECURITY``),
and prints the medians:

    1. writing an order's rows (``RegistrationWriter``: with row security,
       COPY into a temporary table and one checked INSERT ... SELECT;
       without, COPY straight into registrations)
    2. a page of 100 of the device list and its count, for a tenant holding
       every row written in 1
    3. the round trip that puts the scope's settings in place, paid once per
       transaction (on or off)

It recreates the database of ``BENCH_DATABASE_URL`` (default: ``bench``).
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Callable

import psycopg
from psycopg import sql
from sqlalchemy import text

ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench")
ROWS = int(os.environ.get("BENCH_ROWS", "20000"))  # per order
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
TABLES = ("relationships", "orders", "registrations")


def _sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def recreate_database() -> None:
    name = sql.Identifier(psycopg.conninfo.conninfo_to_dict(URL)["dbname"])
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def row_security(on: bool) -> None:
    with psycopg.connect(URL, autocommit=True) as conn:
        for table in TABLES:
            for clause in ("ENABLE", "FORCE") if on else ("NO FORCE", "DISABLE"):
                conn.execute(
                    sql.SQL("ALTER TABLE {} " + clause + " ROW LEVEL SECURITY").format(
                        sql.Identifier(table)
                    )
                )


def write_order(tenant_id: uuid.UUID, partner_id: uuid.UUID) -> float:
    """Seconds to store one order's rows and commit."""
    from tenants import db
    from tenants.models import Order, utcnow
    from tenants.registration.orders import RegistrationWriter
    from tenants.scoping import Scope, scoped

    now = utcnow()
    tag = uuid.uuid4().hex[:8]
    with scoped(Scope.partner(partner_id)):
        started = time.perf_counter()
        with db.transaction() as session:
            order = Order(tenant_id=tenant_id, partner_id=partner_id, request_id=tag)
            session.add(order)
            session.flush()
            with RegistrationWriter(session) as writer:
                for index in range(ROWS):
                    serial = f"RLS-{tag}-{index:06d}"
                    writer.write(
                        {
                            "id": uuid.uuid4(),
                            "tenant_id": tenant_id,
                            "partner_id": partner_id,
                            "order_pk": order.id,
                            "request_id": tag,
                            "line_index": index,
                            "line": index + 2,
                            "manufacturer": "Contoso",
                            "model": "Laptop 7",
                            "serial_number": serial,
                            # About the size of a stored (decoded, compacted) hash.
                            "hardware_hash": os.urandom(1000),
                            "hardware_hash_length": 4000,
                            "identity_key": f"contoso|{serial}",
                            "state": "ready_for_user",
                            "registered_at": now,
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
            order.row_count = ROWS
        return time.perf_counter() - started


def list_read(tenant_id: uuid.UUID) -> float:
    """Milliseconds for the device list's first page of 100 and its count."""
    from tenants import db
    from tenants.registration import devices
    from tenants.scoping import Scope, scoped

    query = devices.DeviceQuery(include_failed=False)
    with scoped(Scope.tenant(tenant_id)):
        started = time.perf_counter()
        with db.transaction() as session:
            session.scalar(devices.device_count(query))
            devices.device_page(session, query, limit=100, offset=0)
        return (time.perf_counter() - started) * 1000


def scope_round_trip(tenant_id: uuid.UUID, times: int = 2000) -> float:
    """Microseconds the scope's settings take, once per transaction."""
    from tenants import db
    from tenants.scoping import Scope, scoped

    statement = text("SELECT 1")
    timings = {}
    for label, scope in (("without", None), ("with", Scope.tenant(tenant_id))):
        with db.engine().connect() as connection:
            started = time.perf_counter()
            for _ in range(times):
                if scope is None:
                    connection.execute(statement)
                else:
                    with scoped(scope):
                        connection.execute(statement)
                connection.commit()
            timings[label] = (time.perf_counter() - started) / times * 1e6
    return timings["with"] - timings["without"]


def measure(name: str, unit: str, runs: dict[bool, list[float]]) -> None:
    on, off = statistics.median(runs[True]), statistics.median(runs[False])
    print(
        f"  {name}: {on:,.2f} {unit} with row security, {off:,.2f} {unit} without "
        f"({(on / off - 1) * 100:+.1f} %)",
        flush=True,
    )


def main() -> None:
    from tenants import db
    from tenants.access import organisations
    from tenants.migrate import upgrade

    print(f"row security: {ROUNDS} rounds of {ROWS:,} rows, database {URL.rsplit('/', 1)[-1]}")
    recreate_database()
    upgrade(_sqlalchemy_url(URL))
    db.configure(_sqlalchemy_url(URL))
    partner = organisations.create_partner("Bench partner").id
    tenant = organisations.create_tenant("Bench customer").id
    organisations.activate_relationship(partner, tenant)

    def alternate(step: Callable[[], float]) -> dict[bool, list[float]]:
        runs: dict[bool, list[float]] = {True: [], False: []}
        for round_ in range(ROUNDS):
            for on in (True, False) if round_ % 2 == 0 else (False, True):
                row_security(on)
                runs[on].append(step())
        row_security(True)
        return runs

    print("1. an order's rows ...", flush=True)
    writes = alternate(lambda: write_order(tenant, partner))
    measure(f"{ROWS:,} rows written", "s", writes)
    rates = {on: [ROWS / s for s in values] for on, values in writes.items()}
    measure("rows/s", "rows/s", rates)

    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute("ANALYZE registrations, orders")
    print(f"2. device list of {2 * ROUNDS * ROWS:,} rows ...", flush=True)
    for _ in range(20):
        list_read(tenant)  # warm up
    reads = alternate(lambda: statistics.median(list_read(tenant) for _ in range(50)))
    measure("page of 100 and count", "ms", reads)

    print("3. the scope's settings ...", flush=True)
    cost = statistics.median(scope_round_trip(tenant) for _ in range(3))
    print(f"  one round trip per transaction: {cost:,.0f} µs", flush=True)


if __name__ == "__main__":
    main()
