"""A row that fails in a way nobody foresaw: it ends ``unexpected_error`` with
the request ID to give support; the other rows of its chunk still register;
support sees the exception, the partner and the customer do not."""

from __future__ import annotations

import json

from rq import Retry

import jobs.tasks
from config.logging import JsonFormatter
from tenants.ingest.hardware_hash import identity_key
from tenants.registration import ownership
from tests.factories import device, unique
from tests.http import wait_for_order


def test_one_failing_row_is_unexpected_error_and_the_rest_register(
    api, world, run_worker, monkeypatch, caplog
):
    partner, tenant, support = world.partner(), world.tenant(), world.support()
    world.approved(partner, tenant)
    poisoned = unique("SN")
    real_claim = ownership.claim

    def claim_failing_for_one_device(session, tenant_id, requests):
        if any(r.identity_key == identity_key("Contoso", poisoned) for r in requests):
            raise RuntimeError(f"storage fault while claiming {poisoned}")
        return real_claim(session, tenant_id, requests)

    # The fault, injected into the real worker; retries without waiting.
    monkeypatch.setattr(ownership, "claim", claim_failing_for_one_device)
    monkeypatch.setattr(jobs.tasks, "RETRY", Retry(max=2, interval=0))
    good = [unique("SN"), unique("SN")]

    response = world.submit(partner, tenant, [device(good[0]), device(poisoned), device(good[1])])
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)

    request_id = response.json()["request_id"]
    assert order["status"] == "completed_with_errors"
    rows = api.get(f"/v1/partner/orders/{order['id']}/registrations", token=partner.token).json()
    assert [(r["serial_number"], r["state"], r["error_code"]) for r in rows] == [
        (good[0], "ready_for_user", None),
        (poisoned, "registration_failed", "unexpected_error"),
        (good[1], "ready_for_user", None),
    ]
    assert rows[1]["message"] == (
        "Your request could not be automatically processed. Contact support and provide "
        f"the request ID: {request_id}"
    )
    # Neither the partner nor the customer sees the internal detail.
    customer_rows = api.get(
        f"/v1/customer/orders/{order['id']}/registrations", token=tenant.token
    ).json()
    for body in (rows, customer_rows):
        assert "storage fault" not in str(body) and "RuntimeError" not in str(body)
        assert all("internal_error" not in r and "support_reference" not in r for r in body)

    trace = api.get(f"/v1/support/requests/{request_id}", token=support.token).json()
    [failed] = trace["failed_registrations"]
    assert failed["serial_number"] == poisoned
    assert failed["internal_error"]["type"] == "builtins.RuntimeError"
    assert poisoned in failed["internal_error"]["message"]
    assert failed["internal_error"]["attempt"] == 3
    assert failed["internal_error"]["job_id"].startswith(f"chunk-{order['id']}-")
    assert failed["support_reference"].startswith("ref-")

    # The worker's log line about it carries the request, the principal and the job.
    [logged] = [r for r in caplog.records if r.getMessage() == "row failed on its own"]
    line = json.loads(JsonFormatter().format(logged))
    assert line["request_id"] == request_id
    assert line["principal"] == f"partner:{partner.id}"
    assert line["job_id"] == failed["internal_error"]["job_id"]
    assert "storage fault" in line["exception"]
