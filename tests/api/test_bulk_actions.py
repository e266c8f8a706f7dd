"""Bulk actions on a customer's devices through the API: deregister or
re-tag many devices by ids or by filter, as a job with progress and
per-device results; other tenants' devices are never touched; two actions
on overlapping selections at once do each device's change once."""

from __future__ import annotations

import threading
import uuid
from urllib.parse import urlsplit

from sqlalchemy import func, select

from tenants import db
from tenants.models import AuditEvent
from tenants.registration import bulk
from tenants.scoping import Scope, scoped
from tests.api.test_cursors import walk
from tests.factories import assert_counters_exact, device_states, registered_devices
from tests.http import assert_problem


def _audited(action: str, request_id: str) -> int:
    with db.transaction() as session:
        return session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == action, AuditEvent.request_id == request_id)
        )


def _all_results(api, token, bulk_id: str, query: str = "") -> list[dict]:
    """Every result, following the cursor page by page."""
    return walk(api, token, f"/v1/customer/bulk-actions/{bulk_id}/results{query}")[0]


def _path(url: str) -> str:
    return urlsplit(url).path


def test_a_thousand_devices_are_deregistered_with_a_result_each(api, world, run_worker):
    tenant, other = world.tenant(), world.tenant()
    mine = registered_devices(tenant, 1000)
    theirs = registered_devices(other, 2)
    unknown = str(uuid.uuid4())
    selection = mine + theirs + [unknown, mine[0]]  # a repeated id counts once

    response = api.post(
        "/v1/customer/devices/bulk-deregister", token=tenant.token, json={"ids": selection}
    )
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["status"] == "queued" and started["total"] == 1003
    assert response.headers["Location"].endswith(f"/v1/customer/bulk-actions/{started['id']}")
    request_id = response.headers["X-Request-ID"]

    run_worker()
    done = api.get(f"/v1/customer/bulk-actions/{started['id']}", token=tenant.token).json()
    assert (done["status"], done["done"], done["percent"]) == ("completed", 1003, 100)
    assert (done["succeeded"], done["unchanged"], done["failed"]) == (1000, 0, 3)

    results = _all_results(api, tenant.token, started["id"])
    assert [r["device_id"] for r in results] == selection[:-1]
    assert {r["outcome"] for r in results[:1000]} == {"succeeded"}
    assert all(r["serial_number"] for r in results[:1000])
    # Another tenant's devices read exactly as unknown ones: not found, nothing shown.
    for r in results[1000:]:
        assert (r["outcome"], r["code"], r["serial_number"]) == ("failed", "not_found", None)
    failed = _all_results(api, tenant.token, started["id"], "?outcome=failed")
    assert [r["device_id"] for r in failed] == [*theirs, unknown]

    assert set(device_states(mine).values()) == {"deregistered"}
    assert set(device_states(theirs).values()) == {"ready_for_user"}
    assert _audited("device.deregistered", request_id) == 1000
    assert_counters_exact([tenant.id, other.id])
    # Another tenant cannot read the action or its results.
    for path in (f"/{started['id']}", f"/{started['id']}/results"):
        response = api.get(f"/v1/customer/bulk-actions{path}", token=other.token)
        assert_problem(response, 404, "not_found")


def test_a_small_selection_is_done_when_answered_and_reports_each_device(api, world):
    tenant = world.tenant()
    ids = registered_devices(tenant, 3)
    api.delete(f"/v1/customer/devices/{ids[0]}", token=tenant.token)

    response = api.post(
        "/v1/customer/devices/bulk-deregister", token=tenant.token, json={"ids": ids}
    )
    assert response.status_code == 202, response.text
    done = response.json()
    assert done["status"] == "completed"
    assert (done["succeeded"], done["unchanged"], done["failed"]) == (2, 1, 0)
    results = _all_results(api, tenant.token, done["id"])
    assert [(r["outcome"], r["code"]) for r in results] == [
        ("unchanged", "already_deregistered"),
        ("succeeded", None),
        ("succeeded", None),
    ]
    assert_counters_exact([tenant.id])


