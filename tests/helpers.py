"""Test helpers: an HTTP client that checks every response against the
OpenAPI spec, and a small world of partners, tenants and clients."""

from __future__ import annotations

import codecs
import io
import json
import re
import time
import uuid
import zipfile
from dataclasses import dataclass

import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from partner_api.auth.principals import SCOPES_BY_KIND
from tenants.access import organisations
from tenants.access.clients import create_client
from tenants.ingest.hardware_hash import build_hardware_hash


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


@dataclass
class Organisation:
    """A partner and its customer, an approved relationship, and one order of
    one registered device: the objects isolation tests try to reach."""

    partner: Principal
    tenant: Principal
    relationship_id: str
    order: dict
    row: dict
    serial: str


class World:
    """Partners, tenants and their clients, created through the domain (as an
    operator's CLI does) and signed in through the real token endpoint."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    def _client(self, kind: str, scopes: tuple[str, ...] | None = None, **ids) -> tuple[str, str]:
        issued = create_client(kind, scopes=scopes or SCOPES_BY_KIND[kind], **ids)
        return issued.client_id, issued.client_secret

    def partner(self, scopes: tuple[str, ...] | None = None) -> Principal:
        partner = organisations.create_partner(unique("Partner"))
        client_id, secret = self._client("partner", scopes, partner_id=partner.id)
        return Principal(partner.id, client_id, secret, self.api.token(client_id, secret))

    def tenant(self, scopes: tuple[str, ...] | None = None) -> Principal:
        tenant = organisations.create_tenant(unique("Tenant"), "example.test")
        client_id, secret = self._client("tenant", scopes, tenant_id=tenant.id)
        return Principal(tenant.id, client_id, secret, self.api.token(client_id, secret))

    def supplier(self) -> Principal:
        supplier_id = unique("OEM")
        client_id, secret = self._client("supplier", supplier_id=supplier_id)
        return Principal(None, client_id, secret, self.api.token(client_id, secret))

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

    def organisation_with_a_device(self, run_worker) -> Organisation:
        partner, tenant = self.partner(), self.tenant()
        relationship_id = self.approved(partner, tenant)
        serial = unique("SECRET-SN")
        response = self.submit(partner, tenant, [device(serial)], order_id=unique("SECRET-PO"))
        order = wait_for_order(self.api, partner.token, response.headers["Location"], run_worker)
        [row] = self.api.get(
            f"/v1/partner/orders/{order['id']}/registrations", token=partner.token
        ).json()
        return Organisation(partner, tenant, relationship_id, order, row, serial)

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


def order_path(tenant: Principal) -> str:
    """Where a partner submits an order for ``tenant``."""
    return f"/v1/partner/customers/{tenant.id}/orders"


def rows_of(api: ApiClient, token: str, order: dict) -> list[dict]:
    """The first 100 rows of an order, in line order."""
    return api.get(
        f"/v1/partner/orders/{order['id']}/registrations?page_size=100", token=token
    ).json()


def assert_problem(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert body["title"] and body["detail"] and body["type"]
    return body


# A group tag that no tenant's policy accepts: longer than any tag may be.
UNACCEPTABLE_TAG = "Microsoft365Managed_" + "Standard" * 16

# CSV files as the collection tools and portals write them (SPEC section 3).
CSV_HEADERS = {
    "self_registration": ("Manufacturer", "Model", "Serial Number", "Hardware Hash"),
    "collection_script": (
        "Device Serial Number",
        "Windows Product ID",
        "Hardware Hash",
        "Group Tag",
        "Assigned User",
    ),
    "partner": (
        "Device Serial Number",
        "Windows Product ID",
        "Hardware Hash",
        "Manufacturer name",
        "Device model",
    ),
}


def csv_row(
    fmt: str,
    *,
    serial: str,
    manufacturer: str = "Contoso",
    model: str = "Laptop 7",
    hardware_hash: str = "",
    product_id: str = "",
    group_tag: str = "",
    user: str = "",
) -> list[str]:
    if fmt == "self_registration":
        return [manufacturer, model, serial, hardware_hash]
    if fmt == "collection_script":
        return [serial, product_id, hardware_hash, group_tag, user]
    return [serial, product_id, hardware_hash, manufacturer, model]


def encode_csv(
    lines: list[list[str] | tuple[str, ...] | str],
    *,
    encoding: str = "utf-8",
    newline: str = "\r\n",
    quoted: bool = False,
) -> bytes:
    """Lines (lists of cells, or raw text) as the bytes of a CSV file.

    ``encoding`` is ``utf-8``, ``utf-8-sig`` or ``utf-16-le-bom`` (what
    Windows PowerShell 5.1's Out-File writes).
    """
    rendered = []
    for line in lines:
        if isinstance(line, str):
            rendered.append(line)
        elif quoted:
            rendered.append(",".join('"' + cell.replace('"', '""') + '"' for cell in line))
        else:
            rendered.append(",".join(line))
    text = newline.join(rendered) + newline
    if encoding == "utf-16-le-bom":
        return codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    return text.encode(encoding)


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


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
