"""The RQ worker: every queue (maintenance and webhooks first, then the
registration lanes round-robin: see jobs/lanes.py), with the scheduler.

RQ's worker retries a lost Redis only while it waits for a job. A connection
error while it watches a running job (heartbeats), records a job's end, or
runs its maintenance escapes its loop, and the worker quits; RQ's scheduler
process dies with a traceback. ``RegistrationWorker`` and
``RegistrationScheduler`` ride such an outage out and carry on when Redis is
back, under ``partner-api serve``, systemd or anything else. The database
keeps the work: whatever Redis lost, the sweeper hands out again.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.process import BaseProcess
from types import FrameType

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, Worker, worker_registration
from rq.exceptions import StopRequested
from rq.executions import Execution
from rq.job import Job
from rq.scheduler import ForkProcess, RQScheduler
from rq.worker import WorkerStatus
from sqlalchemy.orm import configure_mappers

from config.logging import configure_logging
from config.settings import Settings
from jobs import lanes
from jobs.connection import QUEUE_NAMES, connect
from jobs.tasks import schedule_sweep, sweep_soon
from tenants import db

log = logging.getLogger(__name__)

REDIS_UNREACHABLE = (RedisConnectionError, RedisTimeoutError)


def heartbeat_interval(settings: Settings) -> int:
    """Seconds between a worker's heartbeats, idle or busy. Never more than
    the sweep interval, so an idle worker also wakes up for maintenance."""
    return max(1, min(30, settings.sweep_interval_seconds))


def live_workers(connection: Redis, settings: Settings) -> int:
    """Workers that sent a heartbeat recently (two heartbeats missed: gone)
    and listen to every queue, as ``partner-api worker`` does: a worker of
    an earlier release, still running during an upgrade, serves none of the
    registration lanes, so it does not count."""
    cutoff = datetime.now(UTC) - timedelta(seconds=2 * heartbeat_interval(settings) + 5)
    live = 0
    for worker in Worker.all(connection=connection):
        beat = worker.last_heartbeat
        if beat is None or (beat if beat.tzinfo else beat.replace(tzinfo=UTC)) <= cutoff:
            continue
        if set(QUEUE_NAMES) <= set(worker.queue_names()):
            live += 1
    return live


class RegistrationScheduler(RQScheduler):
    """RQ's scheduler (moves due scheduled jobs, such as the sweep, to their
    queue), waiting for a lost Redis instead of dying."""

    # rq assigns _process None in __init__ without an annotation, so its type
    # would be None alone; it holds the scheduler's process once started.
    _process: BaseProcess | None  # type: ignore[assignment]

    def work(self) -> None:
        delay = 1.0
        while True:
            try:
                super().work()
                return
            except REDIS_UNREACHABLE as exc:
                if self._stop_requested:
                    return  # stopping anyway; its lock expires by itself
                log.warning(
                    "scheduler: Redis unreachable, retrying",
                    extra={"error": str(exc), "retry_in_seconds": delay},
                )
                time.sleep(delay)
                delay = min(delay * 2, RegistrationWorker.max_connection_wait_time)

    def start(self) -> BaseProcess:
        self._status = self.Status.STARTED
        self._connection = None  # a Redis connection must not cross the fork
        self._process = ForkProcess(target=_run_scheduler, args=(self,), name="Scheduler")
        self._process.start()
        return self._process


def _run_scheduler(scheduler: RegistrationScheduler) -> None:
    # RQ's own runner re-raises, and multiprocessing prints the traceback as
    # raw text; here it is one JSON log line and the worker starts it again.
    try:
        scheduler.work()
    except Exception:
        log.exception("scheduler stopped on an error; the worker starts it again")
        raise SystemExit(1) from None


class RegistrationWorker(Worker):
    """An RQ worker that keeps the periodic sweep scheduled and rides out
    Redis outages (see the module docstring)."""

    # Retry a lost Redis every few seconds at most, not every minute.
    max_connection_wait_time = 5.0

    def __init__(self, *args, settings: Settings, **kwargs) -> None:
        self.settings = settings
        kwargs.setdefault("job_monitoring_interval", heartbeat_interval(settings))
        super().__init__(*args, **kwargs)
        # RQ installs its stop handlers only after registering the worker and
        # starting the scheduler; a stop in between would kill the worker
        # without unregistering it. Until then a stop is noted, then obeyed.
        self._stop_before_start = False
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._note_early_stop)

    def _note_early_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stop_before_start = True

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        # RQ stops an idle worker by raising StopRequested from the signal
        # handler, wherever the worker is. Raised inside code that catches
        # every Exception (a log handler's emit, for one), it is lost, and a
        # worker retrying a lost Redis would then retry for ever. The flag
        # makes every wait of this class, and the next heartbeat, stop too.
        self._stop_requested = True
        super().request_stop(signum, frame)

    def reorder_queues(self, reference_queue: Queue) -> None:
        # Maintenance and webhooks first, then the lanes round-robin from the
        # one after the lane just served (jobs/lanes.py). RQ's own round_robin
        # strategy would rotate the maintenance queue behind the lanes too.
        self._ordered_queues = lanes.round_robin(self._ordered_queues, reference_queue)

    def _install_signal_handlers(self) -> None:
        super()._install_signal_handlers()
        if self._stop_before_start:
            self._stop_requested = True  # the work loop stops at its first turn

    @property
    def dequeue_timeout(self) -> int:
        # Wake up at least once per heartbeat even when the queues are empty
        # (or were lost with a Redis restart), so /readyz sees the worker and
        # maintenance -- and the sweep that recovers lost work -- keeps running.
        return heartbeat_interval(self.settings)

    def _start_scheduler(
        self, burst: bool = False, logging_level: str | None = "INFO", *_log_formats: str
    ) -> None:
        # RQ's own, with RegistrationScheduler (RQ has no setting for the class).
        self.scheduler = RegistrationScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            serializer=self.serializer,
        )
        try:
            self.scheduler.acquire_locks()
        except REDIS_UNREACHABLE as exc:
            # Redis went away as the worker started: RQ's maintenance starts
            # the scheduler (acquire_locks(auto_start=True)) once it is back.
            log.warning(
                "Redis unreachable; the scheduler starts when it is back",
                extra={"error": str(exc)},
            )
            return
        if not self.scheduler.acquired_locks:
            return  # another worker's scheduler holds the queues
        if burst:
            try:
                self.scheduler.register_birth()
                self.scheduler.enqueue_scheduled_jobs()
            finally:
                self.scheduler.release_locks()
                self.scheduler.register_death()
        else:
            self.scheduler.start()

    def run_maintenance_tasks(self) -> None:
        if self._stop_requested:
            return  # stopping: do not start the scheduler again
        try:
            super().run_maintenance_tasks()
            schedule_sweep(self.settings)
        except REDIS_UNREACHABLE as exc:
            self._wait_for_redis("maintenance", exc)
        except StopRequested:
            raise  # a stop signal arrived meanwhile: RQ's loop obeys it
        except Exception:  # the next maintenance round tries again
            log.exception("worker maintenance failed")

    def check_for_suspension(self, burst: bool) -> None:
        try:
            super().check_for_suspension(burst)
        except REDIS_UNREACHABLE as exc:
            self._wait_for_redis("checking for suspension", exc)

    def execute_job(self, job: Job, queue: Queue) -> None:
        try:
            super().execute_job(job, queue)
        except REDIS_UNREACHABLE as exc:
            # This class's heartbeats never raise, so the work horse has ended
            # (or never started): only RQ's record of the job's end is lost.
            # The rows the job settled are in the database; the sweeper hands
            # out any it did not.
            self._horse_pid = 0
            self._wait_for_redis(f"recording the end of job {job.id}", exc)

    def maintain_heartbeats(self, job: Job, execution: Execution) -> None:
        try:
            super().maintain_heartbeats(job, execution)
        except REDIS_UNREACHABLE as exc:
            log.warning(
                "Redis unreachable; the job goes on", extra={"job_id": job.id, "error": str(exc)}
            )

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        if self._stop_requested and self.get_state() != WorkerStatus.BUSY:
            # Idle and asked to stop (see request_stop): RQ's dequeue loop
            # beats before every attempt, so this ends its retrying too.
            raise StopRequested()
        if pipeline is not None:
            super().heartbeat(timeout, pipeline=pipeline)
            return
        try:
            super().heartbeat(timeout)
            if not self.connection.hexists(self.key, "birth"):
                self._register_again()
        except REDIS_UNREACHABLE as exc:
            log.warning("Redis unreachable; heartbeat skipped", extra={"error": str(exc)})

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        try:
            super().set_state(state, pipeline=pipeline)
        except REDIS_UNREACHABLE:
            self._state = state  # shown in Redis again with the next heartbeat

    def teardown(self) -> None:
        try:
            super().teardown()
        except REDIS_UNREACHABLE:
            log.warning("stopped without Redis; the worker's record there expires by itself")

    def _register_again(self) -> None:
        """Redis lost this worker's record (restarted without its data, or
        wiped): register again, and ask for a sweep soon rather than at the
        next interval, since whatever was queued is gone."""
        log.warning("Redis lost its data; registering again and sweeping for lost work soon")
        with self.connection.pipeline() as pipeline:
            pipeline.hset(self.key, mapping=self.serialize())
            pipeline.hset(self.key, "state", self.get_state())
            worker_registration.register(self, pipeline)
            pipeline.expire(self.key, self.worker_ttl + 60)
            pipeline.execute()
        schedule_sweep(self.settings)
        sweep_soon(self.settings)

    def _wait_for_redis(self, doing: str, exc: Exception) -> None:
        log.warning(
            "Redis unreachable; waiting for it to come back",
            extra={"while": doing, "error": str(exc)},
        )
        delay = 1.0
        while not self._stop_requested:
            try:
                self.connection.ping()
            except REDIS_UNREACHABLE:
                time.sleep(delay)
                delay = min(delay * 2, self.max_connection_wait_time)
                continue
            log.info("Redis is back; carrying on")
            self.heartbeat()
            return


def _lower_priority(niceness: int) -> None:
    """Take at least ``niceness``: chunks are throughput, a person waiting on
    the API or the portal is latency. (Only upward: lowering it needs
    privileges, and a process started nicer stays so.)"""
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if niceness > current:
        os.setpriority(os.PRIO_PROCESS, 0, niceness)


def run(settings: Settings, *, burst: bool = False) -> None:
    configure_logging(settings.log_level)
    _lower_priority(settings.worker_nice)
    db.configure(settings.database_url)
    # Once here rather than in every work horse: each job runs in a fork of
    # this process, which would otherwise set the ORM's mappers up again.
    configure_mappers()
    connection = connect(settings)
    worker = RegistrationWorker(
        # Workers started together do not all look at the same lane first.
        lanes.starting_order(QUEUE_NAMES, random.randrange(len(QUEUE_NAMES))),
        connection=connection,
        # Registries are cleaned (abandoned jobs found) and the sweep is
        # rescheduled this often.
        maintenance_interval=max(1, settings.sweep_interval_seconds),
        settings=settings,
    )
    schedule_sweep(settings)
    log.info("worker starting", extra={"queues": list(QUEUE_NAMES), "burst": burst})
    worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
