"""Redis connection and queues, passed explicitly (no global connection stack).

The queues, in the order a worker looks at them (see jobs/lanes.py):

- ``maintenance`` (the sweeper) and ``webhooks`` (deliveries) first, always:
  small, periodic or time-sensitive work that must never wait behind rows.
- the registration lanes, served round-robin: each organisation's chunks go
  to a lane of their own while it has work queued, so a large order delays
  another organisation's order by about one chunk per busy organisation,
  not by its whole length.
- ``registrations``, the single queue of earlier releases: still drained,
  so chunks queued before an upgrade are not stranded; nothing new goes there.
"""

from __future__ import annotations

from functools import lru_cache

from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus

from config.settings import Settings
from jobs import embedded_redis

MAINTENANCE_QUEUE = "maintenance"
WEBHOOKS_QUEUE = "webhooks"
# Never behind bulk work: every worker takes from these first.
PRIORITY_QUEUES = (MAINTENANCE_QUEUE, WEBHOOKS_QUEUE)

# A fixed set: every worker listens to every lane from its start, and its
# scheduler moves the retries due on every lane (see jobs/lanes.py for why).
LANE_COUNT = 16
REGISTRATION_LANES = tuple(f"registrations-{lane}" for lane in range(LANE_COUNT))
REGISTRATIONS_QUEUE = "registrations"  # earlier releases' only queue: drained, never fed
BULK_QUEUES = (*REGISTRATION_LANES, REGISTRATIONS_QUEUE)

# Every queue a worker listens to (``partner-api worker`` and ``serve``).
QUEUE_NAMES = (*PRIORITY_QUEUES, *BULK_QUEUES)


def redis_url(settings: Settings) -> str:
    if settings.redis_url:
        return settings.redis_url
    return embedded_redis.ensure_running(settings.instance_path)


@lru_cache(maxsize=8)
def _connect(url: str) -> Redis:
    return Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)


def connect(settings: Settings) -> Redis:
    return _connect(redis_url(settings))


def queue(settings: Settings, name: str) -> Queue:
    return Queue(name, connection=connect(settings))


def queued_chunks(connection: Redis) -> int:
    """Chunk jobs waiting in every registration queue (lanes and the old queue)."""
    with connection.pipeline(transaction=False) as pipe:
        for name in BULK_QUEUES:
            pipe.llen(Queue(name, connection=connection).key)
        return sum(pipe.execute())


def job_waiting(job: Job) -> bool:
    """True when the job is really waiting to run: scheduled, deferred, or
    queued and on its queue (a worker that died after taking it off leaves
    it marked queued)."""
    status = job.get_status(refresh=False)
    if status in (JobStatus.SCHEDULED, JobStatus.DEFERRED):
        return True
    # Whichever queue it went to (for chunks, a lane, or the queue of an earlier release).
    waiting_in = Queue(job.origin, connection=job.connection)
    return status == JobStatus.QUEUED and waiting_in.get_job_position(job.id) is not None
