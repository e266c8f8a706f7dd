"""A /metrics scrape shows the counters moving after an order; only the
configured scraper gets one, and however many come, the database does the
same work."""

from __future__ import annotations

import threading

import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event

from tenants import db
from tests.factories import device
from tests.http import (
    METRICS_SCRAPER,
    assert_problem,
    metric_samples,
    metric_value,
    wait_for_order,
)


def test_metrics_move_after_an_order(api, world, run_worker):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    route = "/v1/partner/customers/<uuid:tenant_id>/orders"
    before = metric_samples(api)

    response = world.submit(partner, tenant, [device(), device(), {"hardware_hash": "junk"}])
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)
    after = metric_samples(api)

    assert order["status"] == "completed_with_errors"
    requests = "partner_api_http_requests_total"
    assert metric_value(after, requests, route=route, method="POST", status="202") == (
        metric_value(before, requests, route=route, method="POST", status="202") + 1
    )
    ready = dict(state="ready_for_user", error_code="")
    assert metric_value(after, "partner_api_registrations", **ready) >= (
        metric_value(before, "partner_api_registrations", **ready) + 2
    )
    invalid = dict(state="registration_failed", error_code="hardware_hash_invalid")
    assert metric_value(after, "partner_api_registrations", **invalid) >= (
        metric_value(before, "partner_api_registrations", **invalid) + 1
    )
    done = "partner_api_orders"
    assert metric_value(after, done, status="completed_with_errors") >= (
        metric_value(before, done, status="completed_with_errors") + 1
    )
    jobs = "partner_api_job_duration_seconds_count"
    succeeded = metric_value(after, jobs, outcome="succeeded")
    assert succeeded > metric_value(before, jobs, outcome="succeeded")
    assert metric_value(after, "partner_api_queue_depth", queue="registrations") == 0
    latency = "partner_api_http_request_duration_seconds_count"
    assert metric_value(after, latency, route=route, method="POST") >= 1


class StatementLog:
    """The SQL statements the app runs while the block is open."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def _record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.statements.append(statement)

    def __enter__(self) -> StatementLog:
        event.listen(db.engine(), "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(db.engine(), "before_cursor_execute", self._record)

    def totals(self) -> int:
        """How often the row totals across tenants were read."""
        return sum(1 for s in self.statements if "FROM registration_totals" in s)

    def counted_rows(self) -> list[str]:
        """The statements that read the registrations or orders tables themselves."""
        return [s for s in self.statements if "FROM registrations" in s or "FROM orders" in s]


def test_metrics_are_only_for_the_configured_scraper(api, serve):
    with StatementLog() as log:
        for header in ({}, {"Authorization": "Bearer guess"}, {"Authorization": "Basic eDp5"}):
            response = api.get("/metrics", headers=header)
            assert_problem(response, 401, "missing_token")
            assert "partner_api" not in response.text
    assert log.statements == []  # refused before any work

    unconfigured = serve(metrics_token="")
    response = requests.get(f"{unconfigured}/metrics", headers=METRICS_SCRAPER, timeout=30)
    assert_problem(response, 404, "not_found")


def test_anonymous_scrapes_count_against_their_address(settings, serve):
    limits = dict(settings.rate_limits, anonymous="5 per minute")
    base_url = serve(rate_limits=limits)
    statuses = [requests.get(f"{base_url}/metrics", timeout=30).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    # The scraper is not limited.
    scraper = [
        requests.get(f"{base_url}/metrics", headers=METRICS_SCRAPER, timeout=30).status_code
        for _ in range(8)
    ]
    assert scraper == [200] * 8


def test_many_scrapes_at_once_count_the_totals_once(serve, world):
    base_url = serve(metrics_cache_seconds=300)
    answers: list[int] = []

    def scrape_a_few() -> None:
        for _ in range(4):
            response = requests.get(f"{base_url}/metrics", headers=METRICS_SCRAPER, timeout=60)
            answers.append(response.status_code)

    with StatementLog() as log:
        threads = [threading.Thread(target=scrape_a_few) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert answers == [200] * 32
    assert log.totals() == 1
    # Read from the counters: no scrape counts rows, however many there are.
    assert log.counted_rows() == []


def test_the_totals_are_counted_again_once_they_are_old(api, world, run_worker, serve):
    base_url = serve(metrics_cache_seconds=1)
    first = requests.get(f"{base_url}/metrics", headers=METRICS_SCRAPER, timeout=30)
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    response = world.submit(partner, tenant, [device()])
    wait_for_order(api, partner.token, response.headers["Location"], run_worker)

    def ready(text: str) -> float:
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        return metric_value(
            samples, "partner_api_registrations", state="ready_for_user", error_code=""
        )

    deadline = 50  # polls of 0.1 s: the cache is 1 s old at most
    later = first
    while ready(later.text) == ready(first.text) and deadline:
        threading.Event().wait(0.1)
        later = requests.get(f"{base_url}/metrics", headers=METRICS_SCRAPER, timeout=30)
        deadline -= 1
    assert ready(later.text) == ready(first.text) + 1
