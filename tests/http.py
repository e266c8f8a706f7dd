"""Talking to the app over real HTTP: a client that checks every response
against the OpenAPI spec, problem-JSON assertions, uploads, and waiting for an
order to be final."""

from __future__ import annotations

import json
import os
import re
import time

import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from prometheus_client.parser import text_string_to_metric_families


class ApiClient:
    """requests, plus: every response must conform to /openapi.json."""

    def __init__(self, base_url: str, spec: dict) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        spec = dict(spec, servers=[{"url": base_url}])
        config = Config(
            extra_media_type_deserializers={
                "application/problem+json": json.loads,
                "text/csv": lambda data, **_: data.decode("utf-8"),
            }
        )
        self.openapi = OpenAPI.from_dict(spec, config=config)

    def request(
        self, method: str, path: str, *, token: str | None = None, check: bool = True, **kwargs
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = self.http.request(
            method, self.base_url + path, headers=headers, timeout=60, **kwargs
        )
        if check:
            self.check_against_spec(response)
        return response

    def check_against_spec(self, response: requests.Response) -> None:
        self.openapi.validate_response(
            RequestsOpenAPIRequest(response.request), RequestsOpenAPIResponse(response)
        )

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def token(self, client_id: str, client_secret: str, scope: str | None = None) -> str:
        data = {"grant_type": "client_credentials"}
        if scope:
            data["scope"] = scope
        response = self.post("/oauth/token", data=data, auth=(client_id, client_secret))
        assert response.status_code == 200, response.text
        return response.json()["access_token"]


def assert_problem(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert body["title"] and body["detail"] and body["type"]
    return body


def wait_for_order(
    api: ApiClient, token: str, location: str, run_worker, timeout: float = 60
) -> dict:
    """Run the worker until the order is final; return the order."""
    deadline = time.monotonic() + timeout
    while True:
        run_worker()
        order = api.get(location, token=token).json()
        if order["completed_at"] is not None:
            return order
        if time.monotonic() > deadline:
            raise AssertionError(f"order not final after {timeout}s: {order}")
        time.sleep(0.05)


def order_path(tenant) -> str:
    """Where a partner submits an order for ``tenant`` (a ``Principal``)."""
    return f"/v1/partner/customers/{tenant.id}/orders"


def rows_of(api: ApiClient, token: str, order: dict) -> list[dict]:
    """The first 100 rows of an order, in line order."""
    return api.get(
        f"/v1/partner/orders/{order['id']}/registrations?page_size=100", token=token
    ).json()


def upload(
    api: ApiClient,
    path: str,
    token: str,
    files: list[tuple[str, bytes]],
    params: dict | None = None,
    headers: dict | None = None,
    **fields,
) -> requests.Response:
    """POST files in the multipart field ``file`` (repeated), plus form fields."""
    return api.post(
        path,
        token=token,
        files=[("file", (name, data, "text/csv")) for name, data in files],
        data={k: v for k, v in fields.items() if v is not None},
        params=params,
        headers=headers,
    )


def fill_rule(rule: str, ids: dict[str, str]) -> tuple[str, set[str]]:
    """A URL rule with an organisation's object IDs in its parameters, and the
    IDs used. An ``any(...)`` parameter takes its first choice; a parameter
    with no known object fails, so a new route cannot slip past a walk."""
    used = set()

    def fill(match: re.Match) -> str:
        converter, name = match.group(1) or "", match.group(2)
        if converter.startswith("any("):
            return converter[4:].split(",")[0].strip()
        if name not in ids:
            raise AssertionError(
                f"{rule}: no object of A is known for <{name}>; add one to the estate fixture"
            )
        used.add(ids[name])
        return ids[name]

    return re.sub(r"<(?:([^:>]+):)?([a-z_]+)>", fill, rule), used


# The configured scraper's credentials for /metrics (tests/conftest.py sets the token).
METRICS_SCRAPER = {"Authorization": f"Bearer {os.environ['METRICS_TOKEN']}"}


def metric_samples(api: ApiClient) -> dict[tuple[str, tuple], float]:
    """A /metrics scrape as the configured scraper: (name, labels) -> value."""
    response = api.get("/metrics", check=False, headers=METRICS_SCRAPER)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def metric_value(samples, name: str, **labels) -> float:
    """One sample of a scrape; 0 when the scrape has none."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
