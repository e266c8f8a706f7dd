"""The sweeper: work lost from Redis is handed out again from the database,
and orders whose rows are all final are closed."""

from __future__ import annotations

import uuid

from rq import Queue
from sqlalchemy import update

from jobs import tasks
from jobs.connection import MAINTENANCE_QUEUE
from tenants import db
from tenants.models import Order
from tenants.scoping import unscoped
from tests.api.test_metrics import scrape, value
from tests.helpers import device


def run_sweep(redis_connection, run_worker) -> None:
    Queue(MAINTENANCE_QUEUE, connection=redis_connection).enqueue(tasks.sweep)
    run_worker()


def test_orders_lost_from_redis_are_requeued_and_finish(
    api, world, redis_connection, run_worker, monkeypatch
):
    run_worker()
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    response = world.submit(partner, tenant, [device() for _ in range(120)])
    location = response.headers["Location"]
    redis_connection.flushdb()  # Redis lost everything it knew

    run_worker()
    assert api.get(location, token=partner.token).json()["counts"]["by_state"] == {
        "registration_pending": 120
    }
    # Before the deadline the sweep leaves it alone ...
    run_sweep(redis_connection, run_worker)
    assert api.get(location, token=partner.token).json()["completed_at"] is None

    # ... after it, the pending chunks are handed out again and processed.
    monkeypatch.setenv("PENDING_DEADLINE_SECONDS", "0")
    run_sweep(redis_connection, run_worker)
    recovered = value(scrape(api), "partner_api_sweeper_recovered_chunks_total")
    assert recovered >= 3  # its three chunks, counted for /metrics

    order = api.get(location, token=partner.token).json()
    assert order["status"] == "completed"
    assert order["counts"]["by_state"] == {"ready_for_user": 120}


def test_an_order_whose_rows_are_final_is_closed(
    api, world, redis_connection, run_worker, monkeypatch
):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    response = world.submit(partner, tenant, [device(), {"hardware_hash": "bad"}])
    run_worker()
    order_id = uuid.UUID(response.json()["id"])
    # As if the worker died between settling the rows and closing the order.
    with unscoped("test: reopen an order"), db.transaction() as session:
        session.execute(
            update(Order)
            .where(Order.id == order_id)
            .values(completed_at=None, status="processing")
            .execution_options(synchronize_session=False)
        )
    monkeypatch.setenv("PENDING_DEADLINE_SECONDS", "0")

    run_sweep(redis_connection, run_worker)

    order = api.get(response.headers["Location"], token=partner.token).json()
    assert order["status"] == "completed_with_errors"
    assert order["completed_at"] is not None


def test_the_sweep_schedules_the_next_one(settings, redis_connection):
    from rq.registry import ScheduledJobRegistry

    tasks.schedule_sweep(settings)
    tasks.schedule_sweep(settings)  # a second worker asking: still one sweep per slot

    registry = ScheduledJobRegistry(MAINTENANCE_QUEUE, connection=redis_connection)
    sweeps = [job_id for job_id in registry.get_job_ids() if job_id.startswith("sweep-")]
    assert len(sweeps) == 1
