"""RQ task functions: they take IDs, call tenants/, and re-raise on failure so
RQ's retry works. The database, not the job result, is what users read."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Protocol

from redis import Redis
from rq import Queue, Retry, get_current_job
from rq.job import Job

from config import logging as log_context
from config.settings import Settings
from jobs import job_metrics, lanes, webhooks
from jobs.connection import MAINTENANCE_QUEUE, connect, job_waiting, queue
from tenants import db
from tenants.operations import maintenance
from tenants.registration import bulk, processing

log = logging.getLogger(__name__)

CHUNK_TIMEOUT = 600  # seconds a chunk may run before RQ kills it
RESULT_TTL = 3600
FAILURE_TTL = 7 * 24 * 3600
RETRY = Retry(max=5, interval=[1, 5, 15, 60, 300])
# A bulk action runs in one job, a batch per transaction (tenants/registration/bulk.py).
BULK_ACTION_TIMEOUT = 3600


def process_chunk(order_id: str, start: int, stop: int, request_id: str | None = None) -> dict:
    """The job for one chunk of an order: tenants/registration/processing.py
    registers its rows. Jobs already queued name this function by its dotted
    path (``jobs.tasks.process_chunk``), so the name stays."""
    job = get_current_job()
    started = time.perf_counter()
    outcome = "failed"
    try:
        result = _run_chunk(job, order_id, start, stop, request_id)
        outcome = "succeeded"
        return result
    finally:
        if job is not None:
            try:
                job_metrics.observe_job(job.connection, time.perf_counter() - started, outcome)
            except Exception as exc:  # metrics must never fail the work
                # Usually Redis going away mid-job, which the worker reports
                # on its own: one line, no traceback.
                log.warning("could not record the job duration: %s: %s", type(exc).__name__, exc)


def _run_chunk(job, order_id: str, start: int, stop: int, request_id: str | None) -> dict:
    with log_context.bound(
        request_id=request_id, job_id=job.id if job else None, order_id=order_id
    ):
        try:
            report = processing.register_chunk(
                uuid.UUID(order_id), start, stop, request_id=request_id
            )
        except Exception:
            if job is not None and job.retries_left:
                raise  # RQ retries the chunk with backoff
            # Every attempt failed: settle the rows one by one instead.
            report = processing.register_rows_one_by_one(
                uuid.UUID(order_id),
                start,
                stop,
                request_id=request_id,
                job_id=job.id if job else None,
                attempt=_attempt(job),
            )
    return {"processed": report.processed, "order_status": report.order_status}


def _attempt(job) -> int:
    """1 for the first run of a job, counting retries."""
    if job is None or job.retries_left is None:
        return 1
    return RETRY.max - job.retries_left + 1


def sweep() -> dict:
    """The periodic sweep (see tenants/operations/maintenance.py), then the next one scheduled."""
    settings = Settings.from_env()
    with db.transaction() as session:
        result = maintenance.sweep(
            session,
            deadline=timedelta(seconds=settings.pending_deadline_seconds),
            chunk_size=settings.order_chunk_size,
        )
    connection = connect(settings)
    requeued = orders_requeued = 0
    for order in result.unfinished:
        chunks = _lost(connection, order.order_pk, order.chunks, past_deadline=order.past_deadline)
        if not chunks:
            continue
        log.warning(
            "re-enqueueing pending work past its deadline"
            if order.past_deadline
            else "re-enqueueing pending work whose job Redis lost",
            extra={"order_id": str(order.order_pk), "chunks": len(chunks)},
        )
        owner = lanes.organisation(order.tenant_id, order.partner_id)
        enqueue_chunks(settings, order.order_pk, chunks, order.request_id, owner)
        requeued += len(chunks)
        orders_requeued += 1
    job_metrics.count_recovered(connection, requeued)
    deliveries_requeued = webhooks.sweep(settings, connection, grace=maintenance.JUST_ENQUEUED)
    bulk_requeued = 0
    for bulk_action_id, tenant_id in result.bulk_actions:
        if Job.exists(_bulk_job_id(bulk_action_id), connection=connection):
            continue  # queued, running, or failed for good (kept for support)
        log.warning(
            "re-enqueueing a bulk action whose job Redis lost",
            extra={"bulk_action_id": str(bulk_action_id)},
        )
        enqueue_bulk_action(settings, bulk_action_id, tenant_id)
        bulk_requeued += 1
    schedule_sweep(settings)
    return {
        "webhook_deliveries_requeued": deliveries_requeued,
        "orders_requeued": orders_requeued,
        "chunks_requeued": requeued,
        "orders_finalized": result.finalized,
        "idempotency_keys_purged": result.keys_purged,
        "bulk_actions_requeued": bulk_requeued,
        "devices_gone_inactive": result.gone_inactive,
    }


def _lost(
    connection: Redis, order_id: uuid.UUID, chunks: list[tuple[int, int]], *, past_deadline: bool
) -> list[tuple[int, int]]:
    """The chunks to hand out again. Job IDs are fixed, so a chunk whose job
    Redis no longer has is lost at once. Past the deadline, so is a chunk whose
    job is not really waiting: failed, finished, held by a worker that died,
    or marked queued but taken off the queue by a worker that died before
    starting it."""
    ids = [_chunk_job_id(order_id, start) for start, _ in chunks]
    jobs = Job.fetch_many(ids, connection=connection)
    return [
        chunk
        for chunk, job in zip(chunks, jobs, strict=True)
        if job is None or (past_deadline and not job_waiting(job))
    ]


def _chunk_job_id(order_id: uuid.UUID, start: int) -> str:
    return f"chunk-{order_id}-{start}"


def schedule_sweep(settings: Settings) -> None:
    """Schedule the next sweep. Every worker calls this; the job ID names the
    time slot, so however many workers ask, one sweep runs per interval."""
    interval = max(1, settings.sweep_interval_seconds)
    slot = int(time.time() // interval) + 1
    job_id = f"sweep-{slot}"
    q = queue(settings, MAINTENANCE_QUEUE)
    if Job.exists(job_id, connection=q.connection):
        return
    q.enqueue_at(
        datetime.fromtimestamp(slot * interval, UTC),
        sweep,
        job_id=job_id,
        job_timeout=CHUNK_TIMEOUT,
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
    )


def sweep_soon(settings: Settings) -> None:
    """A sweep soon, on top of the periodic ones: a worker asks for it when it
    finds that Redis lost its data, so lost work resumes at once rather than
    at the next interval. It runs just after the sweep's grace for orders
    handed out a moment ago, so those lost with the data are seen too. One
    per sweep interval, however many workers ask."""
    interval = max(1, settings.sweep_interval_seconds)
    job_id = f"sweep-soon-{int(time.time() // interval)}"
    q = queue(settings, MAINTENANCE_QUEUE)
    if Job.exists(job_id, connection=q.connection):
        return
    q.enqueue_in(
        maintenance.JUST_ENQUEUED + timedelta(seconds=1),
        sweep,
        job_id=job_id,
        job_timeout=CHUNK_TIMEOUT,
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
    )


class SubmittedOrder(Protocol):
    """What the queue needs of a stored order (a ``tenants.models.Order``)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def tenant_id(self) -> uuid.UUID: ...
    @property
    def partner_id(self) -> uuid.UUID | None: ...


