"""Test helpers: an HTTP client that checks every response against the
OpenAPI spec, and a small world of partners, tenants and clients."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from partner_api.auth import SCOPES_BY_KIND
from tenants import directory
from tenants.clients import create_client
from tenants.hardware_hash import build_hardware_hash


class ApiClient:
    """requests, plus: every response must conform to /openapi.json."""

    def __init__(self, base_url: str, spec: dict) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        spec = dict(spec, servers=[{"url": base_url}])
        config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
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


@dataclass
class Principal:
    id: uuid.UUID | None
    client_id: str
    client_secret: str
    token: str


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12].upper()}"


def device(
    serial: str | None = None, manufacturer: str = "Contoso", model: str = "Laptop 7", **extra
) -> dict:
    """A JSON order row with a structurally valid, freshly captured hash."""
    serial = serial or unique("SN")
    return {"hardware_hash": build_hardware_hash(manufacturer, model, serial), **extra}


class World:
    """Partners, tenants and their clients, created through the domain (as an
    operator's CLI does) and signed in through the real token endpoint."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    def _client(self, kind: str, scopes: tuple[str, ...] | None = None, **ids) -> tuple[str, str]:
        issued = create_client(kind, scopes=scopes or SCOPES_BY_KIND[kind], **ids)
        return issued.client_id, issued.client_secret

    def partner(self, scopes: tuple[str, ...] | None = None) -> Principal:
        partner = directory.create_partner(unique("Partner"))
        client_id, secret = self._client("partner", scopes, partner_id=partner.id)
        return Principal(partner.id, client_id, secret, self.api.token(client_id, secret))

    def tenant(self, scopes: tuple[str, ...] | None = None) -> Principal:
        tenant = directory.create_tenant(unique("Tenant"), "example.test")
        client_id, secret = self._client("tenant", scopes, tenant_id=tenant.id)
        return Principal(tenant.id, client_id, secret, self.api.token(client_id, secret))

    def support(self) -> Principal:
        client_id, secret = self._client("support")
        return Principal(None, client_id, secret, self.api.token(client_id, secret))

    def approved(self, partner: Principal, tenant: Principal) -> str:
        """Request and approve a relationship through the API; returns its id."""
        response = self.api.post(
            f"/v1/partner/customers/{tenant.id}/relationship-requests", token=partner.token
        )
        assert response.status_code == 201, response.text
        relationship_id = response.json()["id"]
        response = self.api.post(
            f"/v1/customer/relationships/{relationship_id}/approve", token=tenant.token
        )
        assert response.status_code == 200, response.text
        return relationship_id

    def submit(
        self, partner: Principal, tenant: Principal, devices: list[dict], **fields
    ) -> requests.Response:
        return self.api.post(
            f"/v1/partner/customers/{tenant.id}/orders",
            token=partner.token,
            json={"devices": devices, **fields},
        )


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


def assert_problem(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert body["title"] and body["detail"] and body["type"]
    return body
