"""The sweeper: work lost from Redis is handed out again from the database
(at the next sweep when its job is gone, past the deadline when it is stuck),
and orders whose rows are all final are closed."""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from redis.exceptions import RedisError
from rq import Queue
from rq.job import Job, JobStatus
from sqlalchemy import update

from jobs import tasks
from jobs.connection import MAINTENANCE_QUEUE, REGISTRATION_LANES
from tenants import db
from tenants.models import Order
from tenants.registration import counters
from tenants.scoping import unscoped
from tests.factories import assert_counters_exact, device, devices, new_tenant, order_of, submit
from tests.http import metric_samples, metric_value


def run_sweep(redis_connection, run_worker) -> None:
    Queue(MAINTENANCE_QUEUE, connection=redis_connection).enqueue(tasks.sweep)
    run_worker()


def handed_out_ago(order_id: str, seconds: float) -> None:
    """As if the order had been handed to the queue that long ago."""
    with unscoped("test: age an order"), db.transaction() as session:
        session.execute(
            update(Order)
            .where(Order.id == uuid.UUID(order_id))
            .values(enqueued_at=datetime.now(UTC) - timedelta(seconds=seconds))
            .execution_options(synchronize_session=False)
        )


def enqueued_at(order_id: str):
    with unscoped("test: read an order"), db.transaction() as session:
        return session.get(Order, uuid.UUID(order_id)).enqueued_at


def test_work_lost_from_redis_is_handed_out_at_the_next_sweep(
    api, world, redis_connection, run_worker
):
    run_worker()
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    response = world.submit(partner, tenant, [device() for _ in range(120)])
    location, order_id = response.headers["Location"], response.json()["id"]
    redis_connection.flushdb()  # Redis lost everything it knew

    run_worker()
    assert api.get(location, token=partner.token).json()["counts"]["by_state"] == {
        "registration_pending": 120
    }
    # An order handed out a moment ago may still be on its way to the queue ...
    run_sweep(redis_connection, run_worker)
    assert api.get(location, token=partner.token).json()["completed_at"] is None

    # ... a minute later, far before the pending deadline (300 s), the chunks
    # whose jobs Redis no longer has are handed out again and processed.
    handed_out_ago(order_id, 60)
    before = metric_value(metric_samples(api), "partner_api_sweeper_recovered_chunks_total")
    run_sweep(redis_connection, run_worker)
    recovered = metric_value(metric_samples(api), "partner_api_sweeper_recovered_chunks_total")
    assert recovered - before == 3  # its three chunks, counted for /metrics

    order = api.get(location, token=partner.token).json()
    assert order["status"] == "completed"
    assert order["counts"]["by_state"] == {"ready_for_user": 120}


def test_work_still_queued_is_not_handed_out_twice(
    api, world, redis_connection, run_worker, lane_of
):
    run_worker()
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    response = world.submit(partner, tenant, [device() for _ in range(120)])
    handed_out_ago(response.json()["id"], 60)  # before the deadline
    registrations = lane_of(response.json()["id"])
    queued = registrations.get_job_ids()
    assert len(queued) == 3

    assert tasks.sweep()["chunks_requeued"] == 0
    assert registrations.get_job_ids() == queued

    run_worker()
    order = api.get(response.headers["Location"], token=partner.token).json()
    assert order["counts"]["by_state"] == {"ready_for_user": 120}


def test_an_order_that_never_reached_redis_is_marked_and_swept(
    api, world, settings, redis_connection, run_worker
):
    run_worker()
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    response = world.submit(partner, tenant, [device() for _ in range(60)])
    order_id = response.json()["id"]
    redis_connection.flushdb()
    assert enqueued_at(order_id) is not None

    # The after-COMMIT enqueue, against a Redis that refuses connections.
    unreachable = dataclasses.replace(settings, redis_url="redis://127.0.0.1:9/0")
    with pytest.raises(RedisError):
        order = order_of(uuid.UUID(order_id))
        tasks.enqueue_order(unreachable, order, [(0, 50), (50, 60)], "req-x")
    assert enqueued_at(order_id) is None

    # The very next sweep hands it out (no waiting for any deadline).
    assert tasks.sweep()["chunks_requeued"] == 2
    run_worker()
    order = api.get(response.headers["Location"], token=partner.token).json()
    assert order["counts"]["by_state"] == {"ready_for_user": 60}


