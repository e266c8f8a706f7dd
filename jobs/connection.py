"""Redis connection and queues, passed explicitly (no global connection stack)."""

from __future__ import annotations

from functools import lru_cache

from redis import Redis
from rq import Queue

from config.settings import Settings
from jobs import embedded_redis

# Separate queues by workload: bulk row processing must not delay maintenance.
REGISTRATIONS_QUEUE = "registrations"
MAINTENANCE_QUEUE = "maintenance"
QUEUE_NAMES = (REGISTRATIONS_QUEUE, MAINTENANCE_QUEUE)


def redis_url(settings: Settings) -> str:
    if settings.redis_url:
        return settings.redis_url
    return embedded_redis.ensure_running(settings.instance_path)


@lru_cache(maxsize=8)
def _connect(url: str) -> Redis:
    return Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)


def connect(settings: Settings) -> Redis:
    return _connect(redis_url(settings))


def queue(settings: Settings, name: str = REGISTRATIONS_QUEUE) -> Queue:
    return Queue(name, connection=connect(settings))
