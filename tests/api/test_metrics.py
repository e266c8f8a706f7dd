"""A /metrics scrape shows the counters moving after an order."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import device, wait_for_order


def scrape(api) -> dict[tuple[str, tuple], float]:
    response = api.get("/metrics", check=False)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_move_after_an_order(api, world, run_worker):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    route = "/v1/partner/customers/<uuid:tenant_id>/orders"
    before = scrape(api)

    response = world.submit(partner, tenant, [device(), device(), {"hardware_hash": "junk"}])
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)
    after = scrape(api)

    assert order["status"] == "completed_with_errors"
    requests = "partner_api_http_requests_total"
    assert value(after, requests, route=route, method="POST", status="202") == (
        value(before, requests, route=route, method="POST", status="202") + 1
    )
    ready = value(after, "partner_api_registrations", state="ready_for_user", error_code="")
    assert (
        ready
        >= value(before, "partner_api_registrations", state="ready_for_user", error_code="") + 2
    )
    invalid = dict(state="registration_failed", error_code="hardware_hash_invalid")
    assert value(after, "partner_api_registrations", **invalid) >= (
        value(before, "partner_api_registrations", **invalid) + 1
    )
    done = "partner_api_orders"
    assert value(after, done, status="completed_with_errors") >= (
        value(before, done, status="completed_with_errors") + 1
    )
    jobs = "partner_api_job_duration_seconds_count"
    assert value(after, jobs, outcome="succeeded") > value(before, jobs, outcome="succeeded")
    assert value(after, "partner_api_queue_depth", queue="registrations") == 0
    latency = "partner_api_http_request_duration_seconds_count"
    assert value(after, latency, route=route, method="POST") >= 1
