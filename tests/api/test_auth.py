"""OAuth 2.0 client credentials and token validation."""

from __future__ import annotations

import contextvars
import time
import uuid

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select, update

from config import logging as log_context
from partner_api.auth.keys import load_signing_key
from partner_api.auth.principals import Principal, acting_as
from tenants import db
from tenants.access import organisations
from tenants.models import ApiClient, Order
from tenants.scoping import Scope, ScopeMissing, scoped
from tests.http import assert_problem


def _claims(token: str) -> tuple[dict, dict]:
    parsed = jwt.decode(token, lambda obj: RSAKey.import_key(_public_key()))
    return parsed.header, parsed.claims


_KEY_CACHE: dict = {}


def _public_key():
    return _KEY_CACHE["jwk"]


def test_token_is_issued_with_client_secret_basic(api, world, settings):
    partner = world.partner()
    response = api.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(partner.client_id, partner.client_secret),
    )

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"].lower() == "bearer"
    assert body["expires_in"] == settings.token_lifetime_seconds
    assert set(body["scope"].split()) == {"partner:read", "partner:write"}
    jwks = api.get("/.well-known/jwks.json").json()["keys"]
    _KEY_CACHE["jwk"] = jwks[0]
    header, claims = _claims(body["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256"
    assert header["kid"] == jwks[0]["kid"]
    assert claims["iss"] == settings.jwt_issuer
    assert claims["aud"] == settings.jwt_audience
    assert claims["sub"] == claims["client_id"] == partner.client_id
    assert claims["exp"] - claims["iat"] == settings.token_lifetime_seconds
    assert claims["jti"] and claims["scope"] == body["scope"]
    assert claims["principal_kind"] == "partner"
    assert claims["principal_id"] == str(partner.id)


def test_token_is_issued_with_client_secret_post(api, world):
    tenant = world.tenant()
    response = api.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": tenant.client_id,
            "client_secret": tenant.client_secret,
            "scope": "customer:read",
        },
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "customer:read"


def test_wrong_secret_is_refused(api, world):
    partner = world.partner()
    response = api.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(partner.client_id, "not-the-secret"),
    )
    body = assert_problem(response, 401, "invalid_client")
    assert body["error"] == "invalid_client"
    assert "not-the-secret" not in response.text


def test_unknown_grant_type_is_refused(api, world):
    partner = world.partner()
    response = api.post(
        "/oauth/token",
        data={"grant_type": "password"},
        auth=(partner.client_id, partner.client_secret),
    )
    assert_problem(response, 400, "unsupported_grant_type")


def _signed(settings, claims: dict, *, key=None, header: dict | None = None) -> str:
    signing = load_signing_key(settings.jwt_private_key_file)
    key = key or signing.key
    return jwt.encode(header or {"alg": "RS256", "typ": "at+jwt", "kid": signing.kid}, claims, key)


def _good_claims(settings, world_partner, **overrides) -> dict:
    now = int(time.time())
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": world_partner.client_id,
        "client_id": world_partner.client_id,
        "iat": now,
        "exp": now + 300,
        "jti": "test-jti",
        "scope": "partner:read partner:write",
        "principal_kind": "partner",
        "principal_id": str(world_partner.id),
    }
    claims.update(overrides)
    return claims


def test_a_correctly_signed_token_is_accepted(api, world, settings):
    partner = world.partner()
    token = _signed(settings, _good_claims(settings, partner))
    assert api.get("/v1/partner/customers", token=token).status_code == 200


def test_expired_token_is_refused(api, world, settings):
    partner = world.partner()
    now = int(time.time())
    token = _signed(settings, _good_claims(settings, partner, iat=now - 7200, exp=now - 3600))
    assert_problem(api.get("/v1/partner/customers", token=token), 401, "invalid_token")


def test_token_not_yet_valid_is_refused(api, world, settings):
    partner = world.partner()
    token = _signed(settings, _good_claims(settings, partner, nbf=int(time.time()) + 3600))
    assert_problem(api.get("/v1/partner/customers", token=token), 401, "invalid_token")


def test_forged_token_is_refused(api, world, settings):
    partner = world.partner()
    forger = RSAKey.generate_key(2048)
    token = _signed(settings, _good_claims(settings, partner), key=forger)
    assert_problem(api.get("/v1/partner/customers", token=token), 401, "invalid_token")


def test_wrong_audience_token_is_refused(api, world, settings):
    partner = world.partner()
    token = _signed(settings, _good_claims(settings, partner, aud="urn:someone-else"))
    assert_problem(api.get("/v1/partner/customers", token=token), 401, "invalid_token")


def test_wrong_issuer_token_is_refused(api, world, settings):
    partner = world.partner()
    token = _signed(settings, _good_claims(settings, partner, iss="urn:evil"))
    assert_problem(api.get("/v1/partner/customers", token=token), 401, "invalid_token")


def test_token_without_at_jwt_type_is_refused(api, world, settings):
    partner = world.partner()
    signing = load_signing_key(settings.jwt_private_key_file)
    token = _signed(
        settings,
        _good_claims(settings, partner),
        header={"alg": "RS256", "typ": "JWT", "kid": signing.kid},
    )
    assert_problem(api.get("/v1/partner/customers", token=token), 401, "invalid_token")


