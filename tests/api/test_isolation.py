"""Isolation, checked route by route: every route in the app's URL map is
called as each principal that must not reach it, and as organisation B with
organisation A's object IDs. Each answer is a 404 (a 403
``relationship_required`` on a partner's create paths) and carries none of
A's data. A route this test does not know how to call makes it fail, so a new
route cannot slip in unscoped."""

from __future__ import annotations

import pytest

from tests.factories import device
from tests.http import fill_rule

# Routes anyone may call, without a token.
PUBLIC = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/docs/assets/<path:filename>",
    "/.well-known/jwks.json",
    "/oauth/token",
    "/static/<path:filename>",
}
# The portal's pages (session cookies, not tokens) are walked in
# tests/portal/test_portal_http.py.
PORTAL = "/portal/"

# Asks a list for its CSV export.
CSV = {"Accept": "text/csv"}

# The principal kind each audience prefix serves.
AUDIENCES = {
    "/v1/partner/": "partner",
    "/v1/customer/": "tenant",
    "/v1/support/": "support",
    "/v1/supplier/": "supplier",
}

# Create paths that act only on the caller's own organisation: another
# organisation of the same kind calling them touches nothing of A's.
SELF_SCOPED = {
    ("POST", "/v1/customer/orders"),
    ("POST", "/v1/supplier/catalog"),
    ("POST", "/v1/partner/webhooks"),
    ("POST", "/v1/customer/webhooks"),
}

# A webhook receiver nobody listens on: A's deliveries fail, and are logged.
NOWHERE = "http://127.0.0.1:9/hooks"

# Partner create paths naming a customer: without an active relationship the
# answer is 403 relationship_required. Asking for a relationship is the one
# thing a partner may do with any customer's ID: it only creates its own
# pending request.
RELATIONSHIP_REQUIRED = {("POST", "/v1/partner/customers/<uuid:tenant_id>/orders")}
# Bulk actions name devices in their body: another customer sending A's
# device ids gets its own action, in which each of them is not found.
BULK_ACTIONS = {
    ("POST", "/v1/customer/devices/bulk-deregister"),
    ("POST", "/v1/customer/devices/bulk-group-tag"),
}
OPEN_TO_ANY_PARTNER = {("POST", "/v1/partner/customers/<uuid:tenant_id>/relationship-requests")}


@pytest.fixture
def estate(api, world, run_worker):
    """Organisation A's objects, and principals of every kind that are not A."""
    a = world.organisation_with_a_device(run_worker)
    partner_a, tenant_a, relationship_id = a.partner, a.tenant, a.relationship_id
    order, row, serial = a.order, a.row, a.serial
    partner_b, tenant_b = world.partner(), world.tenant()
    world.approved(partner_b, tenant_b)
    # Each of A's organisations has a webhook endpoint with a delivery in its log.
    hooks = {}
    for audience, principal in (("partner", partner_a), ("customer", tenant_a)):
        hook = api.post(
            f"/v1/{audience}/webhooks", token=principal.token, json={"url": NOWHERE}
        ).json()
        delivery = api.post(
            f"/v1/{audience}/webhooks/{hook['id']}/ping", token=principal.token
        ).json()
        hooks[audience] = {"webhook_id": hook["id"], "delivery_id": delivery["id"]}
        hooks[audience + "_secrets"] = {hook["id"], delivery["id"], hook["secret"]}
    run_worker()
    # A bulk action of A's (on an id that is no device: nothing of A's changes).
    bulk_action = api.post(
        "/v1/customer/devices/bulk-deregister",
        token=tenant_a.token,
        json={"ids": ["00000000-0000-4000-8000-000000000000"]},
    ).json()
    return {
        "a": {
            "tenant_id": str(tenant_a.id),
            "order_id": order["id"],
            "device_id": row["id"],
            "relationship_id": relationship_id,
            "request_id": order["request_id"],
            "bulk_action_id": bulk_action["id"],
        },
        # The IDs that differ by audience: A's partner's, A's customer's.
        "a_by_audience": {"partner": hooks["partner"], "tenant": hooks["customer"]},
        "a_secrets": hooks["partner_secrets"]
        | hooks["customer_secrets"]
        | {
            str(tenant_a.id),
            str(partner_a.id),
            order["id"],
            row["id"],
            relationship_id,
            order["request_id"],
            order["order_id"],
            serial,
            bulk_action["id"],
        },
        "a_principals": {"partner": partner_a, "tenant": tenant_a},
        "others": {
            "partner": partner_b,
            "tenant": tenant_b,
            "support": world.support(),
            "supplier": world.supplier(),
        },
        "partner_a": partner_a,
        "tenant_a": tenant_a,
        "serial": serial,
    }


def _routes(app) -> list[tuple[str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, rule.rule))
    return sorted(found)


def _audience(rule: str) -> str:
    for prefix, kind in AUDIENCES.items():
        if rule.startswith(prefix):
            return kind
    raise AssertionError(
        f"{rule} is neither public nor under an audience prefix: give it an audience "
        "(and ApiBlueprint.auth), or list it in PUBLIC if anyone may call it"
    )


