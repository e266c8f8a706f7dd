"""A worker rides out Redis going away in the middle of a job and carries on
when it is back, whatever runs it (here: nothing but the test). Redis is a
server of the test's own, crashed and started again empty."""

from __future__ import annotations

import dataclasses
import signal
import threading
import time

from redis import Redis
from rq import Queue
from rq.exceptions import StopRequested
from rq.job import Job, JobStatus

from jobs.connection import REGISTRATIONS_QUEUE
from jobs.worker import RegistrationWorker, live_workers
from tests.processes import (
    RedisServer,
    hold_until,
    json_log_problems,
    start_worker,
    stop_all,
    wait_until,
)


def test_a_worker_rides_out_redis_going_away_mid_job(settings, tmp_path):
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    connection = Redis.from_url(redis_server.url)
    log_path = tmp_path / "worker.log"
    # Heartbeats every second, so the outage also hits the job's monitoring.
    quick = dataclasses.replace(settings, sweep_interval_seconds=1)
    worker = start_worker(
        settings,
        log_path=log_path,
        REDIS_URL=redis_server.url,
        SWEEP_INTERVAL_SECONDS="1",
        LOG_LEVEL="INFO",
    )
    release = tmp_path / "release"
    try:
        queue = Queue(REGISTRATIONS_QUEUE, connection=connection)
        held = queue.enqueue(hold_until, str(release), job_id="held")
        wait_until(lambda: held.get_status(refresh=True) == JobStatus.STARTED, 60, "the job starts")

        redis_server.crash()
        time.sleep(2.5)  # heartbeats fail while the job runs
        release.touch()  # the job ends while Redis is away: its end cannot be recorded
        time.sleep(1.5)
        assert worker.poll() is None, log_path.read_text()
        redis_server.start()  # back, empty

        # The worker registers again and takes new work.
        wait_until(lambda: live_workers(connection, quick) == 1, 60, "the worker registers again")
        after = Queue(REGISTRATIONS_QUEUE, connection=connection).enqueue(
            hold_until, str(release), job_id="after"
        )
        wait_until(
            lambda: after.get_status(refresh=True) == JobStatus.FINISHED,
            60,
            "a job after the outage finishes",
        )
        assert Job.fetch("after", connection=connection).return_value() == "released"
        assert worker.poll() is None
    finally:
        stop_all([worker])
        redis_server.crash()

    assert worker.returncode == 0  # a clean stop, after all that
    log = log_path.read_text()
    assert "Redis unreachable" in log
    assert "Redis lost its data; registering again" in log
    assert json_log_problems(log) == []


def test_a_worker_waiting_for_redis_still_stops_on_request(settings, tmp_path):
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    connection = Redis.from_url(redis_server.url)
    log_path = tmp_path / "worker.log"
    quick = dataclasses.replace(settings, sweep_interval_seconds=1)
    worker = start_worker(
        settings, log_path=log_path, REDIS_URL=redis_server.url, SWEEP_INTERVAL_SECONDS="1"
    )
    try:
        wait_until(lambda: live_workers(connection, quick) == 1, 60, "the worker is up")
        redis_server.crash()
        wait_until(lambda: "Redis unreachable" in log_path.read_text(), 60, "the worker waits")
    finally:
        stop_all([worker])  # SIGTERM; a worker that ignored it would time out here

    assert worker.returncode == 0
    assert json_log_problems(log_path.read_text()) == []


def test_a_stop_lost_inside_a_catch_all_still_ends_the_wait_for_redis(settings, tmp_path):
    """RQ stops an idle worker by raising StopRequested from the signal
    handler. Code that catches every Exception (a log handler's emit) can
    swallow it; the worker must stop all the same, not retry Redis for ever."""
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    worker = RegistrationWorker(
        [REGISTRATIONS_QUEUE], connection=Redis.from_url(redis_server.url), settings=settings
    )
    redis_server.crash()
    try:
        worker.request_stop(signal.SIGTERM, None)
    except StopRequested:
        pass  # lost, as inside a catch-all
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.default_int_handler)

    outcome: list[BaseException] = []

    def next_turn_of_the_work_loop() -> None:
        worker.check_for_suspension(burst=False)  # must not wait for Redis
        try:
            worker.dequeue_job_and_maintain_ttl(1)  # must not retry Redis
        except BaseException as exc:  # noqa: BLE001 -- the outcome is the assertion
            outcome.append(exc)

    turn = threading.Thread(target=next_turn_of_the_work_loop, daemon=True)
    turn.start()
    turn.join(timeout=60)
    assert not turn.is_alive(), "the worker went on waiting for Redis after the stop"
    assert [type(exc) for exc in outcome] == [StopRequested]


def test_redis_lost_as_the_worker_starts_its_scheduler_does_not_end_the_worker(settings, tmp_path):
    """Registered, then Redis goes before the scheduler took its locks: the
    worker carries on (and starts the scheduler once Redis is back)."""
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    worker = RegistrationWorker(
        [REGISTRATIONS_QUEUE], connection=Redis.from_url(redis_server.url), settings=settings
    )
    redis_server.crash()
    worker._start_scheduler()  # no exception: Redis unreachable is waited out
    assert worker.scheduler is not None and worker.scheduler._process is None
