"""Chaos with real processes, PostgreSQL and Redis: workers killed with
SIGKILL at random moments, Redis flushed, Redis wiped and restarted under
``partner-api serve`` with the default settings, the database stopped, all
during a 20,000-row order. Every row must end final, no device claimed twice,
the counts exact.

Runs only against PostgreSQL and a Redis server (TEST_DATABASE_URL and
TEST_REDIS_URL), as CI does.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
import uuid

import pytest
import requests
from sqlalchemy import func, select

from tenants import db
from tenants.ingest.hardware_hash import build_hardware_hash
from tenants.models import DeviceClaim, Registration
from tenants.scoping import unscoped
from tests.factories import World, assert_counters_exact, unique
from tests.http import ApiClient
from tests.processes import (
    RedisServer,
    Serve,
    kill,
    scrape_metrics,
    start_worker,
    stop_all,
    wait_until,
)

ROWS = 20_000
# Short deadlines so the sweeper recovers lost work within the test.
CHAOS_ENV = {"SWEEP_INTERVAL_SECONDS": "1", "PENDING_DEADLINE_SECONDS": "4"}

pytestmark = pytest.mark.skipif(
    not (
        os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")
        and os.environ.get("TEST_REDIS_URL")
    ),
    reason="chaos tests need PostgreSQL and a Redis server (TEST_DATABASE_URL, TEST_REDIS_URL)",
)


@pytest.fixture
def workers(settings):
    started: list[subprocess.Popen] = []

    def start(count: int = 1) -> list[subprocess.Popen]:
        new = [start_worker(settings, **CHAOS_ENV) for _ in range(count)]
        started.extend(new)
        return new

    yield start, started
    stop_all(started)


def submit_big_order(world) -> tuple[object, str]:
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    prefix = unique("CHAOS")
    devices = [
        {"hardware_hash": build_hardware_hash("Contoso", "Laptop 7", f"{prefix}-{n}", padded=False)}
        for n in range(ROWS)
    ]
    response = world.submit(partner, tenant, devices)
    assert response.status_code == 202, response.text
    return partner, response.json()["id"]


def wait_until_final(api, partner, order_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            order = api.get(f"/v1/partner/orders/{order_id}", token=partner.token).json()
        except Exception:  # the database may be down for a moment
            time.sleep(0.5)
            continue
        if order.get("completed_at"):
            return order
        time.sleep(0.5)
    raise AssertionError(f"order {order_id} not final after {timeout}s: {order}")


def assert_exact(order: dict) -> None:
    assert order["status"] == "completed", order
    assert order["counts"] == {"by_state": {"ready_for_user": ROWS}, "by_error_code": {}}
    order_pk = uuid.UUID(order["id"])
    with unscoped("test: check claims across tenants"), db.transaction() as session:
        pending = session.scalar(
            select(func.count())
            .select_from(Registration)
            .where(Registration.order_pk == order_pk, Registration.state != "ready_for_user")
        )
        claims = session.scalar(
            select(func.count())
            .select_from(DeviceClaim)
            .join(Registration, Registration.id == DeviceClaim.registration_id)
            .where(Registration.order_pk == order_pk)
        )
        distinct_devices = session.scalar(
            select(func.count(func.distinct(Registration.identity_key))).where(
                Registration.order_pk == order_pk
            )
        )
    assert pending == 0
    assert claims == distinct_devices == ROWS  # one claim per device, none twice
    # The counters, kept by workers killed and retried: what counting the rows says.
    assert_counters_exact([uuid.UUID(order["tenant_id"])])


def test_workers_killed_at_random_moments(api, world, workers):
    start, running = workers
    partner, order_id = submit_big_order(world)
    start(2)
    rng = random.Random(20261123)
    for _ in range(5):
        time.sleep(rng.uniform(0.3, 1.5))
        alive = [p for p in running if p.poll() is None]
        victim = rng.choice(alive)
        kill(victim)  # SIGKILL: the worker and the job it was running
        start(1)

    assert_exact(wait_until_final(api, partner, order_id))


def test_redis_flushed_mid_order(api, world, workers, redis_connection):
    start, _ = workers
    partner, order_id = submit_big_order(world)
    start(2)
    time.sleep(1.5)

    redis_connection.flushdb()  # queued jobs, registries and the sweep schedule: gone

    assert_exact(wait_until_final(api, partner, order_id))


def test_redis_wiped_and_restarted_with_default_settings(settings, tmp_path, capsys):
    """The sweep interval (60 s) and pending deadline (300 s) as shipped: the
    work Redis lost resumes without waiting for the deadline. Prints the
    time to recover."""
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    serve = Serve(settings, tmp_path / "instance", REDIS_URL=redis_server.url)
    workers: list[subprocess.Popen] = []
    try:
        serve.start()
        defaults = {"ORDER_CHUNK_SIZE": "1000", "LOG_LEVEL": "INFO"}
        workers.append(start_worker(settings, REDIS_URL=redis_server.url, **defaults))
        spec = requests.get(serve.base_url + "/openapi.json", timeout=10).json()
        api = ApiClient(serve.base_url, spec)
        partner, order_id = submit_big_order(World(api))
        location = f"/v1/partner/orders/{order_id}"

        def settled() -> int:
            counts = api.get(location, token=partner.token).json()["counts"]["by_state"]
            return ROWS - counts.get("registration_pending", 0)

        wait_until(lambda: settled() > 0, 120, "the workers start on the order")
        redis_server.crash()  # queued chunks, registries, the sweep schedule: gone
        redis_server.start()
        wiped_at, settled_at_wipe = time.monotonic(), settled()

        def recovered_chunks() -> float:
            metrics = scrape_metrics(serve.base_url)
            for line in metrics.splitlines():
                if line.startswith("partner_api_sweeper_recovered_chunks_total "):
                    return float(line.split()[-1])
            return 0.0

        wait_until(recovered_chunks, 240, "the sweeper hands out the lost chunks")
        resumed_after = time.monotonic() - wiped_at
        order = wait_until_final(api, partner, order_id)
        final_after = time.monotonic() - wiped_at
        recovered = recovered_chunks()
    finally:
        stop_all(workers)
        serve.ensure_stopped()
        redis_server.crash()

    assert_exact(order)
    with capsys.disabled():
        print(
            f"\nRedis wiped and restarted with {ROWS - settled_at_wipe:,} of {ROWS:,} rows "
            f"pending (sweep interval 60 s, pending deadline 300 s): work handed out again "
            f"{resumed_after:.1f} s after the wipe ({recovered:.0f} chunks), order final "
            f"after {final_after:.1f} s"
        )


@pytest.mark.skipif(not shutil.which("pg_ctlcluster"), reason="needs pg_ctlcluster")
def test_database_unreachable_for_a_few_seconds(api, world, workers):
    start, _ = workers
    partner, order_id = submit_big_order(world)
    start(2)
    time.sleep(1.5)

    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "stop", "-m", "fast"],
        check=True,
    )
    try:
        time.sleep(4)
    finally:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=True
        )

    assert_exact(wait_until_final(api, partner, order_id))


def test_workers_killed_during_webhook_delivery(api, world, workers):
    """Workers killed while receivers hold their deliveries open: every event
    still arrives, and every copy of an event carries the event's one
    ``webhook-id``."""
    from tenants.models import WebhookDelivery
    from tests.events.receivers import Answer, Receiver

    slow = Receiver(answer=lambda request: Answer(200, delay=random.uniform(0.5, 1.5)))
    try:
        tenant = world.tenant()
        hook = api.post("/v1/customer/webhooks", token=tenant.token, json={"url": slow.url}).json()
        for _ in range(8):  # 16 events: each partner's request and its approval
            world.approved(world.partner(), tenant)
        start, _ = workers
        running = start(2)
        for _ in range(3):
            seen = len(slow.received)
            wait_until(
                lambda seen=seen: len(slow.received) > seen, 60, "a delivery reaches the receiver"
            )
            for victim in running:
                kill(victim)  # SIGKILL, mid-POST: the receiver is still answering
            running = start(2)

        def pending() -> int:
            with unscoped("test: every organisation's deliveries"), db.transaction() as session:
                return session.scalar(
                    select(func.count())
                    .select_from(WebhookDelivery)
                    .where(
                        WebhookDelivery.endpoint_id == uuid.UUID(hook["id"]),
                        WebhookDelivery.status != "succeeded",
                    )
                )

        wait_until(lambda: pending() == 0, 180, "every delivery succeeds")
        events = api.get("/v1/customer/events?page_size=100", token=tenant.token).json()
        assert len(events) == 16
        ids_by_event: dict[str, set[str]] = {}
        for request in list(slow.received):
            event = request.verified(hook["secret"])
            ids_by_event.setdefault(event["id"], set()).add(request.webhook_id)
        assert set(ids_by_event) == {e["id"] for e in events}  # none lost
        assert all(ids == {event_id} for event_id, ids in ids_by_event.items())
        # The deliveries cut off were sent again (at least once, not exactly once).
        assert len(slow.received) > len(events)
    finally:
        slow.close()
