"""Operations and the authorization server: health, readiness, keys, tokens."""

from __future__ import annotations

import marshmallow as ma
from flask import current_app

from jobs.connection import connect
from jobs.worker import live_workers
from partner_api.auth import tokens
from partner_api.blueprint import ApiBlueprint
from tenants.operations import health

blp = ApiBlueprint(
    "operations", __name__, description="Health, keys and tokens.", operation_prefix=""
)


class HealthSchema(ma.Schema):
    status = ma.fields.String(required=True)
    checks = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())


class JwksSchema(ma.Schema):
    keys = ma.fields.List(ma.fields.Dict(), required=True)


class TokenRequestSchema(ma.Schema):
    grant_type = ma.fields.String(required=True, metadata={"enum": ["client_credentials"]})
    scope = ma.fields.String(metadata={"description": "Space-separated; default: all allowed"})
    client_id = ma.fields.String(metadata={"description": "client_secret_post only"})
    client_secret = ma.fields.String(metadata={"description": "client_secret_post only"})


class TokenSchema(ma.Schema):
    access_token = ma.fields.String(required=True)
    token_type = ma.fields.String(required=True)
    expires_in = ma.fields.Integer(required=True)
    scope = ma.fields.String(required=True)


@blp.route("/healthz")
@blp.response(200, HealthSchema)
def healthz():
    """The process is up."""
    return {"status": "ok"}


@blp.route("/readyz")
@blp.response(200, HealthSchema)
@blp.alt_response(503, schema=HealthSchema, description="A dependency is unreachable.")
def readyz():
    """The database and Redis are reachable, and at least one worker that
    listens to every queue sent a heartbeat recently (otherwise orders would
    wait)."""
    checks = {}
    try:
        health.check_database()
        checks["database"] = "ok"
    except Exception as exc:  # report, never raise: this is a probe
        checks["database"] = f"unreachable: {type(exc).__name__}"
    settings = current_app.extensions["partner_api.settings"]
    try:
        redis = connect(settings)
        redis.ping()
        checks["redis"] = "ok"
        checks["workers"] = "ok" if live_workers(redis, settings) else "no live worker"
    except Exception as exc:
        checks["redis"] = f"unreachable: {type(exc).__name__}"
        checks["workers"] = "unknown: Redis unreachable"
    ok = all(v == "ok" for v in checks.values())
    return {"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503


@blp.route("/metrics")
@blp.doc(
    responses={
        "200": {
            "description": "Prometheus metrics (text exposition format)",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
    security=[{"metricsToken": []}],
)
@blp.problem(401, 404)
def prometheus_metrics():
    """Metrics for Prometheus: requests, rows by outcome, orders, queues, jobs, sweeper.

    Only for the scraper holding ``METRICS_TOKEN`` (``Authorization: Bearer ...``);
    404 when none is configured. Totals are at most ``METRICS_CACHE_SECONDS`` old.
    """
    from partner_api import metrics

    metrics.require_scraper()
    return metrics.scrape(current_app)


@blp.route("/.well-known/jwks.json")
@blp.response(200, JwksSchema)
def jwks():
    """The public keys that verify access tokens, each with its ``kid``."""
    return current_app.extensions["partner_api.keys"].public_jwks()


@blp.route("/oauth/token", methods=["POST"])
@blp.doc(
    requestBody={
        "required": True,
        "content": {"application/x-www-form-urlencoded": {"schema": "TokenRequest"}},
    },
    security=[{}, {"clientBasic": []}],
)
@blp.response(200, TokenSchema)
@blp.problem(400, 401)
def token():
    """Issue an access token (OAuth 2.0 client credentials).

    Authenticate with HTTP Basic (``client_secret_basic``) or with
    ``client_id``/``client_secret`` form fields (``client_secret_post``).
    """
    return tokens.token_response()