def enqueue_order(
    settings: Settings, order: SubmittedOrder, chunks: list[tuple[int, int]], request_id: str
) -> None:
    """Hand a just-committed order to the queue (an after-COMMIT hook), on
    its organisation's lane (jobs/lanes.py). When Redis cannot take it, the
    order is marked not handed out, so the next sweep hands it out without
    waiting for the pending deadline."""
    owner = lanes.organisation(order.tenant_id, order.partner_id)
    try:
        enqueue_chunks(settings, order.id, chunks, request_id, owner)
    except Exception:
        with db.transaction() as session:
            maintenance.mark_not_enqueued(session, order.id)
        raise


def enqueue_chunks(
    settings: Settings,
    order_id: uuid.UUID,
    chunks: list[tuple[int, int]],
    request_id: str,
    organisation: str,
) -> None:
    """The chunks' jobs, under their fixed IDs, on the lane ``organisation``
    holds (see ``jobs.lanes.organisation``)."""
    connection = connect(settings)
    q = Queue(lanes.lane_for(connection, organisation), connection=connection)
    q.enqueue_many(
        [
            q.prepare_data(
                process_chunk,
                args=(str(order_id), start, stop, request_id),
                job_id=_chunk_job_id(order_id, start),
                timeout=CHUNK_TIMEOUT,
                result_ttl=RESULT_TTL,
                failure_ttl=FAILURE_TTL,
                retry=RETRY,
            )
            for start, stop in chunks
        ]
    )


def run_bulk_action(bulk_action_id: str, tenant_id: str) -> dict:
    """The job for a bulk action on a tenant's devices. A retry resumes
    after the last committed batch."""
    job = get_current_job()
    with log_context.bound(job_id=job.id if job else None):
        done = bulk.run(uuid.UUID(bulk_action_id), uuid.UUID(tenant_id))
    return {"status": done.status if done else None, "done": done.done if done else 0}


def _bulk_job_id(bulk_action_id: uuid.UUID) -> str:
    return f"bulk-{bulk_action_id}"


def enqueue_bulk_action(
    settings: Settings, bulk_action_id: uuid.UUID, tenant_id: uuid.UUID
) -> None:
    """Hand a just-committed bulk action to the queue: on its organisation's
    lane, like its orders, so it shares the workers fairly with other
    organisations' work and never holds up the sweeper."""
    connection = connect(settings)
    owner = lanes.organisation(tenant_id, None)
    q = Queue(lanes.lane_for(connection, owner), connection=connection)
    q.enqueue(
        run_bulk_action,
        args=(str(bulk_action_id), str(tenant_id)),
        job_id=_bulk_job_id(bulk_action_id),
        job_timeout=BULK_ACTION_TIMEOUT,
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
        retry=RETRY,
    )
