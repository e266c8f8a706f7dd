"""The Blueprint every API audience uses.

``auth(kind, scope)`` both enforces and documents access: it writes the
security requirement and the 401/403/404 problem responses into the OpenAPI
spec, and at run time turns the token into a principal, answers 404 to a
principal of another kind (as if the route did not exist for it), 403 to a
missing scope, and runs the view inside the principal's data scope.
"""

from __future__ import annotations

import functools
import http
from collections.abc import Callable
from copy import deepcopy

import flask_smorest
import marshmallow as ma
from flask import Response, current_app, request
from flask_smorest.utils import unpack_tuple_response

from partner_api.auth.principals import acting_as
from partner_api.auth.tokens import authenticate
from partner_api.csv_downloads import CSV
from partner_api.errors import NOT_FOUND_DETAIL, PROBLEM_CONTENT_TYPE, ApiError, ProblemSchema
from partner_api.json_bodies import ArgumentsParser
from partner_api.pagination import (
    LINK_HEADER,
    CursorPaginationMetadataSchema,
    cursor_headers,
    cursor_parameters_schema,
)
from partner_api.schemas import IdempotencyKeyHeaderSchema
from partner_api.uploads import multipart_schema, parse_device_body
from tenants.operations import idempotency

ERROR_DESCRIPTIONS = {
    400: "The request is malformed.",
    401: "Missing, invalid or expired access token.",
    403: "The token lacks the scope this operation needs.",
    404: "Not found, or not visible to this principal.",
    409: "The request conflicts with the current state.",
    413: "The upload is larger than the configured limit.",
    415: "Unsupported media type.",
    422: "The request body or parameters are not valid; `errors` says which and why.",
    429: "Too many requests; retry after the time in `Retry-After`.",
}

_CURSOR_400 = (
    "`invalid_cursor`: the cursor was changed, or belongs to another caller, list, "
    "filters or sort; `page_too_deep`: the page lies past the rows pages by number reach "
    "(follow the cursor instead)."
)

IDEMPOTENT_REPLAYED_HEADER = {
    "description": "`true` when this answer replays the first one for its Idempotency-Key.",
    "schema": {"type": "string", "enum": ["true"]},
}


def operation_id(prefix: str, view_name: str) -> str:
    """``("partner", "submit_order")`` -> ``"partnerSubmitOrder"``."""
    first, *rest = [word for word in (*prefix.split("_"), *view_name.split("_")) if word]
    return first + "".join(word.capitalize() for word in rest)


