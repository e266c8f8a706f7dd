"""Fair shares between organisations (jobs/lanes.py): each organisation with
work queued holds a registration lane of its own, and workers take the
maintenance queue first, then the lanes in turn. So another organisation's
small order, and the sweeper, never wait behind a large order's chunks."""

from __future__ import annotations

import itertools
import uuid

import pytest
from rq import Queue, Worker
from rq.job import Job, JobStatus

from jobs import lanes, tasks
from jobs.connection import (
    LANE_COUNT,
    MAINTENANCE_QUEUE,
    QUEUE_NAMES,
    REGISTRATION_LANES,
    REGISTRATIONS_QUEUE,
)
from jobs.worker import live_workers
from tests.factories import device, devices, unique
from tests.http import metric_samples, metric_value
from tests.processes import start_worker, stop_all, wait_until


@pytest.fixture
def idle_lanes(redis_connection, run_worker):
    """Every lane empty and unclaimed (other tests' work drained)."""
    run_worker()
    redis_connection.delete(lanes.LANES_KEY)


def organisation_with_home(home: int) -> str:
    """An organisation key whose hash names lane ``home``."""
    return next(
        key
        for key in (f"tenant:{uuid.uuid4()}" for _ in itertools.count())
        if lanes.home_lane(key) == home
    )


def claimed_long_ago(redis_connection, lane: str) -> None:
    redis_connection.hset(lanes.LANES_KEY, f"at:{REGISTRATION_LANES.index(lane)}", "0")


def test_an_organisation_keeps_its_lane_and_another_gets_another(redis_connection, idle_lanes):
    first, second = organisation_with_home(3), organisation_with_home(7)

    lane = lanes.lane_for(redis_connection, first)
    assert lane == REGISTRATION_LANES[3]  # an idle lane: the one its hash names
    assert lanes.lane_for(redis_connection, first) == lane
    assert lanes.lane_for(redis_connection, second) == REGISTRATION_LANES[7]


def test_organisations_whose_hashes_collide_still_get_lanes_of_their_own(
    redis_connection, idle_lanes
):
    one, other, third = (organisation_with_home(5) for _ in range(3))

    taken = lanes.lane_for(redis_connection, one)
    # Claimed a moment ago (its chunks on their way): not idle.
    assert lanes.lane_for(redis_connection, other) != taken
    # Claimed long ago, with chunks queued: not idle either.
    claimed_long_ago(redis_connection, taken)
    queued = Queue(taken, connection=redis_connection)
    redis_connection.rpush(queued.key, unique("queued"))
    try:
        assert lanes.lane_for(redis_connection, third) != taken
        assert lanes.lane_for(redis_connection, one) == taken
    finally:
        queued.empty()


def test_an_idle_lane_passes_to_another_organisation(redis_connection, idle_lanes):
    one, other = organisation_with_home(2), organisation_with_home(2)
    lane = lanes.lane_for(redis_connection, one)
    claimed_long_ago(redis_connection, lane)  # and nothing queued on it

    assert lanes.lane_for(redis_connection, other) == lane
    assert lanes.lane_for(redis_connection, one) != lane  # it claims another when it has work


def test_with_every_lane_busy_an_organisation_shares_the_lane_its_hash_names(
    redis_connection, idle_lanes
):
    holders = [organisation_with_home(n) for n in range(LANE_COUNT)]
    for holder in holders:
        lane = lanes.lane_for(redis_connection, holder)
        redis_connection.rpush(Queue(lane, connection=redis_connection).key, unique("busy"))
    try:
        latecomer = organisation_with_home(9)
        assert lanes.lane_for(redis_connection, latecomer) == REGISTRATION_LANES[9]
    finally:
        for lane in REGISTRATION_LANES:
            Queue(lane, connection=redis_connection).empty()


def test_workers_look_at_maintenance_first_then_at_the_lane_after_the_one_served(
    redis_connection,
):
    names = lanes.starting_order(["maintenance", "webhooks", "a", "b", "c"], 1)
    assert names == ["maintenance", "webhooks", "b", "c", "a"]
    queues = [Queue(name, connection=redis_connection) for name in names]

    after_b = lanes.round_robin(queues, queues[2])
    assert [q.name for q in after_b] == ["maintenance", "webhooks", "c", "a", "b"]
    after_maintenance = lanes.round_robin(after_b, after_b[0])
    assert [q.name for q in after_maintenance] == [q.name for q in after_b]