def test_unsigned_token_is_refused(api, world, settings, base_url):
    partner = world.partner()
    import base64
    import json

    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    token = f"{b64({'alg': 'none', 'typ': 'at+jwt'})}.{b64(_good_claims(settings, partner))}."
    assert_problem(api.get("/v1/partner/customers", token=token), 401, "invalid_token")


def test_missing_token_is_401_with_a_hint(api):
    body = assert_problem(api.get("/v1/partner/customers"), 401, "missing_token")
    assert "/oauth/token" in body["detail"]


def test_garbage_token_is_401(api):
    assert_problem(api.get("/v1/partner/customers", token="garbage"), 401, "invalid_token")


def test_missing_scope_is_403(api, world):
    partner = world.partner(scopes=("partner:read",))
    tenant = world.tenant()
    response = api.post(
        f"/v1/partner/customers/{tenant.id}/orders",
        token=partner.token,
        json={"devices": [{"serial_number": "X"}]},
    )
    body = assert_problem(response, 403, "insufficient_scope")
    assert "partner:write" in body["detail"]


def test_a_principal_of_another_kind_sees_nothing(api, world):
    tenant = world.tenant()
    assert_problem(api.get("/v1/partner/orders", token=tenant.token), 404, "not_found")
    partner = world.partner()
    assert_problem(api.get("/v1/customer/devices", token=partner.token), 404, "not_found")
    assert_problem(api.get("/v1/support/requests/abc", token=partner.token), 404, "not_found")


def test_jwks_publishes_public_keys_only(api):
    keys = api.get("/.well-known/jwks.json").json()["keys"]
    assert keys and all("kid" in k and "d" not in k and "p" not in k for k in keys)


def test_client_secrets_are_stored_hashed(world, settings):
    from sqlalchemy import select

    from tenants import db
    from tenants.models import ApiClient

    partner = world.partner()
    with db.transaction() as session:
        row = session.scalars(
            select(ApiClient).where(ApiClient.client_id == partner.client_id)
        ).one()
    assert partner.client_secret not in row.secret_hash
    assert row.secret_hash.startswith("scrypt:")


def test_token_endpoint_rejects_get(base_url):
    response = requests.get(f"{base_url}/oauth/token", timeout=10)
    assert response.status_code == 405
    assert response.headers["Content-Type"].startswith("application/problem+json")


# --- scopes and principals are the client record's ---------------------------------------


def _token_request(api, client, scope: str):
    return api.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(client.client_id, client.client_secret),
    )


def test_a_scope_the_client_does_not_hold_is_invalid_scope(api, world):
    reader = world.partner(scopes=("partner:read",))
    for scope in ("partner:write", "partner:read partner:write", "customer:read", "admin"):
        body = assert_problem(_token_request(api, reader, scope), 400, "invalid_scope")
        assert body["error"] == "invalid_scope"
        assert scope.split()[-1] in body["error_description"]
    granted = _token_request(api, reader, "partner:read")
    assert granted.status_code == 200 and granted.json()["scope"] == "partner:read"


def test_a_signed_token_naming_another_principal_than_its_client_is_refused(api, world, settings):
    """The principal is the client record's: a token that says its client is
    another partner (or another kind) opens nothing."""
    partner, victim = world.partner(), world.partner()
    for overrides in (
        {"principal_id": str(victim.id)},
        {"principal_kind": "support", "principal_id": None},
        {"principal_kind": "tenant"},
    ):
        token = _signed(settings, _good_claims(settings, partner, **overrides))
        assert_problem(api.get("/v1/partner/customers", token=token), 401, "invalid_token")


def test_a_scope_taken_from_the_client_stops_its_tokens_granting_it(api, world):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    with db.transaction() as session:
        session.execute(
            update(ApiClient)
            .where(ApiClient.client_id == partner.client_id)
            .values(scopes="partner:read")
        )
    response = world.submit(partner, tenant, [{"serial_number": "X"}])
    assert_problem(response, 403, "insufficient_scope")
    assert api.get("/v1/partner/customers", token=partner.token).status_code == 200


def test_acting_as_a_principal_enters_its_data_scope_and_names_it_in_the_logs(settings):
    """The one way in for both the API and the portal: a tenant sees its own
    rows only, and support (no data scope) cannot read a tenant-owned table."""
    a = organisations.create_tenant(f"Acting A {uuid.uuid4().hex[:6]}")
    b = organisations.create_tenant(f"Acting B {uuid.uuid4().hex[:6]}")
    for tenant in (a, b):
        with scoped(Scope.tenant(tenant.id)), db.transaction() as session:
            session.add(Order(tenant_id=tenant.id, request_id="acting-as-test"))

    def orders_seen_by(principal: Principal) -> tuple[set, dict]:
        with acting_as(principal), db.transaction() as session:
            seen = set(session.scalars(select(Order.tenant_id)).all())
        return seen, log_context.context()

    tenant_a = Principal("tenant", str(a.id), "client-a", frozenset())
    seen, logged = contextvars.copy_context().run(orders_seen_by, tenant_a)
    assert seen == {a.id}
    assert logged["principal"] == f"tenant:{a.id}"
    assert logged["client_id"] == "client-a"

    support = Principal("support", None, "client-support", frozenset())
    with pytest.raises(ScopeMissing):
        contextvars.copy_context().run(orders_seen_by, support)
