"""Real worker processes for the tests that kill, race or starve them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from config.settings import Settings
from jobs.connection import redis_url

ROOT = Path(__file__).resolve().parent.parent


def worker_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """The environment of a worker on the same database and Redis as the tests."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=settings.database_url,
        REDIS_URL=redis_url(settings),
        INSTANCE_PATH=str(settings.instance_path),
        ORDER_CHUNK_SIZE=str(settings.order_chunk_size),
        LOG_LEVEL="WARNING",
    )
    env.update(overrides)
    return env


def start_worker(settings: Settings, *, burst: bool = False, **env: str) -> subprocess.Popen:
    """``partner-api worker`` in its own process group (the worker and its work horse)."""
    command = [sys.executable, "-m", "partner_api.cli", "worker"]
    if burst:
        command.append("--burst")
    # Its log goes to the instance folder, to read when a test fails.
    log = open(settings.instance_path / "workers.log", "ab")  # noqa: SIM115
    try:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=worker_env(settings, **env),
            start_new_session=True,
            stdout=log,
            stderr=log,
        )
    finally:
        log.close()


def kill(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Kill the worker and its work horse at once, as a crash or OOM kill would."""
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


def stop_all(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            kill(process, signal.SIGTERM)