def test_a_small_order_and_the_sweep_do_not_wait_behind_a_large_order(
    api, world, settings, redis_connection, idle_lanes
):
    """One partner's order of 20 chunks is queued first, then another
    customer's 1-device order, then a sweep; only then does a real worker
    start. The small order and the sweep run before all but (at most) one of
    the large order's chunks: one queue, first in first out, ran them last."""
    partner, customer, other = world.partner(), world.tenant(), world.tenant()
    world.approved(partner, customer)
    chunk_size = settings.order_chunk_size
    response = world.submit(partner, customer, devices(20 * chunk_size))
    assert response.status_code == 202, response.text
    large = response.json()["id"]
    response = api.post("/v1/customer/orders", token=other.token, json={"devices": [device()]})
    assert response.status_code == 202, response.text
    small = response.json()["id"]
    sweep = Queue(MAINTENANCE_QUEUE, connection=redis_connection).enqueue(
        tasks.sweep, job_id=unique("sweep")
    )

    large_ids = [f"chunk-{large}-{start}" for start in range(0, 20 * chunk_size, chunk_size)]
    small_id = f"chunk-{small}-0"
    large_jobs = Job.fetch_many(large_ids, connection=redis_connection)
    small_job = Job.fetch(small_id, connection=redis_connection)
    assert {job.origin for job in large_jobs} == {large_jobs[0].origin}
    assert small_job.origin != large_jobs[0].origin  # a lane of its own

    worker = start_worker(settings)  # one worker, as `partner-api serve` runs
    try:
        wait_until(
            lambda: all(
                job is not None and job.get_status() == JobStatus.FINISHED
                for job in Job.fetch_many(
                    [*large_ids, small_id, sweep.id], connection=redis_connection
                )
            ),
            120,
            "every job finished",
        )
    finally:
        stop_all([worker])

    large_jobs = Job.fetch_many(large_ids, connection=redis_connection)
    small_job = Job.fetch(small_id, connection=redis_connection)
    sweep = Job.fetch(sweep.id, connection=redis_connection)
    assert sum(job.started_at < small_job.started_at for job in large_jobs) <= 1
    assert sum(job.started_at < sweep.started_at for job in large_jobs) == 0
    for order_id, token in ((large, partner.token), (small, other.token)):
        path = "/v1/partner/orders/" if order_id == large else "/v1/customer/orders/"
        assert api.get(path + order_id, token=token).json()["status"] == "completed"


def test_queue_depth_counts_the_chunks_on_every_lane(api, world, run_worker, idle_lanes):
    partner, customer, other = world.partner(), world.tenant(), world.tenant()
    world.approved(partner, customer)
    assert world.submit(partner, customer, devices(150)).status_code == 202  # 3 chunks
    response = api.post("/v1/customer/orders", token=other.token, json={"devices": devices(1)})
    assert response.status_code == 202

    depth = metric_samples(api)
    assert metric_value(depth, "partner_api_queue_depth", queue="registrations") == 4
    assert ("partner_api_queue_depth", (("queue", "maintenance"),)) in depth
    run_worker()
    depth = metric_samples(api)
    assert metric_value(depth, "partner_api_queue_depth", queue="registrations") == 0


def test_only_a_worker_that_serves_every_queue_makes_the_service_ready(settings, redis_connection):
    """A worker of a release before the lanes (the old queue alone) still
    sends heartbeats, but would leave every new order waiting."""
    before = live_workers(redis_connection, settings)
    old = Worker([REGISTRATIONS_QUEUE, MAINTENANCE_QUEUE], connection=redis_connection)
    current = Worker(list(QUEUE_NAMES), connection=redis_connection)
    old.register_birth()
    try:
        assert live_workers(redis_connection, settings) == before
        current.register_birth()
        assert live_workers(redis_connection, settings) == before + 1
    finally:
        old.register_death()
        current.register_death()
