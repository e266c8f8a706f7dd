"""Request IDs, problem JSON, and an OpenAPI document that tells the truth."""

from __future__ import annotations

import re
import time

import pytest
import requests

from tests.http import assert_problem
from tests.processes import start_worker, stop_all


def test_every_response_carries_a_request_id(api, world):
    partner = world.partner()
    for response in (
        api.get("/healthz"),
        api.get("/v1/partner/orders", token=partner.token),
        api.get("/v1/partner/orders"),
        api.get("/openapi.json", check=False),
    ):
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_a_caller_request_id_never_becomes_the_request_id(api):
    # Kept beside ours as the client request ID (tests/api/test_request_lookup.py).
    response = api.get("/healthz", headers={"X-Request-ID": "partner-trace:42.a_b"})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


@pytest.mark.parametrize("supplied", ["", "has space", "x" * 200, "<script>", "é"])
def test_an_insane_caller_request_id_is_replaced(api, supplied):
    response = api.get("/healthz", headers={"X-Request-ID": supplied.encode("utf-8")})
    assert response.headers["X-Request-ID"] != supplied
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_unknown_path_is_problem_json(base_url):
    response = requests.get(f"{base_url}/no/such/thing", timeout=10)
    assert_problem(response, 404, "not_found")


def test_wrong_method_is_problem_json(base_url):
    response = requests.delete(f"{base_url}/healthz", timeout=10)
    body = assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]
    assert body["detail"]


def test_malformed_id_in_path_is_404(api, world):
    partner = world.partner()
    assert_problem(api.get("/v1/partner/orders/not-a-uuid", token=partner.token), 404, "not_found")


def test_invalid_json_body_is_a_422_naming_the_field(api, world):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    response = api.post(
        f"/v1/partner/customers/{tenant.id}/orders",
        token=partner.token,
        json={"devices": [{"serial_numbr": "typo"}]},
    )
    body = assert_problem(response, 422, "validation_failed")
    assert "serial_numbr" in str(body["errors"])


def test_non_json_body_is_a_clear_error(api, world):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    response = api.post(
        f"/v1/partner/customers/{tenant.id}/orders",
        token=partner.token,
        data=b"\x00\x01 not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422)
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["request_id"] == response.headers["X-Request-ID"]


def test_unexpected_exception_is_a_500_problem_without_stack_trace(settings):
    import threading

    from werkzeug.serving import make_server

    from partner_api.app import create_app

    app = create_app(settings)

    @app.route("/__test/explode")
    def explode():  # a route only this app instance has
        raise RuntimeError("secret internal detail")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        response = requests.get(f"http://127.0.0.1:{server.server_port}/__test/explode", timeout=10)
    finally:
        server.shutdown()
    body = assert_problem(response, 500, "internal_error")
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    assert body["request_id"] in body["detail"]


def test_health_and_readiness(api, settings, redis_connection):
    redis_connection.flushdb()  # no worker registered
    assert api.get("/healthz").json() == {"status": "ok"}
    response = api.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "redis": "ok", "workers": "no live worker"},
    }

    worker = start_worker(settings)
    try:
        ready = wait_for_readiness(api, 200)
        assert ready == {
            "status": "ok",
            "checks": {"database": "ok", "redis": "ok", "workers": "ok"},
        }
    finally:
        stop_all([worker])  # a clean stop takes it off RQ's worker registry
    assert api.get("/readyz").json()["checks"]["workers"] == "no live worker"


def wait_for_readiness(api, status: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        response = api.get("/readyz")
        if response.status_code == status or time.monotonic() > deadline:
            assert response.status_code == status, response.text
            return response.json()
        time.sleep(0.2)


def test_docs_page_is_served_without_a_cdn(base_url):
    page = requests.get(f"{base_url}/docs", timeout=10)
    assert page.status_code == 200
    assert "/docs/assets/swagger-ui-bundle.js" in page.text
    asset = requests.get(f"{base_url}/docs/assets/swagger-ui-bundle.js", timeout=10)
    assert asset.status_code == 200


_UNDOCUMENTED = {
    "/static/<path:filename>",
    "/docs/assets/<path:filename>",
    "/docs",
    "/openapi.json",
}
# The portal's pages are for people, not part of the API contract.
_PORTAL_PREFIX = "/portal/"


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def test_openapi_documents_every_route_with_security_and_errors(app, openapi_spec):
    paths = openapi_spec["paths"]
    for rule in app.url_map.iter_rules():
        if rule.rule in _UNDOCUMENTED or rule.rule.startswith(("/__test", _PORTAL_PREFIX)):
            continue
        path = _openapi_path(rule.rule)
        assert path in paths, f"{rule.rule} is not in /openapi.json"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = paths[path][method.lower()]
            responses = operation["responses"]
            if path.startswith("/v1/"):
                assert operation["security"], f"{method} {path} has no security"
                for status in ("401", "403", "404"):
                    assert status in responses, f"{method} {path} lacks {status}"
                    content = responses[status]["content"]
                    assert "application/problem+json" in content
            if operation.get("requestBody") or "parameters" in operation:
                pass
    schemes = openapi_spec["components"]["securitySchemes"]
    assert schemes["oauth2"]["flows"]["clientCredentials"]["tokenUrl"] == "/oauth/token"


def test_security_headers_on_api_errors_and_docs(api, world):
    partner = world.partner()
    for response in (
        api.get("/v1/partner/customers", token=partner.token),
        api.get("/v1/partner/orders/not-a-uuid", token=partner.token),
        api.get("/healthz"),
    ):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    docs = api.get("/docs", check=False)
    assert docs.status_code == 200
    assert "script-src 'self'" in docs.headers["Content-Security-Policy"]


def test_body_larger_than_the_limit_is_413(api, app, world):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    limit = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 1000
    try:
        response = api.post(
            f"/v1/partner/customers/{tenant.id}/orders",
            token=partner.token,
            files=[("file", ("big.csv", b"x" * 5000, "text/csv"))],
        )
    finally:
        app.config["MAX_CONTENT_LENGTH"] = limit
    body = response.json()
    assert response.status_code == 413 and body["code"] == "payload_too_large"


def test_nul_characters_are_refused_not_a_500(api, world):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)

    in_query = api.get("/v1/customer/devices?serial_number=a%00b", token=tenant.token)
    in_json = api.post(
        f"/v1/partner/customers/{tenant.id}/orders",
        token=partner.token,
        json={"order_id": "a\x00b", "devices": [{"serial_number": "x"}]},
    )
    in_form = api.post(
        f"/v1/partner/customers/{tenant.id}/orders",
        token=partner.token,
        data={"order_id": "a\x00b"},
        files=[
            ("file", ("d.csv", b"Manufacturer,Model,Serial Number,Hardware Hash\r\n", "text/csv"))
        ],
    )

    for response in (in_query, in_json, in_form):
        assert_problem(response, 400, "bad_request")