class ApiBlueprint(flask_smorest.Blueprint):
    # Request bodies are parsed as partner_api/json_bodies.py says.
    ARGUMENTS_PARSER = ArgumentsParser()

    def __init__(self, *args, operation_prefix: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Prefixes every operationId this blueprint documents; the audience by
        # default, so that the partner's and the customer's submitOrder differ.
        self.operation_prefix = self.name if operation_prefix is None else operation_prefix

    def route(self, rule: str, *, parameters=None, tags=None, **options) -> Callable:
        """flask-smorest's route, which also names the operation: a stable,
        readable operationId from the audience and the view's name
        (``partner.submit_order`` is ``partnerSubmitOrder``), unless the view
        sets one with ``@blp.doc(operationId=...)``."""
        register = super().route(rule, parameters=parameters, tags=tags, **options)

        def decorator(func: Callable) -> Callable:
            manual = getattr(func, "_apidoc", {}).get("manual_doc", {})
            if "operationId" not in manual:
                func = self.doc(operationId=operation_id(self.operation_prefix, func.__name__))(
                    func
                )
            return register(func)

        return decorator

    def problem(
        self, *statuses: int, schema: type[ma.Schema] = ProblemSchema, description: str = ""
    ) -> Callable:
        """Document problem+json error responses (``schema`` when the problem
        carries more than the common fields)."""

        def decorator(func: Callable) -> Callable:
            for status in statuses:
                func = self.alt_response(
                    status,
                    schema=schema,
                    description=description or ERROR_DESCRIPTIONS.get(status, "Error."),
                    content_type=PROBLEM_CONTENT_TYPE,
                )(func)
            return func

        return decorator

    def cursor_paginate(self, *, page_size: int = 10, max_page_size: int = 100) -> Callable:
        """flask-smorest's ``paginate`` for a list read by cursor: the view
        gets ``pagination_parameters`` with ``page``, ``page_size`` and
        ``cursor``, and answers ``partner_api.pagination.cursor_page``'s
        page; ``X-Pagination`` and ``Link`` are set from them, and the
        ``cursor`` argument and both headers are documented."""
        schema = cursor_parameters_schema(page_size, max_page_size)
        error_status = self.PAGINATION_ARGUMENTS_PARSER.DEFAULT_VALIDATION_STATUS

        def decorator(func: Callable) -> Callable:
            @functools.wraps(func)
            def wrapper(*args, **kwargs):
                parameters = self.PAGINATION_ARGUMENTS_PARSER.parse(
                    schema, request, location="query"
                )
                kwargs["pagination_parameters"] = parameters
                answer = func(*args, **kwargs)
                if isinstance(answer, Response):  # a CSV export: every row, no pages
                    return answer
                result, status, headers = unpack_tuple_response(answer)
                metadata = {}
                if parameters.item_count is not None:
                    metadata = self._make_pagination_metadata(
                        parameters.page, parameters.page_size, parameters.item_count
                    )
                headers = {**(headers or {}), **cursor_headers(parameters, metadata)}
                return result, status, headers

            apidoc = deepcopy(getattr(wrapper, "_apidoc", {}))
            apidoc["pagination"] = {
                "parameters": {"in": "query", "schema": schema},
                "response": {error_status: http.HTTPStatus(error_status).name},
                "cursor": True,
            }
            vars(wrapper)["_apidoc"] = apidoc
            return self.problem(400, description=_CURSOR_400)(wrapper)

        return decorator

    def _prepare_pagination_doc(self, doc, doc_info, *, spec, **kwargs):
        operation = doc_info.get("pagination")
        if not (operation and operation.get("cursor")):
            return super()._prepare_pagination_doc(doc, doc_info, spec=spec, **kwargs)
        doc.setdefault("parameters", []).append(operation["parameters"])
        doc.setdefault("responses", {}).update(operation["response"])
        for success in doc_info.get("success_status_codes", []):
            doc["responses"][success].setdefault("headers", {}).update(
                {
                    # A JSON document, not a comma-separated "simple" header value.
                    self.PAGINATION_HEADER_NAME: {
                        "description": "Pagination metadata (JSON), with `next_cursor`.",
                        "content": {"application/json": {"schema": CursorPaginationMetadataSchema}},
                    },
                    "Link": LINK_HEADER,
                }
            )
        return doc

    def idempotent(self, status: int = 202) -> Callable:
        """Take an ``Idempotency-Key`` header: the view gets it checked as
        ``idempotency_key`` (None without one; a malformed key is refused, even
        on a dry run, which otherwise ignores it), and replays the first
        ``status`` answer for it (see partner_api/orders/submission.py). Both
        the header and the replay's ``Idempotent-Replayed`` are documented."""

        def decorator(func: Callable) -> Callable:
            @functools.wraps(func)
            def checked(*args, idempotency_key: str | None = None, **kwargs):
                if idempotency_key is not None:
                    idempotency_key = idempotency.check_key(idempotency_key.strip())
                return func(*args, idempotency_key=idempotency_key, **kwargs)

            parsed = self.arguments(IdempotencyKeyHeaderSchema, location="headers", as_kwargs=True)
            replayed = {"headers": {"Idempotent-Replayed": IDEMPOTENT_REPLAYED_HEADER}}
            return self.doc(responses={status: replayed})(parsed(checked))

        return decorator

    def csv_download(self, description: str) -> Callable:
        """Document the view's answer as a CSV file (text/csv)."""
        csv_file = {
            "description": description,
            "content": {CSV: {"schema": {"type": "string"}}},
        }
        return self.doc(responses={"200": csv_file})

    def exportable(self) -> Callable:
        """Document that the list's 200 answer may also be a CSV file (the
        view answers ``partner_api.csv_downloads.csv_response`` when
        ``wants_csv``): every matching row, not a page."""
        csv_file = {"content": {CSV: {"schema": {"type": "string"}}}}
        return self.doc(responses={200: csv_file})

    def device_body(self, json_schema: type[ma.Schema], form_schema: type[ma.Schema]) -> Callable:
        """Take devices as JSON or as CSV files in a multipart form.

        The parsed body (see partner_api/uploads.py) is passed to the view
        after the arguments of decorators above this one.
        """

        def decorator(func: Callable) -> Callable:
            @functools.wraps(func)
            def wrapper(*args, **kwargs):
                settings = current_app.extensions["partner_api.settings"]
                body = parse_device_body(
                    json_schema,
                    form_schema,
                    max_rows=settings.max_order_rows,
                    max_bytes=settings.max_upload_bytes,
                )
                return func(*args, body, **kwargs)

            request_body = {
                "required": True,
                "content": {
                    "application/json": {"schema": json_schema},
                    "multipart/form-data": {"schema": multipart_schema(form_schema)},
                },
            }
            return self.problem(413, 415, 422)(self.doc(requestBody=request_body)(wrapper))

        return decorator

    def auth(self, kind: str, scope: str) -> Callable:
        def decorator(func: Callable) -> Callable:
            @functools.wraps(func)
            def wrapper(*args, **kwargs):
                principal = authenticate()
                if principal.kind != kind:
                    raise ApiError(404, "not_found", NOT_FOUND_DETAIL)
                if scope not in principal.scopes:
                    raise ApiError(
                        403,
                        "insufficient_scope",
                        f"Your access token lacks the scope '{scope}' this operation needs. "
                        "Request a token with that scope, or ask for a client that has it.",
                        headers={
                            "WWW-Authenticate": f'Bearer error="insufficient_scope", '
                            f'scope="{scope}"'
                        },
                    )
                with acting_as(principal):
                    return func(*args, **kwargs)

            # Read by the isolation test: every /v1 view must declare this.
            vars(wrapper)["principal_requirement"] = (kind, scope)
            wrapper = self.doc(security=[{"oauth2": [scope]}])(wrapper)
            return self.problem(401, 403, 404, 429)(wrapper)

        return decorator
