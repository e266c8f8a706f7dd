"""JSON the parser accepts but the service cannot use, sent to every
operation of /openapi.json that takes a JSON body, as the principal it is
for: 100,000 nested ``[`` (a RecursionError in Python's parser) and strings
with lone UTF-16 surrogates (``"\\ud800"``, which no UTF-8 column stores).
Each must be a documented 400 or 422 problem, never a 500, and store nothing.
"""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from tenants import db
from tenants.models import Order
from tenants.scoping import unscoped
from tests.factories import device
from tests.http import assert_problem

# Which principal kind each path prefix is for.
AUDIENCE = {
    "/v1/partner/": "partner",
    "/v1/customer/": "tenant",
    "/v1/support/": "support",
    "/v1/supplier/": "supplier",
}
DEEP = b"[" * 100_000 + b"]" * 100_000
LONE = "\\ud800"  # as it appears in the JSON text


@pytest.fixture
def estate(api, world, run_worker):
    """A principal of each kind, a relationship, a registered device and
    webhook endpoints to aim at."""
    organisation = world.organisation_with_a_device(run_worker)
    hooks = {
        kind: api.post(
            f"/v1/{audience}/webhooks",
            token=getattr(organisation, kind).token,
            json={"url": "http://127.0.0.1:9/hooks"},
        ).json()["id"]
        for kind, audience in (("partner", "partner"), ("tenant", "customer"))
    }
    return {
        # The IDs that differ by principal kind.
        "ids_by_kind": {kind: {"webhook_id": hook} for kind, hook in hooks.items()},
        "partner": organisation.partner,
        "tenant": organisation.tenant,
        "support": world.support(),
        "supplier": world.supplier(),
        "ids": {
            "tenant_id": str(organisation.tenant.id),
            "device_id": organisation.row["id"],
            "relationship_id": organisation.relationship_id,
            "order_id": organisation.order["id"],
            "request_id": organisation.order["request_id"],
        },
    }


def _json_operations(spec: dict) -> list[tuple[str, str, dict]]:
    operations = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            content = (operation.get("requestBody") or {}).get("content", {})
            if "application/json" in content:
                operations.append((method.upper(), path, content["application/json"]["schema"]))
    return operations


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _url(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{([a-z_]+)\}", lambda m: ids[m.group(1)], path)


def _kind(path: str) -> str:
    return next(kind for prefix, kind in AUDIENCE.items() if path.startswith(prefix))


def _every_string_lone(spec: dict, schema: dict) -> bytes:
    """A body whose every string property holds a lone surrogate; a device
    list holds a device whose fields do, a list of strings (ids) one such string."""
    schema = _resolve(spec, schema)
    parts = []
    for name, prop in schema.get("properties", {}).items():
        prop = _resolve(spec, prop)
        if prop.get("type") == "string" and "format" not in prop and "enum" not in prop:
            parts.append(f'"{name}": "x{LONE}"')
        elif prop.get("type") == "array" and name == "devices":
            parts.append(f'"devices": [{{"serial_number": "SN{LONE}", "model": "M{LONE}"}}]')
        elif prop.get("type") == "array" and _resolve(spec, prop["items"]).get("type") == "string":
            parts.append(f'"{name}": ["x{LONE}"]')
    return ("{" + ", ".join(parts) + "}").encode()


def _orders_stored() -> int:
    with unscoped("test counts every order"), db.transaction() as session:
        return session.scalar(select(func.count()).select_from(Order))


def test_every_json_operation_refuses_deep_nesting_and_lone_surrogates(api, estate, openapi_spec):
    operations = _json_operations(openapi_spec)
    assert len(operations) >= 4, operations  # orders (2), catalog, check-ins at least
    before = _orders_stored()
    for method, path, schema in operations:
        principal = estate[_kind(path)]
        url = _url(path, {**estate["ids"], **estate["ids_by_kind"].get(_kind(path), {})})
        bodies = {
            "deep": DEEP,
            "lone surrogate": _every_string_lone(openapi_spec, schema),
            "lone surrogate as a key": f'{{"x{LONE}": 1}}'.encode(),
        }
        for name, body in bodies.items():
            response = api.request(
                method,
                url,
                token=principal.token,
                data=body,
                headers={"Content-Type": "application/json"},
            )
            context = f"{method} {path} with {name}: {response.status_code} {response.text[:300]}"
            assert response.status_code in (400, 422), context
            problem = assert_problem(response, response.status_code, response.json()["code"])
            if name != "lone surrogate as a key":
                assert (
                    "nested too deeply" in problem["detail"] or "surrogate" in problem["detail"]
                ), context
    assert _orders_stored() == before


def test_an_order_with_a_lone_surrogate_in_a_device_field_is_a_400(api, estate):
    partner, tenant = estate["partner"], estate["tenant"]
    row = device()
    body = json.dumps({"order_id": "PO-1", "devices": [row]}).replace('"PO-1"', f'"PO-{LONE}"')
    response = api.post(
        f"/v1/partner/customers/{tenant.id}/orders",
        token=partner.token,
        data=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    problem = assert_problem(response, 400, "bad_request")
    assert "surrogate" in problem["detail"]
    # A pair of surrogates is one real character, and fine.
    paired = json.dumps({"order_id": "PO-\U0001f600", "devices": [device()]})
    response = api.post(
        f"/v1/partner/customers/{tenant.id}/orders",
        token=partner.token,
        data=paired.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["order_id"] == "PO-\U0001f600"
