"""Two partners submit the same 5,000 devices for two different customers at
the same moment, and 4 worker processes race through both orders on
PostgreSQL. Every device must end with exactly one owner; the counts of
``ready_for_user`` and ``device_claimed_by_another_organization`` must add up
exactly. Three rounds, each with fresh devices.

The race is made as hard as it can be: both orders go in through the HTTP API
at the same moment, and their chunks are then interleaved in the queue, so
that order A's chunk i and order B's chunk i are taken by workers at the same
time; a gate holds the claims table until several workers wait to claim, then
lets them all go at once, so their claims hit the unique key together.
Partner B lists the devices in a different order each round: the same order
(the chunks contend on every device), each chunk reversed (they contend on
every device in opposite order), shuffled (each chunk contends with many).
Each partner captured its own hashes of the devices (another capture time,
another spelling of the manufacturer): a device is the manufacturer and serial
number decoded from the hash, not the hash text.

SQLite has one writer, so the race exists only on PostgreSQL: the test runs
when TEST_DATABASE_URL points at PostgreSQL (Redis may be the embedded one).
"""

from __future__ import annotations

import json
import math
import os
import random
import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
import requests
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import select, text

from jobs.connection import BULK_QUEUES
from tenants import db
from tenants.ingest.hardware_hash import build_hardware_hash, identity_key
from tenants.models import DeviceClaim, Registration
from tenants.scoping import unscoped
from tests.factories import assert_counters_exact, unique
from tests.processes import start_worker, stop_all

DEVICES = 5_000
WORKERS = 4
READY = "ready_for_user"
FAILED = "registration_failed"
CLAIMED_ELSEWHERE = "device_claimed_by_another_organization"
# How long both orders may take to become final before the test reports them stuck.
FINAL_WITHIN_SECONDS = 240

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith(("postgresql", "postgres://")),
    reason="the ownership race needs PostgreSQL (TEST_DATABASE_URL): SQLite has a single "
    "writer, so two workers can never claim at the same moment there",
)


def _same_order(serials: list[str], chunk_size: int, rng: random.Random) -> list[str]:
    return list(serials)


def _each_chunk_reversed(serials: list[str], chunk_size: int, rng: random.Random) -> list[str]:
    return [
        serial
        for start in range(0, len(serials), chunk_size)
        for serial in reversed(serials[start : start + chunk_size])
    ]


def _shuffled(serials: list[str], chunk_size: int, rng: random.Random) -> list[str]:
    shuffled = list(serials)
    rng.shuffle(shuffled)
    return shuffled


ROUNDS = [
    pytest.param(_same_order, id="round1-same-order"),
    pytest.param(_each_chunk_reversed, id="round2-each-chunk-reversed"),
    pytest.param(_shuffled, id="round3-shuffled"),
]


def _rows(manufacturer: str, serials: list[str], captured_at: datetime) -> list[dict]:
    return [
        {
            "hardware_hash": build_hardware_hash(
                manufacturer, "Laptop 7", serial, captured_at=captured_at, padded=False
            )
        }
        for serial in serials
    ]


