"""RQ glue for webhook deliveries (tenants/events/delivery.py), on the
``webhooks`` queue, which every worker serves before any registration lane:
one slow receiver costs one job at most ``WEBHOOK_TIMEOUT_SECONDS``, never
another organisation's delivery its place behind a large order.

A delivery's job ID names its attempt (``webhook-<delivery>-<attempt>``), so
handing the same attempt out twice (an after-commit hook and the sweeper)
queues it once. Retries are scheduled here from what the attempt answered,
not by RQ's ``Retry``: the database holds when the next try is due, and the
sweeper hands out any due delivery whose job Redis lost or a dead worker held.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from redis import Redis
from rq import Queue
from rq.job import Job

from config import logging as log_context
from config.settings import Settings
from jobs.connection import WEBHOOKS_QUEUE, connect, job_waiting
from tenants import db
from tenants.events import delivery, outbox
from tenants.models import utcnow
from tenants.scoping import unscoped

log = logging.getLogger(__name__)

# The POST has its own budget; this bounds the job around it.
JOB_TIMEOUT = 120
RESULT_TTL = 3600
FAILURE_TTL = 7 * 24 * 3600


def policy(settings: Settings) -> delivery.Policy:
    return delivery.Policy(
        retry_delays=settings.webhook_retry_delays,
        timeout_seconds=settings.webhook_timeout_seconds,
        disable_after=settings.webhook_disable_after,
        allow_private=settings.webhook_allow_private,
    )


def deliver(delivery_id: str) -> dict:
    """The job for one attempt of one delivery; schedules the next when it failed."""
    settings = Settings.from_env()
    with log_context.bound(delivery_id=delivery_id):
        outcome = delivery.attempt(uuid.UUID(delivery_id), policy(settings))
    if outcome is None:
        return {"status": "skipped"}
    if outcome.retry_in is not None:
        enqueue(settings, uuid.UUID(delivery_id), outcome.attempt, delay=outcome.retry_in)
    return {"status": outcome.status, "attempt": outcome.attempt}


def _job_id(delivery_id: uuid.UUID, attempts_made: int) -> str:
    return f"webhook-{delivery_id}-{attempts_made + 1}"


def enqueue(
    settings: Settings, delivery_id: uuid.UUID, attempts_made: int = 0, *, delay: float = 0
) -> None:
    connection = connect(settings)
    q = Queue(WEBHOOKS_QUEUE, connection=connection)
    options = {
        "job_id": _job_id(delivery_id, attempts_made),
        "job_timeout": JOB_TIMEOUT,
        "result_ttl": RESULT_TTL,
        "failure_ttl": FAILURE_TTL,
    }
    if delay >= 1:
        q.enqueue_in(timedelta(seconds=delay), deliver, str(delivery_id), **options)
    else:
        q.enqueue(deliver, str(delivery_id), **options)


def _enqueue_new(ids: list[uuid.UUID]) -> None:
    settings = Settings.from_env()
    for delivery_id in ids:
        enqueue(settings, delivery_id)


# Deliveries a transaction created go out as soon as it commits.
outbox.on_new_deliveries(_enqueue_new)


def sweep(settings: Settings, connection: Redis, *, grace: timedelta) -> int:
    """Hand out again the deliveries due for longer than ``grace`` whose job
    is not waiting (Redis lost it, or a worker died holding it and its lease
    ran out); returns how many."""
    with unscoped("sweeper: due webhook deliveries of every organisation"):
        with db.transaction() as session:
            due = delivery.due(session, before=utcnow() - grace)
    if not due:
        return 0
    jobs = Job.fetch_many([_job_id(d, made) for d, made in due], connection=connection)
    lost = [
        (d, made)
        for (d, made), job in zip(due, jobs, strict=True)
        if job is None or not job_waiting(job)
    ]
    for delivery_id, made in lost:
        enqueue(settings, delivery_id, made)
    if lost:
        log.warning(
            "re-enqueueing webhook deliveries whose job was lost", extra={"count": len(lost)}
        )
    return len(lost)
