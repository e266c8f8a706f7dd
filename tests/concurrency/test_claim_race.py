"""Two partners race for the same 5,000 devices for two different customers,
with 4 worker processes on PostgreSQL: every device ends with exactly one
owner, and the outcomes add up exactly. Three rounds."""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tenants import db
from tenants.hardware_hash import build_hardware_hash, identity_key
from tenants.models import DeviceClaim, Registration
from tenants.scoping import unscoped
from tests.helpers import unique
from tests.processes import start_worker, stop_all

DEVICES = 5_000
WORKERS = 4

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="the race runs on PostgreSQL (SQLite has a single writer, so it cannot race)",
)


def _devices(prefix: str, captured_at: datetime) -> list[dict]:
    # Each partner captured the hashes itself, at its own moment: the strings
    # differ, the devices (decoded manufacturer and serial) are the same.
    return [
        {
            "hardware_hash": build_hardware_hash(
                "Contoso", "Laptop 7", f"{prefix}-{n}", captured_at=captured_at, size=512
            )
        }
        for n in range(DEVICES)
    ]


def _wait_final(api, principal, order_id: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        order = api.get(f"/v1/partner/orders/{order_id}", token=principal.token).json()
        if order["completed_at"]:
            return order
        time.sleep(0.25)
    raise AssertionError(f"order not final after {timeout}s: {order}")


@pytest.mark.parametrize("round_number", [1, 2, 3])
def test_two_partners_race_for_the_same_devices(api, world, settings, round_number):
    partner_a, partner_b = world.partner(), world.partner()
    tenant_a, tenant_b = world.tenant(), world.tenant()
    world.approved(partner_a, tenant_a)
    world.approved(partner_b, tenant_b)
    prefix = unique(f"RACE{round_number}")
    now = datetime.now(UTC)
    bodies = {
        "a": _devices(prefix, now - timedelta(hours=1)),
        "b": _devices(prefix, now),
    }
    # Workers take chunks first in, first out: lists in opposite or shuffled
    # orders make the two orders meet on the same devices in flight.
    rng = random.Random(round_number)
    if round_number == 1:
        bodies["b"].reverse()
    elif round_number == 2:
        bodies["a"].reverse()
    else:
        rng.shuffle(bodies["a"])
        rng.shuffle(bodies["b"])
    workers = [start_worker(settings) for _ in range(WORKERS)]
    barrier = threading.Barrier(2)
    responses: dict[str, object] = {}

    def submit(side: str, partner, tenant) -> None:
        barrier.wait()  # both orders go in at the same moment
        responses[side] = world.submit(partner, tenant, bodies[side])

    try:
        threads = [
            threading.Thread(target=submit, args=("a", partner_a, tenant_a)),
            threading.Thread(target=submit, args=("b", partner_b, tenant_b)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert responses["a"].status_code == responses["b"].status_code == 202
        order_a = _wait_final(api, partner_a, responses["a"].json()["id"])
        order_b = _wait_final(api, partner_b, responses["b"].json()["id"])
    finally:
        stop_all(workers)

    won = {"a": order_a["counts"], "b": order_b["counts"]}
    for counts in won.values():
        assert set(counts["by_state"]) <= {"ready_for_user", "registration_failed"}
        assert set(counts["by_error_code"]) <= {"device_claimed_by_another_organization"}
    ready = [c["by_state"].get("ready_for_user", 0) for c in won.values()]
    lost = [
        c["by_error_code"].get("device_claimed_by_another_organization", 0) for c in won.values()
    ]
    assert sum(ready) == DEVICES
    assert sum(lost) == DEVICES
    assert ready[0] == lost[1] and ready[1] == lost[0]

    # Each device: exactly one claim, held by a registered row of the tenant that won it.
    keys = [identity_key("Contoso", f"{prefix}-{n}") for n in range(DEVICES)]
    order_pks = [uuid.UUID(order_a["id"]), uuid.UUID(order_b["id"])]
    with unscoped("test: ownership across tenants"), db.transaction() as session:
        claims = session.execute(
            select(DeviceClaim.identity_key, DeviceClaim.tenant_id, Registration.state)
            .join(Registration, Registration.id == DeviceClaim.registration_id)
            .where(DeviceClaim.identity_key.in_(keys))
        ).all()
        per_device = session.execute(
            select(Registration.identity_key, func.count())
            .where(Registration.order_pk.in_(order_pks), Registration.state == "ready_for_user")
            .group_by(Registration.identity_key)
        ).all()
    assert len(claims) == DEVICES
    assert {state for _, _, state in claims} == {"ready_for_user"}
    assert {tenant for _, tenant, _ in claims} <= {tenant_a.id, tenant_b.id}
    assert len(per_device) == DEVICES and all(n == 1 for _, n in per_device)

    # The customers' lists agree: 5,000 devices between them, none in both.
    seen = {}
    for tenant in (tenant_a, tenant_b):
        response = api.get(
            "/v1/customer/devices?state=ready_for_user&page_size=1", token=tenant.token
        )
        seen[tenant.id] = json.loads(response.headers["X-Pagination"])["total"]
    assert sum(seen.values()) == DEVICES
    print(f"round {round_number}: A won {ready[0]}, B won {ready[1]}")
