"""The principal a request acts as, and the one way into its data scope.

An API token (auth/tokens.py) and a portal session (auth/portal_sessions.py)
both end as a ``Principal``: a partner, a tenant, support or a supplier, with
the scopes it was granted. ``acting_as`` runs a view as that principal, under
the same tenant scope whichever door it came through.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from flask import g

from config import logging as log_context
from tenants.scoping import Scope, scoped

# What each kind of principal may be granted. A client gets all of its kind's
# scopes unless created with fewer.
SCOPES_BY_KIND = {
    "partner": ("partner:read", "partner:write"),
    "tenant": ("customer:read", "customer:write"),
    "support": ("support:read",),
    "supplier": ("supplier:write",),
}
ALL_SCOPES = {scope: kind for kind, scopes in SCOPES_BY_KIND.items() for scope in scopes}


@dataclass(frozen=True)
class Principal:
    kind: str  # partner | tenant | support | supplier
    id: str | None  # partner or tenant UUID, supplier ID; None for support
    client_id: str
    scopes: frozenset[str]

    @property
    def partner_id(self) -> uuid.UUID | None:
        return uuid.UUID(self.id) if self.kind == "partner" and self.id else None

    @property
    def tenant_id(self) -> uuid.UUID | None:
        return uuid.UUID(self.id) if self.kind == "tenant" and self.id else None

    def own_id(self) -> str:
        """The partner, tenant or supplier ID this principal acts for, in a view
        that ``blp.auth`` has already limited to that kind."""
        if not self.id:
            raise RuntimeError(f"a {self.kind} principal acts for no organisation")
        return self.id

    def data_scope(self) -> Scope | None:
        """The tenant scope queries run under; None for support and suppliers
        (a query on a tenant-owned table then raises)."""
        if self.partner_id is not None:
            return Scope.partner(self.partner_id)
        if self.tenant_id is not None:
            return Scope.tenant(self.tenant_id)
        return None

    def label(self) -> str:
        return f"{self.kind}:{self.id}" if self.id else self.kind


@contextlib.contextmanager
def acting_as(principal: Principal) -> Iterator[None]:
    """Run the block as ``principal``: the request's log lines name it from
    here on, and every query runs in its data scope (none for support and
    suppliers, whose queries on tenant-owned tables then raise). The API's
    ``blp.auth`` and the portal's ``signed_in`` both enter views through here."""
    log_context.bind(principal=principal.label(), client_id=principal.client_id)
    data_scope = principal.data_scope()
    with scoped(data_scope) if data_scope else contextlib.nullcontext():
        yield


def current_principal() -> Principal | None:
    return getattr(g, "principal", None)


def require_principal() -> Principal:
    """The principal of a view behind ``blp.auth``, which has answered 401
    already when there is none."""
    principal = current_principal()
    if principal is None:
        raise RuntimeError("no principal: the view is not behind blp.auth")
    return principal
