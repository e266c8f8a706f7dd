"""Idempotency-Key on order submission, and nothing enqueued for an order that
was never stored."""

from __future__ import annotations

import threading
import uuid

from rq import Queue

from jobs.connection import BULK_QUEUES
from tests.csv_files import CSV_HEADERS, csv_row, encode_csv
from tests.factories import device, unique
from tests.http import assert_problem, upload


def orders_of(api, partner) -> list[dict]:
    return api.get("/v1/partner/orders", token=partner.token).json()


def test_replay_returns_the_first_response_and_creates_nothing(api, world):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    body = {"order_id": "PO-1", "devices": [device()]}
    key = str(uuid.uuid4())

    first = world.api.post(
        f"/v1/partner/customers/{tenant.id}/orders",
        token=partner.token,
        json=body,
        headers={"Idempotency-Key": key},
    )
    again = world.api.post(
        f"/v1/partner/customers/{tenant.id}/orders",
        token=partner.token,
        json=body,
        headers={"Idempotency-Key": key},
    )

    assert first.status_code == again.status_code == 202
    assert again.content == first.content
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert [o["id"] for o in orders_of(api, partner)] == [first.json()["id"]]


def test_same_key_with_another_body_is_refused(api, world):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    key = str(uuid.uuid4())
    path = f"/v1/partner/customers/{tenant.id}/orders"
    first = api.post(
        path, token=partner.token, json={"devices": [device()]}, headers={"Idempotency-Key": key}
    )

    other = api.post(
        path, token=partner.token, json={"devices": [device()]}, headers={"Idempotency-Key": key}
    )

    body = assert_problem(other, 422, "idempotency_key_reused")
    assert first.json()["request_id"] in body["detail"]
    assert len(orders_of(api, partner)) == 1


def test_keys_belong_to_one_principal(api, world):
    partner_a, partner_b, tenant = world.partner(), world.partner(), world.tenant()
    world.approved(partner_a, tenant)
    world.approved(partner_b, tenant)
    key = str(uuid.uuid4())
    path = f"/v1/partner/customers/{tenant.id}/orders"
    body = {"devices": [device()]}

    a = api.post(path, token=partner_a.token, json=body, headers={"Idempotency-Key": key})
    b = api.post(path, token=partner_b.token, json=body, headers={"Idempotency-Key": key})

    assert a.status_code == b.status_code == 202
    assert a.json()["id"] != b.json()["id"]


def test_a_multipart_retry_with_a_new_boundary_is_the_same_request(api, world):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    fmt = "partner"
    serial = unique("SN")
    from tenants.ingest.hardware_hash import build_hardware_hash

    data = encode_csv(
        [
            CSV_HEADERS[fmt],
            csv_row(
                fmt, serial=serial, hardware_hash=build_hardware_hash("Contoso", "Laptop 7", serial)
            ),
        ]
    )
    key = str(uuid.uuid4())
    path = f"/v1/partner/customers/{tenant.id}/orders"

    first = upload(
        api, path, partner.token, [("d.csv", data)], order_id="X", headers={"Idempotency-Key": key}
    )
    again = upload(
        api, path, partner.token, [("d.csv", data)], order_id="X", headers={"Idempotency-Key": key}
    )
    changed = upload(
        api, path, partner.token, [("d.csv", data)], order_id="Y", headers={"Idempotency-Key": key}
    )

    assert first.status_code == 202 and again.content == first.content
    assert_problem(changed, 422, "idempotency_key_reused")


def test_concurrent_duplicates_create_one_order(api, world):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    body = {"devices": [device() for _ in range(30)]}
    key = str(uuid.uuid4())
    barrier = threading.Barrier(4)
    responses = []

    def send() -> None:
        barrier.wait()
        responses.append(
            api.post(
                f"/v1/partner/customers/{tenant.id}/orders",
                token=partner.token,
                json=body,
                headers={"Idempotency-Key": key},
            )
        )

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [r.status_code for r in responses] == [202] * 4
    assert len({r.content for r in responses}) == 1
    assert len(orders_of(api, partner)) == 1


def test_an_invalid_key_is_422(api, world):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)

    response = api.post(
        f"/v1/partner/customers/{tenant.id}/orders",
        token=partner.token,
        json={"devices": [device()]},
        headers={"Idempotency-Key": "has spaces in it"},
    )

    assert_problem(response, 422, "idempotency_key_invalid")


def test_a_rolled_back_submission_enqueues_nothing(api, world, redis_connection, run_worker):
    """The file fails on its last line, after every earlier row was inserted:
    the transaction rolls back and Redis never hears of the order."""
    run_worker()
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    queues = [Queue(name, connection=redis_connection) for name in BULK_QUEUES]
    before = {job_id for queue in queues for job_id in queue.get_job_ids()}
    fmt = "partner"
    lines = [CSV_HEADERS[fmt]]
    lines += [csv_row(fmt, serial=unique("SN"), hardware_hash="") for _ in range(120)]
    lines.append(["too", "many", "fields", "in", "this", "row", "here"])

    response = upload(
        api,
        f"/v1/partner/customers/{tenant.id}/orders",
        partner.token,
        [("d.csv", encode_csv(lines))],
    )

    assert_problem(response, 422, "csv_invalid")
    assert {job_id for queue in queues for job_id in queue.get_job_ids()} == before
    assert orders_of(api, partner) == []


def test_an_invalid_key_is_422_on_a_dry_run_too(api, world):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)

    response = api.post(
        f"/v1/partner/customers/{tenant.id}/orders?dry_run=true",
        token=partner.token,
        json={"devices": [device()]},
        headers={"Idempotency-Key": "k" * 201},
    )

    assert_problem(response, 422, "idempotency_key_invalid")
