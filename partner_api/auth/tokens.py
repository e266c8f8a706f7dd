"""OAuth 2.0 client credentials: the service is its own authorization server.

``POST /oauth/token`` issues short-lived JWT access tokens (RFC 9068) signed
with the configured key (auth/keys.py); routes accept them through a
ResourceProtector whose validator pins the algorithm and checks iss, aud, exp,
nbf and typ. Each token names one principal (auth/principals.py): a partner,
a tenant, support, or a supplier.
"""

from __future__ import annotations

from typing import NoReturn

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, InvalidScopeError, grants, scope_to_list
from authlib.oauth2.rfc6750 import InvalidTokenError
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator, JWTBearerTokenValidator
from authlib.oauth2.rfc9068.claims import JWTAccessTokenClaims
from flask import Flask, Response, g, json, request
from joserfc import jwt
from joserfc.errors import JoseError

from partner_api import failed_attempts
from partner_api.auth.keys import SIGNING_ALG, KeyRing
from partner_api.auth.principals import Principal
from partner_api.errors import ApiError, problem_response
from partner_api.request_context import request_session
from tenants.access import clients as client_store
from tenants.models import ApiClient


class OAuthClient(ClientMixin):
    """Authlib's view of an ApiClient row."""

    def __init__(self, row: ApiClient) -> None:
        self.row = row

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = self.row.scopes.split()
        if not scope:
            return " ".join(allowed)
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return client_store.verify_secret(self.row, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def validate_requested_scope(self) -> None:
        """RFC 6749 section 5.2: a scope the client does not hold is
        ``invalid_scope``, never a token with less (or no) scope."""
        super().validate_requested_scope()
        requested = set(scope_to_list(self.request.payload.scope) or ())
        missing = requested - set(self.request.client.row.scopes.split())
        if missing:
            raise InvalidScopeError(
                description=(
                    f"This client does not hold the scope {', '.join(sorted(missing))}; "
                    f"it holds: {self.request.client.row.scopes or 'none'}."
                )
            )


class AccessTokenGenerator(JWTBearerTokenGenerator):
    def __init__(self, keys: KeyRing, issuer: str, audience: str, lifetime: int):
        super().__init__(
            issuer=issuer, alg=SIGNING_ALG, expires_generator=lambda client, grant: lifetime
        )
        self.keys = keys
        self.audience = audience

    def get_jwks(self) -> dict:
        return self.keys.current.private_jwks()

    def get_audiences(self, client, user, scope) -> str:
        return self.audience

    def get_extra_claims(self, client: OAuthClient, grant_type, user, scope) -> dict:
        row = client.row
        return {
            "principal_kind": row.principal_kind,
            "principal_id": client_store.principal_id(row),
            # The client's generation when minted: rotating the secret ends these tokens.
            "token_generation": row.token_generation,
        }


class AccessTokenValidator(JWTBearerTokenValidator):
    """Pins the algorithm and requires the RFC 9068 ``typ`` before the claims
    checks (iss, aud, exp, nbf, iat, jti) the base class runs."""

    def __init__(self, keys: KeyRing, issuer: str, audience: str):
        super().__init__(issuer=issuer, resource_server=audience)
        self.keys = keys

    def authenticate_token(self, token_string: str) -> JWTAccessTokenClaims:
        try:
            token = jwt.decode(
                token_string, self.keys.verification_keys(), algorithms=[SIGNING_ALG]
            )
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidTokenError(realm=self.realm) from exc
        if str(token.header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
            raise InvalidTokenError(realm=self.realm)
        options = {
            "iss": {"essential": True, "value": self.issuer},
            "exp": {"essential": True},
            "aud": {"essential": True, "value": self.resource_server},
            "sub": {"essential": True},
            "client_id": {"essential": True},
            "iat": {"essential": True},
            "jti": {"essential": True},
            "principal_kind": {"essential": True},
        }
        return JWTAccessTokenClaims(token.claims, token.header, options)


def _www_authenticate(error) -> dict:
    return {k: v for k, v in error.get_headers() if k.lower() == "www-authenticate"}


class Protector(ResourceProtector):
    def raise_error_response(self, error) -> NoReturn:
        status = error.status_code
        if status == 403:
            raise ApiError(
                403,
                "insufficient_scope",
                "Your access token lacks the scope this operation needs. "
                "Request a token with that scope, or ask for a client that has it.",
                headers=_www_authenticate(error),
            )
        if error.error == "missing_authorization":
            detail = (
                "This operation needs an access token. Get one from POST /oauth/token "
                "and send it as 'Authorization: Bearer <token>'."
            )
            code = "missing_token"
        else:
            detail = (
                "The access token is invalid, expired, or not meant for this service. "
                "Get a new one from POST /oauth/token."
            )
            code = "invalid_token"
        raise ApiError(401, code, detail, headers=_www_authenticate(error))


authorization = AuthorizationServer()
protector = Protector()


def _query_client(client_id: str) -> OAuthClient | None:
    row = client_store.find_active(client_id)
    if row is None:
        # Authlib refuses an unknown client without checking a secret: do the
        # check a wrong secret costs, so timing does not tell which IDs exist.
        client_store.secret_matches(None, "")
        return None
    return OAuthClient(row)


def init_app(app: Flask, keys: KeyRing, settings) -> None:
    app.config.setdefault("OAUTH2_TOKEN_EXPIRES_IN", {})
    authorization.init_app(app, query_client=_query_client, save_token=lambda token, req: None)
    authorization.register_grant(ClientCredentialsGrant)
    authorization.register_token_generator(
        "default",
        AccessTokenGenerator(
            keys, settings.jwt_issuer, settings.jwt_audience, settings.token_lifetime_seconds
        ),
    )
    protector._token_validators.clear()
    protector.register_token_validator(
        AccessTokenValidator(keys, settings.jwt_issuer, settings.jwt_audience)
    )


def requested_client_id() -> str | None:
    """The client ID a token request authenticates as (HTTP Basic or form)."""
    if request.authorization and request.authorization.username:
        return request.authorization.username
    return request.form.get("client_id") or None


def token_response() -> Response:
    """Run the token endpoint; OAuth errors become problem JSON that keeps
    RFC 6749's ``error`` and ``error_description``. Wrong secrets for one
    client ID, from all addresses together, are slowed by the failure backstop."""
    client_id = requested_client_id()
    failures = failed_attempts.backstop("client")
    if client_id:
        failures.check(client_id)
    response = authorization.create_token_response()
    if response.status_code < 400:
        return response
    body = json.loads(response.get_data() or b"{}")
    error = body.get("error", "invalid_request")
    if error == "invalid_client" and client_id:
        failures.record_failure(client_id)
    description = body.get("error_description") or {
        "invalid_client": "The client ID or secret is wrong, or the client was revoked.",
        "unsupported_grant_type": "Only grant_type=client_credentials is supported.",
        "invalid_scope": "The requested scope is not allowed for this client.",
    }.get(error, "The token request is not valid.")
    headers = {k: v for k, v in response.headers.items() if k.lower() == "www-authenticate"}
    return problem_response(
        response.status_code,
        error,
        description,
        headers=headers,
        extra={"error": error, "error_description": description},
    )


def authenticate() -> Principal:
    """Validate the bearer token of the current request (401 when it is not).
    Done once per request: the rate limiter may have done it already."""
    if "principal" in g:
        return g.principal
    try:
        claims = protector.acquire_token()
    except OAuth2Error as error:
        protector.raise_error_response(error)
    # Who the bearer is comes from the client record, read on every request:
    # a revoked client's tokens, and tokens minted before a secret rotation,
    # stop working at once; a token whose principal is not its client's (or
    # whose scope the client no longer holds) grants nothing more than the
    # client holds now.
    client = client_store.active_client(request_session(), claims["client_id"])
    if (
        client is None
        or claims.get("token_generation", 0) != client.token_generation
        or claims["principal_kind"] != client.principal_kind
        or claims.get("principal_id") != client_store.principal_id(client)
    ):
        protector.raise_error_response(InvalidTokenError())
    principal = Principal(
        kind=client.principal_kind,
        id=client_store.principal_id(client),
        client_id=client.client_id,
        scopes=frozenset(str(claims.get("scope") or "").split()) & set(client.scopes.split()),
    )
    g.principal = principal
    return principal
