"""The application factory."""

from __future__ import annotations

from pathlib import Path

import flask_smorest
import swagger_ui_bundle
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config.logging import configure_logging
from config.settings import Settings
from partner_api import (
    errors,
    failed_attempts,
    i18n,
    json_bodies,
    metrics,
    portal,
    rate_limits,
    request_context,
)
from partner_api.auth import principals, security_headers, tokens
from partner_api.auth.keys import KeyRing
from tenants import db

API_TITLE = "Partner device registration"
API_DESCRIPTION = (
    "Partners (resellers, OEMs) register their customers' new PCs so each PC is claimed by "
    "exactly one organisation before it reaches its user. Customers manage their devices "
    "and partner relationships; support traces any request by its request ID.\n\n"
    "Authenticate with OAuth 2.0 client credentials at `POST /oauth/token`. Errors are "
    "`application/problem+json` (RFC 9457) with a stable `code` and the `request_id`."
)


class Api(flask_smorest.Api):
    ERROR_SCHEMA = errors.ProblemSchema

    def _register_error_handlers(self) -> None:
        errors.register_error_handlers(self._app)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.json = json_bodies.JsonProvider(app)
    app.config.update(
        API_TITLE=API_TITLE,
        API_VERSION="1.0.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/docs/assets/",
        API_SPEC_OPTIONS={"info": {"description": API_DESCRIPTION}},
        MAX_CONTENT_LENGTH=settings.max_upload_bytes + 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.extensions["partner_api.settings"] = settings
    if settings.trusted_proxy_hops:
        # The caller's address and scheme as the load balancers saw them: rate
        # limits count per real address, and HSTS goes out when the caller used
        # HTTPS. Only the hops configured are believed; the rest is the caller's.
        hops = settings.trusted_proxy_hops
        # Flask's documented way to add WSGI middleware; mypy forbids assigning to a method.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    db.configure(settings.database_url)

    request_context.init_app(app)
    i18n.init_app(app)
    security_headers.init_app(app)
    keys = KeyRing(settings.jwt_private_key_file)
    app.extensions["partner_api.keys"] = keys
    tokens.init_app(app, keys, settings)
    failed_attempts.init_app(app)  # before the limiter: see there
    rate_limits.init_app(app)
    metrics.init_app(app)
    portal.init_app(app, settings)

    api = Api(app)
    api.spec.components.security_scheme(
        "oauth2",
        {
            "type": "oauth2",
            "description": "Client credentials; each client belongs to one principal.",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": "/oauth/token",
                    "scopes": {s: f"{kind} access" for s, kind in principals.ALL_SCOPES.items()},
                }
            },
        },
    )
    api.spec.components.security_scheme(
        "clientBasic", {"type": "http", "scheme": "basic", "description": "client_id:client_secret"}
    )
    api.spec.components.security_scheme(
        "metricsToken",
        {"type": "http", "scheme": "bearer", "description": "The configured METRICS_TOKEN"},
    )
    from partner_api.ops import TokenRequestSchema
    from partner_api.schemas import ERROR_CODE_SCHEMA, ErrorCodeOrNull

    api.spec.components.schema("TokenRequest", schema=TokenRequestSchema)
    api.spec.components.schema("ErrorCode", ERROR_CODE_SCHEMA)
    # Its document is the anyOf in its metadata alone, with no type of its own.
    api.register_field(ErrorCodeOrNull, None, None)
    from partner_api.customer.routes import blp as customer_blp
    from partner_api.ops import blp as ops_blp
    from partner_api.partner.routes import blp as partner_blp
    from partner_api.supplier.routes import blp as supplier_blp
    from partner_api.support.routes import blp as support_blp

    for blueprint in (ops_blp, partner_blp, customer_blp, support_blp, supplier_blp):
        api.register_blueprint(blueprint)

    # Every error is problem JSON, including flask-smorest's default responses.
    for name in ("DEFAULT_ERROR", "UNPROCESSABLE_ENTITY"):
        response = api.spec.components.responses[name]
        response["content"] = {errors.PROBLEM_CONTENT_TYPE: response["content"]["application/json"]}

    # X-Pagination is a JSON document, not a comma-separated "simple" header value.
    api.spec.components.headers["PAGINATION"] = {
        "description": "Pagination metadata (JSON)",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/PaginationMetadata"}}
        },
    }

    # Swagger UI's assets come from a package, never from a CDN.
    assets = Path(swagger_ui_bundle.swagger_ui_path)
    app.add_url_rule(
        "/docs/assets/<path:filename>",
        "swagger_assets",
        lambda filename: _send_asset(assets, filename),
    )
    return app


def _send_asset(folder: Path, filename: str):
    from flask import send_from_directory

    return send_from_directory(folder, filename, max_age=86400)
