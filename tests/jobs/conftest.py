"""Fixtures of the job tests: faults the database really raises, the
scheduler's part in retries played on demand, and the lane an order's
chunks went to."""

from __future__ import annotations

import contextlib
import uuid

import pytest
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from sqlalchemy import text

from jobs.connection import BULK_QUEUES
from tenants import db
from tenants.ingest.hardware_hash import normalize_identity_part


@pytest.fixture
def refused_claims(settings):
    """``with refused_claims(serial):`` the database refuses to record a claim
    of that device (a trigger raises 'storage fault'), as a failing disk or a
    broken constraint would: the worker's transaction fails for real."""
    postgres = settings.database_url.startswith("postgresql")

    @contextlib.contextmanager
    def refusing(serial: str):
        name = f"refuse_{uuid.uuid4().hex[:12]}"
        # Serials from tests.factories.unique: letters, digits and dashes only.
        pattern = f"%\x1f{normalize_identity_part(serial)}"
        with db.engine().begin() as connection:
            if postgres:
                # DDL as the tables' owner, not the service's role.
                connection.execute(text("SET LOCAL ROLE NONE"))
                connection.execute(
                    text(
                        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                        "$$ BEGIN RAISE EXCEPTION 'storage fault'; END $$"
                    )
                )
                connection.execute(
                    text(
                        f"CREATE TRIGGER {name} BEFORE INSERT ON device_claims FOR EACH ROW "
                        f"WHEN (NEW.identity_key LIKE '{pattern}') EXECUTE FUNCTION {name}()"
                    )
                )
            else:
                connection.execute(
                    text(
                        f"CREATE TRIGGER {name} BEFORE INSERT ON device_claims "
                        f"WHEN NEW.identity_key LIKE '{pattern}' "
                        "BEGIN SELECT RAISE(ABORT, 'storage fault'); END"
                    )
                )
        try:
            yield
        finally:
            with db.engine().begin() as connection:
                if postgres:
                    connection.execute(text("SET LOCAL ROLE NONE"))
                connection.execute(
                    text(f"DROP TRIGGER {name}" + (" ON device_claims" if postgres else ""))
                )
                if postgres:
                    connection.execute(text(f"DROP FUNCTION {name}()"))

    return refusing


@pytest.fixture
def backoff_over(redis_connection):
    """Hand the chunks waiting for a retry to their queue now, as RQ's
    scheduler does once their backoff is over."""

    def release() -> int:
        released = 0
        for name in BULK_QUEUES:
            queue = Queue(name, connection=redis_connection)
            registry = ScheduledJobRegistry(queue=queue)
            for job_id in registry.get_job_ids():
                job = Job.fetch(job_id, connection=redis_connection)
                registry.remove(job)
                queue.enqueue_job(job)
                released += 1
        return released

    return release


@pytest.fixture
def lane_of(redis_connection):
    """``lane_of(order_id)``: the queue the order's first chunk was enqueued on."""

    def lane(order_id) -> Queue:
        job = Job.fetch(f"chunk-{order_id}-0", connection=redis_connection)
        return Queue(job.origin, connection=redis_connection)

    return lane
