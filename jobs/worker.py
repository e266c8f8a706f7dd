"""The RQ worker: registrations and maintenance queues, with the scheduler."""

from __future__ import annotations

import logging

from rq import Worker

from config.logging import configure_logging
from config.settings import Settings
from jobs.connection import QUEUE_NAMES, connect
from tenants import db

log = logging.getLogger(__name__)


def run(settings: Settings, *, burst: bool = False) -> None:
    configure_logging(settings.log_level)
    db.configure(settings.database_url)
    connection = connect(settings)
    worker = Worker(list(QUEUE_NAMES), connection=connection)
    log.info("worker starting", extra={"queues": list(QUEUE_NAMES), "burst": burst})
    worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
