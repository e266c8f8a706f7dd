"""Chunk jobs on a real Redis with a real RQ worker: enqueued under fixed IDs
with a retry policy; a chunk that fails is retried and its rows wait, still
pending; a chunk that fails every time settles its rows one by one; a chunk
run twice changes nothing."""

from __future__ import annotations

import pytest
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry

from jobs import lanes, tasks
from jobs.connection import REGISTRATION_LANES
from tenants import outcomes
from tenants.registration import orders
from tests.factories import (
    assert_counters_exact,
    device,
    new_tenant,
    order_of,
    registrations,
    submit,
    unique,
)


@pytest.fixture
def drained(run_worker) -> None:
    run_worker()  # other tests' leftovers out of the way


def stored_order(serials: list[str], chunk_size: int = 50):
    """A self-registered order of these devices, stored and not yet enqueued."""
    return submit(new_tenant(), [device(s) for s in serials], chunk_size=chunk_size)


def chunk_job(redis_connection, order_pk, start: int) -> Job:
    return Job.fetch(f"chunk-{order_pk}-{start}", connection=redis_connection)


def states(order_pk) -> list[tuple[str, str | None]]:
    return [(r.state, r.error_code) for r in registrations(order_pk)]


def test_chunks_are_enqueued_under_fixed_ids_with_the_retry_policy(
    settings, redis_connection, drained, run_worker, lane_of
):
    result = stored_order([unique("SN") for _ in range(3)], chunk_size=2)
    order = result.order

    tasks.enqueue_order(settings, order, result.chunks, order.request_id)

    lane = lane_of(order.id)
    assert lane.name in REGISTRATION_LANES
    assert lane.get_job_ids() == [f"chunk-{order.id}-0", f"chunk-{order.id}-2"]
    job = chunk_job(redis_connection, order.id, 2)
    assert job.args == (str(order.id), 2, 3, order.request_id)
    assert (job.retries_left, job.retry_intervals) == (5, [1, 5, 15, 60, 300])
    run_worker()
    assert states(order.id) == [(outcomes.READY, None)] * 3
    assert order_of(order.id).status == orders.COMPLETED


def test_a_failed_chunk_waits_for_its_retry_with_its_rows_pending_then_registers_them(
    settings, redis_connection, drained, run_worker, refused_claims, backoff_over, lane_of
):
    poisoned = unique("SN")
    result = stored_order([unique("SN"), poisoned, unique("SN")])
    order = result.order

    with refused_claims(poisoned):
        tasks.enqueue_order(settings, order, result.chunks, order.request_id)
        run_worker()

        job = chunk_job(redis_connection, order.id, 0)
        assert job.get_status() == JobStatus.SCHEDULED  # waiting out its first backoff
        assert job.retries_left == 4
        assert job.id not in FailedJobRegistry(queue=lane_of(order.id)).get_job_ids()
        # The whole chunk rolled back: no row was decided, the order is open.
        assert states(order.id) == [(outcomes.PENDING, None)] * 3
        assert order_of(order.id).completed_at is None
        assert_counters_exact([order.tenant_id])

    assert backoff_over() >= 1
    run_worker()

    job = chunk_job(redis_connection, order.id, 0)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == {"processed": 3, "order_status": orders.COMPLETED}
    assert states(order.id) == [(outcomes.READY, None)] * 3
    assert_counters_exact([order.tenant_id])


def test_a_chunk_that_fails_every_attempt_settles_its_rows_one_by_one(
    settings, redis_connection, drained, run_worker, refused_claims, backoff_over
):
    poisoned = unique("SN")
    result = stored_order([unique("SN"), poisoned, unique("SN")])
    order = result.order

    with refused_claims(poisoned):
        tasks.enqueue_order(settings, order, result.chunks, order.request_id)
        runs = 0
        while order_of(order.id).completed_at is None:
            assert runs < 1 + tasks.RETRY.max, "the chunk never settled"
            backoff_over()
            run_worker()
            runs += 1

    assert runs == 1 + tasks.RETRY.max  # the first run and every retry
    job = chunk_job(redis_connection, order.id, 0)
    assert job.get_status() == JobStatus.FINISHED  # settled, not failed
    assert job.return_value() == {
        "processed": 3,
        "order_status": orders.COMPLETED_WITH_ERRORS,
    }
    good, bad, other = registrations(order.id)
    assert (good.state, other.state) == (outcomes.READY, outcomes.READY)
    assert (bad.state, bad.error_code) == (outcomes.FAILED, outcomes.UNEXPECTED_ERROR)
    assert bad.message == outcomes.message(outcomes.UNEXPECTED_ERROR, request_id=order.request_id)
    # What support sees, and only support.
    assert bad.support_reference and bad.support_reference.startswith("ref-")
    assert bad.internal_error["job_id"] == job.id
    assert bad.internal_error["attempt"] == 1 + tasks.RETRY.max
    assert "storage fault" in bad.internal_error["message"]
    assert bad.internal_error["support_reference"] == bad.support_reference
    assert_counters_exact([order.tenant_id])


def test_a_chunk_run_twice_changes_nothing(settings, redis_connection, drained, run_worker):
    result = stored_order([unique("SN"), unique("SN")])
    order = result.order
    tasks.enqueue_order(settings, order, result.chunks, order.request_id)
    run_worker()
    first = {r.id: (r.state, r.registered_at, r.updated_at) for r in registrations(order.id)}

    # The same chunk again, as the sweeper hands out a chunk it believes lost.
    owner = lanes.organisation(order.tenant_id, order.partner_id)
    tasks.enqueue_chunks(settings, order.id, result.chunks, order.request_id, owner)
    run_worker()

    assert chunk_job(redis_connection, order.id, 0).return_value() == {
        "processed": 0,
        "order_status": None,
    }
    assert {r.id: (r.state, r.registered_at, r.updated_at) for r in registrations(order.id)} == (
        first
    )
    assert order_of(order.id).status == orders.COMPLETED
    assert_counters_exact([order.tenant_id])


def test_a_large_order_processed_by_a_worker_keeps_its_counters_exact(
    api, world, lane_of, run_worker
):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    rows = [device() for _ in range(140)] + [{"hardware_hash": "junk"}] * 3
    rows += [rows[0], rows[70]]  # the same devices again: duplicates in the order
    response = world.submit(partner, tenant, rows)
    assert response.status_code == 202, response.text
    order_id = response.json()["id"]
    assert len(lane_of(order_id).get_job_ids()) == 3  # chunks of 50

    run_worker()

    order = api.get(response.headers["Location"], token=partner.token).json()
    assert order["status"] == orders.COMPLETED_WITH_ERRORS
    assert order["counts"] == {
        "by_state": {outcomes.READY: 140, outcomes.FAILED: 5},
        "by_error_code": {outcomes.HARDWARE_HASH_INVALID: 3, outcomes.DUPLICATE_IN_ORDER: 2},
    }
    assert_counters_exact([tenant.id])
