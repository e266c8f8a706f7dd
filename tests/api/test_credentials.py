"""Signing key rotation, client secret rotation and client revocation, done
with the operator's command line against the running service."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time

from tests.http import assert_problem

ROTATION_NOTICED = 1.2  # API processes look for new key files once a second


def cli(*args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "partner_api.cli", *args, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def kid_of(token: str) -> str:
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def test_key_rotation_keeps_old_tokens_valid_until_they_expire(api, world):
    partner = world.partner()
    old_token = partner.token
    old_kid = kid_of(old_token)

    rotated = cli("keys", "rotate")
    time.sleep(ROTATION_NOTICED)

    assert rotated["retired_kid"] == old_kid and rotated["kid"] != old_kid
    published = {k["kid"] for k in api.get("/.well-known/jwks.json").json()["keys"]}
    assert {old_kid, rotated["kid"]} <= published
    # Tokens signed before the rotation still work ...
    assert api.get("/v1/partner/customers", token=old_token).status_code == 200
    # ... and new ones are signed with the new key.
    new_token = api.token(partner.client_id, partner.client_secret)
    assert kid_of(new_token) == rotated["kid"]
    assert api.get("/v1/partner/customers", token=new_token).status_code == 200


def test_a_retired_key_stops_verifying_when_its_grace_ends(api, world):
    partner = world.partner()
    old_token = partner.token

    rotated = cli("keys", "rotate", "--grace", "0")
    time.sleep(ROTATION_NOTICED)

    assert rotated["retired_kid"] not in {
        k["kid"] for k in api.get("/.well-known/jwks.json").json()["keys"]
    }
    assert_problem(api.get("/v1/partner/customers", token=old_token), 401, "invalid_token")
    fresh = api.token(partner.client_id, partner.client_secret)
    assert api.get("/v1/partner/customers", token=fresh).status_code == 200


def test_secret_rotation(api, world):
    partner = world.partner()

    rotated = cli("clients", "rotate-secret", partner.client_id)

    refused = api.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(partner.client_id, partner.client_secret),
    )
    assert_problem(refused, 401, "invalid_client")
    token = api.token(partner.client_id, rotated["client_secret"])
    assert api.get("/v1/partner/customers", token=token).status_code == 200


def test_revoked_client_tokens_stop_working_at_once(api, world):
    partner = world.partner()
    assert api.get("/v1/partner/customers", token=partner.token).status_code == 200

    cli("clients", "revoke", partner.client_id)

    assert_problem(api.get("/v1/partner/customers", token=partner.token), 401, "invalid_token")
    refused = api.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(partner.client_id, partner.client_secret),
    )
    assert_problem(refused, 401, "invalid_client")


def test_secret_rotation_ends_the_tokens_minted_before(api, world):
    partner = world.partner()
    before = partner.token
    assert api.get("/v1/partner/customers", token=before).status_code == 200

    rotated = cli("clients", "rotate-secret", partner.client_id)

    assert rotated["tokens_ended"] is True
    assert_problem(api.get("/v1/partner/customers", token=before), 401, "invalid_token")
    after = api.token(partner.client_id, rotated["client_secret"])
    assert api.get("/v1/partner/customers", token=after).status_code == 200


def test_a_planned_rotation_may_keep_the_tokens_minted_before(api, world):
    partner = world.partner()

    rotated = cli("clients", "rotate-secret", partner.client_id, "--keep-tokens")

    assert rotated["tokens_ended"] is False
    assert api.get("/v1/partner/customers", token=partner.token).status_code == 200
    refused = api.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(partner.client_id, partner.client_secret),
    )
    assert_problem(refused, 401, "invalid_client")