def test_an_order_whose_rows_are_final_is_closed(
    api, world, redis_connection, run_worker, monkeypatch
):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    response = world.submit(partner, tenant, [device(), {"hardware_hash": "bad"}])
    run_worker()
    order_id = uuid.UUID(response.json()["id"])
    # As if the worker died between settling the rows and closing the order
    # (its counters as that worker would have left them).
    with unscoped("test: reopen an order"), db.transaction() as session:
        order = session.get(Order, order_id)
        counters.order_status_changed(session, order, order.status, "processing")
        order.status, order.completed_at = "processing", None
    monkeypatch.setenv("PENDING_DEADLINE_SECONDS", "0")

    run_sweep(redis_connection, run_worker)

    order = api.get(response.headers["Location"], token=partner.token).json()
    assert order["status"] == "completed_with_errors"
    assert order["completed_at"] is not None
    assert_counters_exact([tenant.id])


def test_the_sweep_schedules_the_next_one(settings, redis_connection):
    from rq.registry import ScheduledJobRegistry

    tasks.schedule_sweep(settings)
    tasks.schedule_sweep(settings)  # a second worker asking: still one sweep per slot

    # Periodic sweeps are named by their slot; sweeps asked for by a worker
    # that found Redis emptied ("sweep-soon-...") and slots already past are
    # other tests' business.
    registry = ScheduledJobRegistry(MAINTENANCE_QUEUE, connection=redis_connection)
    interval = max(1, settings.sweep_interval_seconds)
    upcoming = [
        job_id
        for job_id in registry.get_job_ids()
        if re.fullmatch(r"sweep-\d+", job_id) and int(job_id[6:]) * interval > time.time()
    ]
    assert len(upcoming) == 1


def test_only_the_chunks_still_pending_are_handed_out_again_on_the_organisations_lane(
    settings, redis_connection, run_worker, lane_of
):
    run_worker()
    result = submit(new_tenant(), devices(120))  # chunks of 50: three
    order = result.order
    tasks.enqueue_order(settings, order, result.chunks, order.request_id)
    run_worker(max_jobs=1)  # the first chunk is done ...
    redis_connection.flushdb()  # ... then Redis loses the other two
    handed_out_ago(str(order.id), 60)

    assert tasks.sweep()["chunks_requeued"] == 2

    requeued = Job.fetch(f"chunk-{order.id}-50", connection=redis_connection)
    lane = Queue(requeued.origin, connection=redis_connection)
    assert lane.name in REGISTRATION_LANES
    assert lane.get_job_ids() == [
        f"chunk-{order.id}-50",
        f"chunk-{order.id}-100",
    ]
    run_worker()
    closed = order_of(order.id)
    assert (closed.status, closed.completed_at is not None) == ("completed", True)


def test_a_chunk_a_dead_worker_took_off_the_queue_is_handed_out_once_overdue(
    settings, redis_connection, run_worker, lane_of
):
    run_worker()
    result = submit(new_tenant(), devices(60))  # chunks of 50: two
    order = result.order
    tasks.enqueue_order(settings, order, result.chunks, order.request_id)
    registrations = lane_of(order.id)
    taken = f"chunk-{order.id}-0"
    # Dequeued by a worker killed before it started the job: the job is still
    # marked queued, but no queue holds it any more.
    redis_connection.lrem(registrations.key, 0, taken)
    assert Job.fetch(taken, connection=redis_connection).get_status() == JobStatus.QUEUED

    handed_out_ago(str(order.id), 60)  # before the deadline: Redis still has the job
    assert tasks.sweep()["chunks_requeued"] == 0

    handed_out_ago(str(order.id), settings.pending_deadline_seconds + 60)
    # Past it: the lost chunk goes out again; the one still waiting does not.
    assert tasks.sweep()["chunks_requeued"] == 1
    assert registrations.get_job_ids() == [f"chunk-{order.id}-50", taken]

    run_worker()
    assert order_of(order.id).status == "completed"


def test_a_bulk_action_whose_job_redis_lost_is_handed_out_again(
    api, world, redis_connection, run_worker
):
    from tenants.models import BulkAction
    from tenants.registration import bulk
    from tests.factories import device_states, registered_devices

    run_worker()
    tenant = world.tenant()
    ids = registered_devices(tenant, 40)
    response = api.post(
        "/v1/customer/devices/bulk-deregister", token=tenant.token, json={"ids": ids}
    )
    assert response.json()["status"] == "queued"
    bulk_id = uuid.UUID(response.json()["id"])
    redis_connection.flushdb()  # Redis lost the job

    run_sweep(redis_connection, run_worker)  # created a moment ago: not yet
    assert set(device_states(ids).values()) == {"ready_for_user"}
    with unscoped("test: age a bulk action"), db.transaction() as session:
        session.execute(
            update(BulkAction)
            .where(BulkAction.id == bulk_id)
            .values(created_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    run_sweep(redis_connection, run_worker)
    done = api.get(f"/v1/customer/bulk-actions/{bulk_id}", token=tenant.token).json()
    assert (done["status"], done["succeeded"]) == (bulk.COMPLETED, 40)
    assert set(device_states(ids).values()) == {"deregistered"}
    assert_counters_exact([tenant.id])