def _submit_at_the_same_moment(api, submissions: list[tuple]) -> list[requests.Response]:
    """POST every order from its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(submissions))
    responses: list[requests.Response | BaseException | None] = [None] * len(submissions)

    def post(index: int, partner, tenant, rows: list[dict]) -> None:
        try:
            with requests.Session() as http:
                barrier.wait(timeout=60)
                responses[index] = http.post(
                    f"{api.base_url}/v1/partner/customers/{tenant.id}/orders",
                    headers={"Authorization": f"Bearer {partner.token}"},
                    json={"devices": rows, "order_id": unique("PO")},
                    timeout=300,
                )
        except BaseException as exc:  # reported by the caller
            responses[index] = exc

    threads = [
        threading.Thread(target=post, args=(index, *submission))
        for index, submission in enumerate(submissions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for response in responses:
        if isinstance(response, BaseException):
            raise response
        api.check_against_spec(response)
        assert response.status_code == 202, response.text
    return responses


def _interleave_queued_chunks(redis_connection, order_ids: list[str], chunk_count: int) -> None:
    """Put the orders' chunks on one lane so that they alternate: A0, B0, A1,
    B1, ... (each partner's chunks are on a lane of its own, which workers
    take in turn, but not strictly one by one). Jobs of anything else keep
    their place in front."""
    by_order: dict[str, list[str]] = defaultdict(list)
    others: dict[str, list[str]] = {}
    for name in BULK_QUEUES:
        job_ids = Queue(name, connection=redis_connection).get_job_ids()
        jobs = Job.fetch_many(job_ids, connection=redis_connection)
        kept = []
        for job_id, job in zip(job_ids, jobs, strict=True):
            if job is not None and job.args and job.args[0] in order_ids:
                by_order[job.args[0]].append(job_id)
            else:
                kept.append(job_id)
        if len(kept) < len(job_ids):
            others[name] = kept
    for order_id in order_ids:
        assert len(by_order[order_id]) == chunk_count, (
            f"order {order_id}: {len(by_order[order_id])} chunks queued, expected {chunk_count}"
        )
    alternating = [
        job_id for pair in zip(*(by_order[o] for o in order_ids), strict=True) for job_id in pair
    ]
    lane = Job.fetch(alternating[0], connection=redis_connection).origin
    with redis_connection.pipeline(transaction=True) as pipe:
        for name, kept in others.items():
            key = Queue(name, connection=redis_connection).key
            pipe.delete(key)
            rest = kept + (alternating if name == lane else [])
            if rest:
                pipe.rpush(key, *rest)
        for job_id in alternating:  # retries go back to the lane they came from
            pipe.hset(Job.key_for(job_id), "origin", lane)
        pipe.execute()


class ClaimGate:
    """Lines the workers' claims up. A thread holds ``device_claims`` in SHARE
    mode (which blocks inserts) until several workers wait to insert their
    chunk's claims, or a second has passed, then lets them all go at once,
    and takes the lock again: the waiting claims start together, every time.
    Nothing in the product is changed: the workers just wait at a lock."""

    RELEASE_AT_WAITERS = WORKERS - 1
    HOLD_AT_MOST_SECONDS = 1.0

    def __init__(self, database_url: str) -> None:
        self.engine = db.make_engine(database_url)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="claim-gate", daemon=True)
        self.most_released_together = 0
        self.error: BaseException | None = None

    def __enter__(self) -> ClaimGate:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        self.engine.dispose()
        if self.error is not None and exc_info[0] is None:
            raise AssertionError("the claim gate failed") from self.error

    def _run(self) -> None:
        waiting = text(
            "SELECT count(*) FROM pg_locks WHERE NOT granted"
            " AND relation = 'device_claims'::regclass"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        try:
            with self.engine.connect() as connection:
                while not self.stop.is_set():
                    with connection.begin():
                        connection.execute(text("LOCK TABLE device_claims IN SHARE MODE"))
                        held_until = time.monotonic() + self.HOLD_AT_MOST_SECONDS
                        waiters = 0
                        while not self.stop.is_set() and time.monotonic() < held_until:
                            waiters = connection.scalar(waiting)
                            if waiters >= self.RELEASE_AT_WAITERS:
                                break
                            time.sleep(0.002)
                    self.most_released_together = max(self.most_released_together, waiters)
        except BaseException as exc:  # raised again when the gate is closed
            self.error = exc


def _order(api, partner, order_id: str) -> dict:
    response = api.get(f"/v1/partner/orders/{order_id}", token=partner.token)
    assert response.status_code == 200, response.text
    return response.json()


def _run_workers_until_final(api, settings, redis_connection, orders: list[tuple]) -> list[dict]:
    """Start 4 burst workers at once and let them drain the queue; start
    another 4 while chunks wait for a retry, until every order is final."""
    deadline = time.monotonic() + FINAL_WITHIN_SECONDS
    started = []
    try:
        while True:
            batch = [start_worker(settings, burst=True) for _ in range(WORKERS)]
            started.extend(batch)
            for process in batch:
                process.wait(timeout=max(1, deadline - time.monotonic()))
            current = [_order(api, partner, order_id) for partner, order_id in orders]
            if all(order["completed_at"] for order in current):
                return current
            if time.monotonic() > deadline:
                raise AssertionError(_stuck_report(settings, redis_connection, current))
            time.sleep(0.5)  # retries wait in the scheduled registry for their backoff
    finally:
        stop_all(started)


def _stuck_report(settings, redis_connection, orders: list[dict]) -> str:
    queues = [Queue(name, connection=redis_connection) for name in BULK_QUEUES]
    failed = [FailedJobRegistry(queue=queue) for queue in queues]
    failed_ids = [job_id for registry in failed for job_id in registry.get_job_ids()]
    failures = []
    for job in Job.fetch_many(failed_ids[:3], connection=redis_connection):
        if job is not None:
            result = job.latest_result()
            failures.append(result.exc_string if result else "(no result)")
    log = settings.instance_path / "workers.log"
    tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
    queued = sum(queue.count for queue in queues)
    scheduled = sum(ScheduledJobRegistry(queue=queue).count for queue in queues)
    return (
        f"orders not final after {FINAL_WITHIN_SECONDS}s: "
        f"{[(o['id'], o['status'], o['counts']) for o in orders]}; "
        f"queued {queued}, scheduled {scheduled}, "
        f"failed {len(failed_ids)}: {failures}\nworker log tail:\n{tail}"
    )


def _pagination(response: requests.Response) -> dict:
    return json.loads(response.headers["X-Pagination"])


def _ready_serials(api, tenant) -> list[str]:
    """The customer's registered devices, every page of them."""
    path = "/v1/customer/devices?state=ready_for_user&sort=serial_number&page_size=100"
    first = api.get(f"{path}&page=1", token=tenant.token)
    assert first.status_code == 200, first.text
    serials = [d["serial_number"] for d in first.json()]
    assert {d["state"] for d in first.json()} <= {READY}
    for page in range(2, _pagination(first).get("total_pages", 1) + 1):
        # The first page was checked against the OpenAPI document; the rest
        # have the same shape.
        response = api.get(f"{path}&page={page}", token=tenant.token, check=False)
        assert response.status_code == 200, response.text
        serials.extend(d["serial_number"] for d in response.json())
    assert len(serials) == _pagination(first)["total"]
    return serials


