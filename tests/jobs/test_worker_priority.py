"""Workers give way to the API: they run at ``WORKER_NICE``."""

from __future__ import annotations

import os

from tests.processes import start_worker, stop_all, wait_until


def _niceness(pid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, pid)


def test_a_worker_lowers_its_priority_to_the_configured_niceness(settings, redis_connection):
    # Never below what it started with (this test's own), which it inherits.
    wanted = max(7, _niceness(0))
    worker = start_worker(settings, WORKER_NICE="7")
    try:
        wait_until(lambda: _niceness(worker.pid) == wanted, timeout=30, what="its niceness")
    finally:
        stop_all([worker])
    assert worker.returncode is not None