def test_group_tags_change_for_every_device_a_filter_matches(api, world, run_worker):
    tenant = world.tenant()
    ids = registered_devices(tenant, 60)
    api.delete(f"/v1/customer/devices/{ids[0]}", token=tenant.token)

    response = api.post(
        "/v1/customer/devices/bulk-group-tag",
        token=tenant.token,
        json={"filter": {"state": "ready_for_user"}, "group_tag": "Kiosk-Floor-2"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["total"] == 59 and response.json()["selection"] == "filter"
    request_id = response.headers["X-Request-ID"]
    run_worker()
    done = api.get(_path(response.headers["Location"]), token=tenant.token).json()
    assert (done["status"], done["succeeded"], done["failed"]) == ("completed", 59, 0)
    listed = api.get(
        "/v1/customer/devices?state=ready_for_user&page_size=100", token=tenant.token
    ).json()
    assert {d["group_tag"] for d in listed} == {"Kiosk-Floor-2"}
    assert _audited("device.group_tag_changed", request_id) == 59

    # The same tag again: every device unchanged, no audit event.
    again = api.post(
        "/v1/customer/devices/bulk-group-tag",
        token=tenant.token,
        json={"ids": ids[1:6], "group_tag": "Kiosk-Floor-2"},
    ).json()
    assert (again["unchanged"], again["succeeded"]) == (5, 0)
    assert_counters_exact([tenant.id])


def test_bad_bulk_requests_say_what_to_fix(api, world):
    tenant = world.tenant()
    [device_id] = registered_devices(tenant, 1)
    path = "/v1/customer/devices/bulk-deregister"
    for body in ({}, {"ids": [device_id], "filter": {}}):
        problem = assert_problem(
            api.post(path, token=tenant.token, json=body), 422, "validation_failed"
        )
        assert "either `ids`" in problem["errors"]["json"]["ids"][0]
    problem = assert_problem(
        api.post(path, token=tenant.token, json={"ids": ["not-an-id"]}), 422, "validation_failed"
    )
    assert "ids" in problem["errors"]["json"]
    problem = assert_problem(
        api.post(path, token=tenant.token, json={"ids": [str(uuid.uuid4())] * (bulk.MAX_IDS + 1)}),
        422,
        "validation_failed",
    )
    assert "filter" in problem["errors"]["json"]["ids"][0]
    problem = assert_problem(
        api.post(
            "/v1/customer/devices/bulk-group-tag",
            token=tenant.token,
            json={"ids": [device_id], "group_tag": "x" * 300},
        ),
        422,
        "invalid_input",
    )
    assert "group tag" in problem["detail"]
    assert set(device_states([device_id]).values()) == {"ready_for_user"}


def test_two_bulk_actions_on_overlapping_selections_change_each_device_once(api, world):
    tenant = world.tenant()
    ids = registered_devices(tenant, 300)
    first, second = ids[:200], ids[100:]
    started = []
    for selection in (first, second):
        with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
            started.append(
                bulk.create(
                    session,
                    tenant_id=tenant.id,
                    action=bulk.DEREGISTER,
                    selection=bulk.Selection(ids=tuple(uuid.UUID(i) for i in selection)),
                    group_tag=None,
                    request_id=f"req-overlap-{len(started)}",
                ).id
            )
    barrier = threading.Barrier(2)
    finished = []

    def run(bulk_id):
        barrier.wait()
        finished.append(bulk.run(bulk_id, tenant.id))

    threads = [threading.Thread(target=run, args=(b,)) for b in started]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(finished) == 2
    assert all(f.status == "completed" and f.failed == 0 for f in finished)
    # The 100 devices in both: changed by exactly one action, unchanged for the other.
    assert sum(f.succeeded for f in finished) == 300
    assert sum(f.unchanged for f in finished) == 100
    assert set(device_states(ids).values()) == {"deregistered"}
    assert (
        _audited("device.deregistered", "req-overlap-0")
        + _audited("device.deregistered", "req-overlap-1")
        == 300
    )
    assert_counters_exact([tenant.id])
