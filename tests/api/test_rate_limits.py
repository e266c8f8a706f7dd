"""Rate limits per API client, counted in Redis: 429 with Retry-After, then
recovery when the window has passed."""

from __future__ import annotations

import dataclasses
import time

import pytest

from tests.http import assert_problem


@pytest.fixture
def tight_partner_limit(app):
    settings = app.extensions["partner_api.settings"]
    limits = dict(settings.rate_limits, partner="3 per 2 seconds")
    app.extensions["partner_api.settings"] = dataclasses.replace(settings, rate_limits=limits)
    yield
    app.extensions["partner_api.settings"] = settings


def test_429_then_recovery(api, world, tight_partner_limit):
    partner, other = world.partner(), world.partner()
    time.sleep(2 - time.time() % 2 + 0.05)  # start at the beginning of a window

    answers = [api.get("/v1/partner/customers", token=partner.token) for _ in range(4)]

    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    body = assert_problem(answers[3], 429, "rate_limited")
    assert int(answers[3].headers["Retry-After"]) >= 0
    assert "X-RateLimit-Limit" in answers[0].headers
    assert body["detail"]
    # Another client has its own budget.
    assert api.get("/v1/partner/customers", token=other.token).status_code == 200
    # Health checks are never limited.
    assert all(api.get("/healthz").status_code == 200 for _ in range(5))

    time.sleep(2.1)
    assert api.get("/v1/partner/customers", token=partner.token).status_code == 200
