"""``partner-api serve``: the API (gunicorn with ``config/gunicorn.py``) and
one RQ worker, each a child process of one supervising parent.

The policy (the README's Operations section says why):

- gunicorn's master supervises its own web workers: one that dies is
  replaced, nothing else notices.
- A dead RQ worker is started again with backoff (1 s, doubling up to 30 s;
  back to 1 s once a worker has run for a minute). Meanwhile the API keeps
  taking orders, which wait in the database and Redis; ``/readyz`` says not
  ready until the new worker's first heartbeat.
- If the API itself (gunicorn's master) exits, there is nothing left to
  serve: the worker is stopped and ``serve`` exits non-zero, for whatever
  runs it (a terminal, systemd, a container runtime) to see.
- A stop (SIGINT from Ctrl-C, or SIGTERM) is passed on once to each child:
  gunicorn finishes the requests in flight, the worker finishes the job in
  hand. Only the parent cleans up (the caller stops the embedded Redis after
  ``supervise`` returns, once no child can still need it).

Each child runs in its own session, so a Ctrl-C in the terminal reaches the
parent alone and every child gets exactly one stop signal from it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from types import FrameType

log = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
# A worker that ran this long before it died was healthy: restart it at once.
HEALTHY_AFTER_SECONDS = 60.0
# How long a stopping child may take: gunicorn's graceful timeout is 30 s; a
# chunk of rows takes seconds. After that the worker is stopped cold (its job
# is returned to the queue by RQ's abandoned-job cleanup and the sweeper).
STOP_TIMEOUT_SECONDS = 45.0
POLL_SECONDS = 0.2


@dataclass
class Child:
    name: str
    command: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: float = FIRST_BACKOFF_SECONDS
    restart_at: float | None = None
    exit_codes: list[int] = field(default_factory=list)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Supervisor:
    def __init__(self, api_command: list[str], worker_command: list[str], env: dict[str, str]):
        self.api = Child("api", api_command)
        self.worker = Child("worker", worker_command)
        self.env = env
        self._stop_signal: int | None = None

    def start(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._request_stop)
        self._spawn(self.api)
        self._spawn(self.worker)

    def supervise(self) -> int:
        """Run until a stop signal (exit code 0) or until the API exits
        (its exit code, never 0). Every child has ended when this returns."""
        while self._stop_signal is None:
            if not self.api.running():
                code = self.api.process.returncode if self.api.process else 1
                log.error(
                    "the API exited; stopping everything",
                    extra={"exit_code": code, "pid": self.api.pid},
                )
                self._stop_all()
                return code or 1
            self._look_after_worker()
            time.sleep(POLL_SECONDS)
        log.info("stopping on request", extra={"signal": signal.Signals(self._stop_signal).name})
        self._stop_all()
        return 0

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stop_signal = signum

    def _spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(child.command, env=self.env, start_new_session=True)
        child.started_at = time.monotonic()
        child.restart_at = None

    def _look_after_worker(self) -> None:
        worker = self.worker
        now = time.monotonic()
        if worker.restart_at is not None:
            if now >= worker.restart_at:
                self._spawn(worker)
                log.warning("worker started again", extra={"pid": worker.pid})
            return
        if worker.running():
            return
        code = worker.process.returncode if worker.process else None
        _kill_group(worker, signal.SIGKILL)  # its scheduler, if it outlived it
        if now - worker.started_at >= HEALTHY_AFTER_SECONDS:
            worker.backoff = FIRST_BACKOFF_SECONDS
        delay = worker.backoff
        worker.backoff = min(worker.backoff * 2, MAX_BACKOFF_SECONDS)
        worker.restart_at = now + delay
        worker.exit_codes.append(code if code is not None else -1)
        log.error(
            "worker exited; starting it again after a pause",
            extra={"exit_code": code, "pid": worker.pid, "restart_in_seconds": delay},
        )

    def _stop_all(self) -> None:
        running = [
            (c, c.process) for c in (self.api, self.worker) if c.process is not None and c.running()
        ]
        for _, process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for child, process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error(
                    "did not stop in time; stopping it cold",
                    extra={"child": child.name, "pid": child.pid},
                )
                _kill_group(child, signal.SIGKILL)
                process.wait()
        for child in (self.api, self.worker):
            _kill_group(child, signal.SIGKILL)  # nothing of it may outlive serve


def _kill_group(child: Child, sig: int) -> None:
    if child.process is None:
        return
    try:
        os.killpg(child.process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
