"""The OpenAPI contract, tested rather than trusted: schemathesis generates
requests from /openapi.json (valid and invalid), sends them to the running
app as each kind of principal, and checks every answer: no server error,
every response as documented, invalid data refused.

``positive_data_acceptance`` is left out: for operations that take JSON or a
multipart form, schemathesis sends the form's fields in JSON bodies, which
the JSON schema (``additionalProperties: false``) rightly refuses.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import device

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
pytestmark = pytest.mark.skipif(
    not SCHEMATHESIS.exists() and not shutil.which("schemathesis"),
    reason="schemathesis is installed with the dev extras",
)

# Which paths each principal kind is sent to (its own audience).
AUDIENCES = {
    "partner": r"^/v1/partner/",
    "tenant": r"^/v1/customer/",
    "support": r"^/v1/support/",
    "supplier": r"^/v1/supplier/",
    # /readyz is left out: its 503 without a live worker is its job, which
    # schemathesis counts as a server error (tests/api checks readiness).
    "anonymous": r"^/(healthz|openapi\.json|\.well-known/|oauth/)",
    # /metrics answers only Prometheus, which holds METRICS_TOKEN.
    "scraper": r"^/metrics$",
}


@pytest.fixture(scope="module")
def principals(app, base_url, openapi_spec):
    """Seeded data: an active relationship, a finished order, and a token per kind.
    Rate limits are lifted so the generated traffic is judged, not throttled."""
    from tests.factories import World
    from tests.http import ApiClient

    settings = app.extensions["partner_api.settings"]
    app.extensions["partner_api.settings"] = dataclasses.replace(
        settings, rate_limits=dict.fromkeys(settings.rate_limits, "1000000 per minute")
    )
    api = ApiClient(base_url, openapi_spec)
    world = World(api)
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    # A real order, so the customer's and support's lists have something in them.
    response = api.post(
        f"/v1/partner/customers/{tenant.id}/orders",
        token=partner.token,
        json={"devices": [device()]},
    )
    assert response.status_code == 202
    yield {
        "partner": partner.token,
        "tenant": tenant.token,
        "support": world.support().token,
        "supplier": world.supplier().token,
        "anonymous": None,
        "scraper": os.environ["METRICS_TOKEN"],
    }
    app.extensions["partner_api.settings"] = settings


@pytest.mark.parametrize("kind", list(AUDIENCES))
def test_the_api_keeps_its_contract(base_url, principals, run_worker, kind):
    run_worker()  # the seeded order, and whatever earlier runs submitted
    command = [
        str(SCHEMATHESIS if SCHEMATHESIS.exists() else shutil.which("schemathesis")),
        "run",
        f"{base_url}/openapi.json",
        "--include-path-regex",
        AUDIENCES[kind],
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "--max-examples",
        "10",
        "--seed",
        "20261123",
        "--no-color",
    ]
    if principals[kind]:
        command += ["--header", f"Authorization: Bearer {principals[kind]}"]

    result = subprocess.run(command, capture_output=True, text=True, timeout=600)

    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
