"""Prometheus metrics at ``/metrics``.

- HTTP requests by route, method and status, and their latency, counted by
  each API process (with ``PROMETHEUS_MULTIPROC_DIR`` set, as
  config/gunicorn.py does, every process's counts are summed at a scrape).
- Rows by state and error code, and orders by status: read from the database
  at scrape time, so they are exact whichever process did the work.
- Queue depth: read from Redis at scrape time.
- Job durations and sweeper recoveries: the workers count them in Redis
  (jobs/job_metrics.py), read at scrape time.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
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
from sqlalchemy import func, select

from jobs import job_metrics
from jobs.connection import QUEUE_NAMES, connect
from tenants import db
from tenants.models import Order, Registration
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
    """What the database and Redis say, read at each scrape."""

    def __init__(self, settings) -> None:
        self.settings = settings

    def collect(self):
        rows = GaugeMetricFamily(
            "partner_api_registrations",
            "Registration rows by stored state and error code",
            labels=["state", "error_code"],
        )
        orders = GaugeMetricFamily("partner_api_orders", "Orders by status", labels=["status"])
        with unscoped("metrics: totals across tenants"), db.transaction() as session:
            for state, error_code, count in session.execute(
                select(Registration.state, Registration.error_code, func.count()).group_by(
                    Registration.state, Registration.error_code
                )
            ):
                rows.add_metric([state, error_code or ""], count)
            for status, count in session.execute(
                select(Order.status, func.count()).group_by(Order.status)
            ):
                orders.add_metric([status], count)
        yield rows
        yield orders

        connection = connect(self.settings)
        depth = GaugeMetricFamily(
            "partner_api_queue_depth", "Jobs waiting in each queue", labels=["queue"]
        )
        for name in QUEUE_NAMES:
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
