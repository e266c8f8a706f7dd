"""``partner-api serve`` as an operator runs it: a real process with gunicorn
web workers, an RQ worker and the embedded Redis, killed, frozen, scraped
and stopped."""

from __future__ import annotations

import os
import signal
import uuid

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from sqlalchemy import func, select

from jobs import embedded_redis
from tenants import db
from tenants.models import Registration
from tenants.scoping import unscoped
from tests.factories import World, device
from tests.http import ApiClient
from tests.processes import Serve, json_log_problems, scrape_metrics, wait_until

pytestmark = pytest.mark.timeout(240)


def embedded_redis_id(instance) -> str:
    connection = Redis(unix_socket_path=str(embedded_redis.socket_path(instance)))
    return connection.info("server")["run_id"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child that exited but is not reaped yet is not alive either.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


def world_on(serve: Serve) -> World:
    spec = requests.get(serve.base_url + "/openapi.json", timeout=10).json()
    return World(ApiClient(serve.base_url, spec))


def submit_and_wait(world: World, rows: int = 120) -> dict:
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    response = world.submit(partner, tenant, [device() for _ in range(rows)])
    assert response.status_code == 202, response.text
    location = response.headers["Location"]
    return wait_until(
        lambda: (
            (order := world.api.get(location, token=partner.token).json())["completed_at"] and order
        ),
        90,
        "the order completes",
    )


def counters(serve: Serve) -> dict[tuple, float]:
    text = scrape_metrics(serve.base_url)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        if family.type in ("counter", "histogram")
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


@pytest.fixture(scope="module")
def serve(settings, tmp_path_factory):
    running = Serve(
        settings,
        tmp_path_factory.mktemp("serve"),
        api_workers=3,
        SWEEP_INTERVAL_SECONDS="1",  # heartbeats every second: /readyz notices quickly
        REDIS_URL="",  # the embedded default, in its own instance folder
    )
    running.start()
    yield running
    running.ensure_stopped()


def test_a_killed_web_worker_is_replaced_and_nothing_else_notices(serve):
    api_pid = serve.banner["api_pid"]
    web_workers = wait_until(lambda: len(serve.children(api_pid)) == 3, 60, "3 web workers")
    web_workers = serve.children(api_pid)
    redis_before = embedded_redis_id(serve.instance)

    victim = web_workers[0]
    os.kill(victim, signal.SIGKILL)
    wait_until(
        lambda: victim not in serve.children(api_pid) and len(serve.children(api_pid)) == 3,
        60,
        "gunicorn replaces the web worker",
    )

    # The embedded Redis is the same server (not stopped, not replaced) ...
    assert embedded_redis_id(serve.instance) == redis_before
    # ... the RQ worker still runs, and orders still complete.
    assert alive(serve.banner["worker_pid"])
    order = submit_and_wait(world_on(serve))
    assert order["counts"]["by_state"] == {"ready_for_user": 120}
    assert serve.readiness()[0] == 200


def test_a_killed_rq_worker_is_restarted_and_readyz_tells_the_truth(serve):
    first = serve.banner["worker_pid"]
    os.killpg(first, signal.SIGKILL)  # the worker and its scheduler, as an OOM kill would

    def new_worker() -> int | None:
        pids = [
            p
            for p in serve.children(serve.process.pid)
            if p not in (first, serve.banner["api_pid"])
        ]
        return pids[0] if pids else None

    second = wait_until(new_worker, 60, "serve starts the worker again")
    wait_until(lambda: serve.readiness()[0] == 200, 60, "ready with the new worker")
    order = submit_and_wait(world_on(serve))
    assert order["counts"]["by_state"] == {"ready_for_user": 120}

    # A worker that stops sending heartbeats (frozen) is not counted as live.
    os.killpg(second, signal.SIGSTOP)
    try:
        status, body = wait_until(
            lambda: (r := serve.readiness())[0] == 503 and r, 60, "not ready without a live worker"
        )
        assert body["checks"]["workers"] == "no live worker"
        assert body["checks"]["database"] == body["checks"]["redis"] == "ok"
    finally:
        os.killpg(second, signal.SIGCONT)
    wait_until(lambda: serve.readiness()[0] == 200, 60, "ready again")
    assert "worker exited; starting it again" in serve.output()


def test_metrics_never_go_back_across_web_workers(serve):
    world = world_on(serve)
    submit_and_wait(world, rows=10)
    previous = counters(serve)
    assert any(name == "partner_api_http_requests_total" for name, _ in previous)
    for _ in range(20):
        requests.get(serve.base_url + "/healthz", timeout=10)
        current = counters(serve)
        went_back = {
            key: (previous[key], value)
            for key, value in current.items()
            if key in previous and value < previous[key]
        }
        assert went_back == {}
        assert set(previous) <= set(current)  # no series vanishes either
        previous = current


def test_serve_logs_only_json(serve):
    assert json_log_problems(serve.output()) == []


def test_a_stop_is_quiet_and_loses_no_work(settings, tmp_path):
    """SIGTERM with work in hand and queued; then a restart finishes the work,
    and a Ctrl-C (SIGINT, as on ``make run``) stops it again."""
    serve = Serve(settings, tmp_path / "instance", REDIS_URL="", ORDER_CHUNK_SIZE="50")
    try:
        serve.start()
        wait_until(lambda: serve.readiness()[0] == 200, 60, "the worker is up")
        world = world_on(serve)
        partner, tenant = world.partner(), world.tenant()
        world.approved(partner, tenant)
        response = world.submit(partner, tenant, [device() for _ in range(600)])
        assert response.status_code == 202
        order_pk = uuid.UUID(response.json()["id"])

        assert serve.stop(signal.SIGTERM) == 0  # while the worker has jobs in hand and queued
        children = (serve.banner["api_pid"], serve.banner["worker_pid"])
        assert not any(alive(pid) for pid in children)
        assert not embedded_redis._responds(embedded_redis.socket_path(serve.instance))

        # Started again: what was queued or in hand is finished, nothing pending.
        serve.start()
        order = wait_until(
            lambda: (
                (o := world.api.get(response.headers["Location"], token=partner.token).json())[
                    "completed_at"
                ]
                and o
            ),
            90,
            "the order completes after the restart",
        )
        assert order["counts"]["by_state"] == {"ready_for_user": 600}
        with unscoped("test: pending rows"), db.transaction() as session:
            pending = session.scalar(
                select(func.count())
                .select_from(Registration)
                .where(
                    Registration.order_pk == order_pk, Registration.state == "registration_pending"
                )
            )
        assert pending == 0

        assert serve.stop(signal.SIGINT) == 0
    finally:
        serve.ensure_stopped()
    output = serve.output() + serve.stdout_path.read_text()
    assert "Traceback" not in output
    assert json_log_problems(serve.output()) == []