def _body(method: str, rule: str, ids: dict[str, str]) -> dict:
    """A body that would be accepted from the rightful caller, so that only
    authorization can refuse it."""
    if method == "PATCH":
        return {"json": {"description": "changed"}}
    if method != "POST":
        return {}
    if (method, rule) in BULK_ACTIONS:
        tag = {"group_tag": "Kiosk"} if rule.endswith("group-tag") else {}
        return {"json": {"ids": [ids["device_id"]], **tag}}
    if rule.endswith("/orders") or rule.endswith("/catalog"):
        return {"json": {"devices": [device()]}}
    if rule.endswith("/webhooks"):
        return {"json": {"url": NOWHERE}}
    return {"json": {}}


def _assert_no_foreign_data(response, secrets: set[str], context: str) -> None:
    leaked = [s for s in secrets if s in response.text]
    assert not leaked, f"{context}: the body shows A's {leaked}: {response.text[:300]}"


def test_every_route_is_scoped(app, api, estate, run_worker):
    routes = _routes(app)
    assert len(routes) > 20  # the walk really covers the app
    checked = exports = 0
    for method, rule in routes:
        if rule in PUBLIC or rule.startswith(PORTAL):
            continue
        owner = _audience(rule)
        path, used = fill_rule(rule, {**estate["a"], **estate["a_by_audience"].get(owner, {})})
        secrets = estate["a_secrets"] - used
        body = _body(method, rule, estate["a"])

        # 1. Every principal of another kind: 404, as if the route did not exist.
        for kind, principal in {**estate["others"], **estate["a_principals"]}.items():
            if kind == owner:
                continue
            response = api.request(method, path, token=principal.token, **body)
            context = f"{method} {rule} as {kind}"
            assert response.status_code == 404, f"{context}: {response.status_code}"
            assert response.json()["code"] == "not_found", context
            _assert_no_foreign_data(response, secrets, context)
            checked += 1

        # 2. Organisation B of the right kind, with A's IDs.
        if owner in ("support", "supplier"):
            continue  # not tenant data: covered by step 1
        other = estate["others"][owner]
        context = f"{method} {rule} as another {owner} with A's IDs"
        if (method, rule) in SELF_SCOPED:
            continue
        response = api.request(method, path, token=other.token, **body)
        if (method, rule) in RELATIONSHIP_REQUIRED:
            assert response.status_code == 403, f"{context}: {response.status_code}"
            assert response.json()["code"] == "relationship_required", context
        elif (method, rule) in BULK_ACTIONS:
            assert response.status_code == 202, f"{context}: {response.status_code}"
            action = response.json()
            assert (action["status"], action["failed"], action["succeeded"]) == (
                "completed",
                1,
                0,
            ), context
            [result] = api.get(
                f"/v1/customer/bulk-actions/{action['id']}/results", token=other.token
            ).json()
            assert (result["outcome"], result["code"]) == ("failed", "not_found"), context
            assert result["serial_number"] is None, context
        elif (method, rule) in OPEN_TO_ANY_PARTNER:
            assert response.status_code == 201, f"{context}: {response.status_code}"
            assert response.json()["partner_id"] == str(other.id)
            assert response.json()["status"] == "pending"
        elif used:
            assert response.status_code == 404, f"{context}: {response.status_code}"
            assert response.json()["code"] == "not_found", context
        else:
            assert method == "GET", f"{context}: a new create path? classify it above"
            assert response.status_code == 200, f"{context}: {response.status_code}"
        _assert_no_foreign_data(response, secrets, context)
        checked += 1
        if method == "GET":
            # The same read as a CSV export (lists that have one stream every
            # matching row): the same answer, and as little of A's.
            exported = api.request(method, path, token=other.token, headers=CSV)
            context += " as CSV"
            assert exported.status_code == response.status_code, f"{context}: {exported.text}"
            _assert_no_foreign_data(exported, secrets, context)
            exports += exported.headers["Content-Type"].startswith("text/csv")
    assert checked > 60
    assert exports >= 3  # the devices, and the orders of both audiences

    # Nothing of A's changed.
    run_worker()
    tenant_a = estate["tenant_a"]
    devices = api.get(
        f"/v1/customer/devices?serial_number={estate['serial']}", token=tenant_a.token
    ).json()
    assert [(d["state"], d["last_seen_at"]) for d in devices] == [("ready_for_user", None)]
    relationships = api.get("/v1/customer/relationships", token=tenant_a.token).json()
    assert {(r["partner_id"], r["status"]) for r in relationships} >= {
        (str(estate["partner_a"].id), "active")
    }
    assert all(
        r["status"] == "pending"
        for r in relationships
        if r["partner_id"] != str(estate["partner_a"].id)
    )
    for audience, principal in (("partner", estate["partner_a"]), ("customer", tenant_a)):
        [hook] = api.get(f"/v1/{audience}/webhooks", token=principal.token).json()
        assert (hook["description"], hook["enabled"]) == (None, True)


def test_every_api_view_declares_its_principal_and_scope(app):
    """Each /v1 view is wrapped by ApiBlueprint.auth (checked on the view itself,
    not only by calling it)."""
    for rule in app.url_map.iter_rules():
        if rule.rule in PUBLIC or not rule.rule.startswith("/v1/"):
            continue
        view = app.view_functions[rule.endpoint]
        declared = getattr(view, "principal_requirement", None)
        assert declared is not None, f"{rule.rule} has no ApiBlueprint.auth"
        assert declared[0] == _audience(rule.rule), f"{rule.rule} serves {declared[0]}"