@pytest.mark.parametrize("order_of_b", ROUNDS)
def test_two_partners_race_for_the_same_devices(api, world, settings, redis_connection, order_of_b):
    assert settings.database_url.startswith("postgresql"), settings.database_url
    partner_a, partner_b = world.partner(), world.partner()
    tenant_a, tenant_b = world.tenant(), world.tenant()
    world.approved(partner_a, tenant_a)
    world.approved(partner_b, tenant_b)

    prefix = unique("RACE")
    serials = [f"{prefix}-{n:05d}" for n in range(DEVICES)]
    chunk_size = settings.order_chunk_size
    captured = datetime.now(UTC)
    rows_a = _rows("Contoso", serials, captured - timedelta(days=3))
    serials_b = order_of_b(serials, chunk_size, random.Random(prefix))
    rows_b = _rows("CONTOSO", serials_b, captured)
    assert {r["hardware_hash"] for r in rows_a}.isdisjoint(r["hardware_hash"] for r in rows_b)

    accepted_a, accepted_b = _submit_at_the_same_moment(
        api, [(partner_a, tenant_a, rows_a), (partner_b, tenant_b, rows_b)]
    )
    id_a, id_b = accepted_a.json()["id"], accepted_b.json()["id"]
    _interleave_queued_chunks(redis_connection, [id_a, id_b], math.ceil(DEVICES / chunk_size))

    with ClaimGate(settings.database_url) as gate:
        order_a, order_b = _run_workers_until_final(
            api, settings, redis_connection, [(partner_a, id_a), (partner_b, id_b)]
        )

    # The race took place: claims were let go together, and both orders were
    # being processed at the same time.
    assert gate.most_released_together >= 2
    at = {
        (name, field): datetime.fromisoformat(order[field])
        for name, order in (("a", order_a), ("b", order_b))
        for field in ("started_at", "completed_at")
    }
    assert at["a", "started_at"] < at["b", "completed_at"]
    assert at["b", "started_at"] < at["a", "completed_at"]

    # The counts: only the two outcomes, adding up exactly across the orders.
    ready, lost = {}, {}
    for name, order in (("a", order_a), ("b", order_b)):
        counts = order["counts"]
        ready[name] = counts["by_state"].get(READY, 0)
        lost[name] = counts["by_error_code"].get(CLAIMED_ELSEWHERE, 0)
        expected = {"by_state": {READY: ready[name], FAILED: lost[name]}, "by_error_code": {}}
        if lost[name]:
            expected["by_error_code"][CLAIMED_ELSEWHERE] = lost[name]
        expected["by_state"] = {k: v for k, v in expected["by_state"].items() if v}
        assert counts == expected, (name, counts)
        assert ready[name] + lost[name] == order["row_count"] == DEVICES
        assert order["status"] == (
            "completed"
            if not lost[name]
            else "failed"
            if not ready[name]
            else "completed_with_errors"
        ), (name, order)
    assert ready["a"] + ready["b"] == DEVICES
    assert lost["a"] + lost["b"] == DEVICES
    print(f"\n{order_of_b.__name__}: A registered {ready['a']}, B registered {ready['b']}")

    # Each device, in the database: one row in each order, one registered and
    # one claimed elsewhere, and exactly one claim, held by the registered row.
    keys = {identity_key("Contoso", serial): serial for serial in serials}
    tenant_of_order = {uuid.UUID(id_a): tenant_a.id, uuid.UUID(id_b): tenant_b.id}
    with unscoped("test: device ownership across both tenants"), db.transaction() as session:
        registrations = session.execute(
            select(
                Registration.id,
                Registration.order_pk,
                Registration.tenant_id,
                Registration.identity_key,
                Registration.state,
                Registration.error_code,
            ).where(Registration.order_pk.in_(list(tenant_of_order)))
        ).all()
        claims = session.execute(
            select(DeviceClaim.identity_key, DeviceClaim.tenant_id, DeviceClaim.registration_id)
            .where(DeviceClaim.identity_key.in_(list(keys)))
            .order_by(DeviceClaim.identity_key)
        ).all()
    assert len(registrations) == 2 * DEVICES
    per_device: dict[str, list] = defaultdict(list)
    for row in registrations:
        assert row.tenant_id == tenant_of_order[row.order_pk]
        per_device[row.identity_key].append(row)
    assert set(per_device) == set(keys)
    owner_registration = {}
    for key, rows in per_device.items():
        assert {row.order_pk for row in rows} == set(tenant_of_order), keys[key]
        outcomes = sorted((row.state, row.error_code) for row in rows)
        assert outcomes == [(READY, None), (FAILED, CLAIMED_ELSEWHERE)], (keys[key], outcomes)
        (winner,) = [row for row in rows if row.state == READY]
        owner_registration[key] = (winner.id, winner.tenant_id)
    assert len(claims) == DEVICES
    for claim in claims:
        assert (claim.registration_id, claim.tenant_id) == owner_registration[claim.identity_key]
    # The counters the workers kept while racing: what counting the rows says.
    assert_counters_exact([tenant_a.id, tenant_b.id])

    # The customers' device lists: 5,000 registered devices between them, none in both.
    listed_a, listed_b = _ready_serials(api, tenant_a), _ready_serials(api, tenant_b)
    assert len(listed_a) == ready["a"] and len(listed_b) == ready["b"]
    assert len(set(listed_a)) == len(listed_a) and len(set(listed_b)) == len(listed_b)
    assert set(listed_a).isdisjoint(listed_b)
    assert set(listed_a) | set(listed_b) == set(serials)
    for tenant in (tenant_a, tenant_b):
        everything = api.get("/v1/customer/devices?page_size=1", token=tenant.token)
        assert _pagination(everything)["total"] == DEVICES  # its registered and lost rows

    # A partner that lost a device learns only that: never who owns it.
    for partner, order_id, other_tenant, other_partner in (
        (partner_a, id_a, tenant_b, partner_b),
        (partner_b, id_b, tenant_a, partner_a),
    ):
        response = api.get(
            f"/v1/partner/orders/{order_id}/registrations"
            f"?error_code={CLAIMED_ELSEWHERE}&page_size=100",
            token=partner.token,
        )
        assert response.status_code == 200, response.text
        assert _pagination(response)["total"] == lost["a" if partner is partner_a else "b"]
        for row in response.json():
            assert row["message"].startswith("This device has already been claimed by another")
        assert str(other_tenant.id) not in response.text
        assert str(other_partner.id) not in response.text
