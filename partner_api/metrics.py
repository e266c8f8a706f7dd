"""Prometheus metrics at ``/metrics``, for the scraper that presents the
bearer token configured in ``METRICS_TOKEN`` (without one, ``/metrics`` is not
served: 404). A scrape without the token is refused before any work is done
and counts against its address's rate limit; a scrape with it is not limited.

- HTTP requests by route, method and status, and their latency, counted by
  each API process (with ``PROMETHEUS_MULTIPROC_DIR`` set, as
  config/gunicorn.py does, every process's counts are summed at a scrape).
- Rows by state and error code, and orders by status: read from the counters
  the database keeps as rows change (tenants/registration/counters.py), so
  they are exact whichever process did the work, and a scrape reads a few
  rows per tenant, however many registrations there are.
- Queue depth: read from Redis; ``registrations`` sums every registration
  lane (jobs/lanes.py).
- Job durations and sweeper recoveries: the workers count them in Redis
  (jobs/job_metrics.py).

The database and Redis figures are computed at most once per
``METRICS_CACHE_SECONDS`` in each process and reused by every scrape in
between: however often anyone scrapes, the cost stays the same.
"""

from __future__ import annotations

import hmac
import os
import threading
import time

from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from rq import Queue

from jobs import job_metrics
from jobs.connection import PRIORITY_QUEUES, connect, queued_chunks
from partner_api.errors import ApiError
from tenants import db
from tenants.registration import counters
from tenants.scoping import unscoped

HTTP_REQUESTS = Counter(
    "partner_api_http_requests_total",
    "HTTP requests answered, by route, method and status",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "partner_api_http_request_duration_seconds",
    "Time to answer an HTTP request, by route and method",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


class DomainCollector:
    """What the database and Redis say, computed at most once per
    ``metrics_cache_seconds``: concurrent scrapes wait for one computation and
    share it."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._families: list = []
        self._computed_at = float("-inf")

    def collect(self):
        with self._lock:
            if time.monotonic() - self._computed_at >= self.settings.metrics_cache_seconds:
                self._families = list(self._compute())
                self._computed_at = time.monotonic()
            return list(self._families)

    def _compute(self):
        rows = GaugeMetricFamily(
            "partner_api_registrations",
            "Registration rows by stored state and error code",
            labels=["state", "error_code"],
        )
        orders = GaugeMetricFamily("partner_api_orders", "Orders by status", labels=["status"])
        with unscoped("metrics: totals across tenants"), db.transaction() as session:
            for state, error_code, count in counters.registration_totals(session):
                rows.add_metric([state, error_code or ""], count)
            for status, count in counters.order_totals(session):
                orders.add_metric([status], count)
        yield rows
        yield orders

        connection = connect(self.settings)
        depth = GaugeMetricFamily(
            "partner_api_queue_depth", "Jobs waiting in each queue", labels=["queue"]
        )
        depth.add_metric(["registrations"], queued_chunks(connection))
        for name in PRIORITY_QUEUES:
            depth.add_metric([name], Queue(name, connection=connection).count)
        yield depth

        snapshot = job_metrics.read(connection)
        durations = HistogramMetricFamily(
            "partner_api_job_duration_seconds",
            "Time a chunk job took, by outcome",
            labels=["outcome"],
        )
        for outcome, (buckets, total) in snapshot.durations.items():
            durations.add_metric([outcome], buckets=buckets, sum_value=total)
        yield durations
        recovered = CounterMetricFamily(
            "partner_api_sweeper_recovered_chunks",
            "Chunks the sweeper handed out again after their work was lost",
        )
        recovered.add_metric([], snapshot.recovered_chunks)
        yield recovered


def _route() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else "unmatched"


def _start() -> None:
    g.metrics_started = time.perf_counter()


def _observe(response: Response) -> Response:
    route, method = _route(), request.method
    HTTP_REQUESTS.labels(route, method, str(response.status_code)).inc()
    started = g.get("metrics_started")
    if started is not None:
        HTTP_LATENCY.labels(route, method).observe(time.perf_counter() - started)
    return response


def is_scraper() -> bool:
    """The request carries the configured metrics token."""
    expected = current_app.extensions["partner_api.settings"].metrics_token
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    return (
        bool(expected)
        and scheme.lower() == "bearer"
        and (hmac.compare_digest(presented.strip().encode(), expected.encode()))
    )


def require_scraper() -> None:
    """404 when no metrics token is configured, 401 without the right one."""
    if not current_app.extensions["partner_api.settings"].metrics_token:
        raise ApiError(
            404,
            "not_found",
            "Metrics are not served here: set METRICS_TOKEN to serve them to the scraper "
            "that presents it.",
        )
    if not is_scraper():
        raise ApiError(
            401,
            "missing_token",
            "Metrics need the scraper's token: send 'Authorization: Bearer <METRICS_TOKEN>'.",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )


def scrape(app: Flask) -> Response:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(HTTP_REQUESTS)
        registry.register(HTTP_LATENCY)
    registry.register(app.extensions["partner_api.metrics"])
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """Count every request; the ``/metrics`` route itself is in partner_api/ops.py."""
    app.extensions["partner_api.metrics"] = DomainCollector(app.extensions["partner_api.settings"])
    app.before_request(_start)
    app.after_request(_observe)
