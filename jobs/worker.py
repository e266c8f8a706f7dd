"""The RQ worker: registrations and maintenance queues, with the scheduler."""

from __future__ import annotations

import logging

from rq import Worker

from config.logging import configure_logging
from config.settings import Settings
from jobs.connection import QUEUE_NAMES, connect
from jobs.tasks import schedule_sweep
from tenants import db

log = logging.getLogger(__name__)


class RegistrationWorker(Worker):
    """An RQ worker that also keeps the periodic sweep scheduled."""

    def __init__(self, *args, settings: Settings, **kwargs) -> None:
        self.settings = settings
        super().__init__(*args, **kwargs)

    @property
    def dequeue_timeout(self) -> int:
        # Wake up at least once per sweep interval even when the queues are
        # empty (or were lost with a Redis restart), so maintenance -- and the
        # sweep that recovers lost work -- keeps running.
        return max(1, min(self.worker_ttl - 15, self.settings.sweep_interval_seconds))

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        try:
            schedule_sweep(self.settings)
        except Exception:  # the next maintenance round tries again
            log.exception("could not schedule the sweep")


def run(settings: Settings, *, burst: bool = False) -> None:
    configure_logging(settings.log_level)
    db.configure(settings.database_url)
    connection = connect(settings)
    worker = RegistrationWorker(
        list(QUEUE_NAMES),
        connection=connection,
        # Registries are cleaned (abandoned jobs found) and the sweep is
        # rescheduled this often.
        maintenance_interval=max(1, settings.sweep_interval_seconds),
        settings=settings,
    )
    schedule_sweep(settings)
    log.info("worker starting", extra={"queues": list(QUEUE_NAMES), "burst": burst})
    worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
