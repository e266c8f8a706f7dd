"""Tenant scoping in the data layer, failing closed.

A principal's scope is set in a context variable for the duration of a request
or a job. Every ORM query on a ``TenantOwned`` table gets the scope's filter
added automatically; a query on such a table with no scope set raises, unless
it runs inside ``unscoped(reason)`` -- the one, deliberately named, bypass
(support lookups, the worker loading an order before it knows the tenant, the
sweeper).

On PostgreSQL the same scope also reaches the database: row-level security
(migration 0011) holds every statement to it, raw SQL and COPY included, as a
backstop under the ORM filter (``row_security_settings``, tenants/db.py).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import ClauseElement

from tenants.models import Base, TenantOwned


class ScopeMissing(RuntimeError):
    """A tenant-owned table was queried with no scope: a programming error."""


@dataclass(frozen=True)
class Scope:
    """Exactly one of tenant_id / partner_id is set."""

    tenant_id: uuid.UUID | None = None
    partner_id: uuid.UUID | None = None

    @classmethod
    def tenant(cls, tenant_id: uuid.UUID) -> Scope:
        return cls(tenant_id=tenant_id)

    @classmethod
    def partner(cls, partner_id: uuid.UUID) -> Scope:
        return cls(partner_id=partner_id)


@dataclass(frozen=True)
class _Unscoped:
    reason: str


_current: ContextVar[Scope | _Unscoped | None] = ContextVar("tenant_scope", default=None)


@contextlib.contextmanager
def scoped(scope: Scope) -> Iterator[Scope]:
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)


@contextlib.contextmanager
def unscoped(reason: str) -> Iterator[None]:
    """Read across tenants. Only support, workers and maintenance may enter this."""
    if not reason:
        raise ValueError("unscoped access needs a stated reason")
    token = _current.set(_Unscoped(reason))
    try:
        yield
    finally:
        _current.reset(token)


def current_scope() -> Scope | None:
    value = _current.get()
    return value if isinstance(value, Scope) else None


def row_security_settings() -> tuple[str, str, str]:
    """The scope in force as the row-level security policies read it: the
    values of ``partner_api.scope``, ``partner_api.tenant_id`` and
    ``partner_api.partner_id``. No scope: all empty, and no tenant's row is
    visible; ``unscoped``: every row is."""
    value = _current.get()
    if value is None:
        return ("", "", "")
    if isinstance(value, _Unscoped):
        return ("unscoped", "", "")
    if value.tenant_id is not None:
        return ("tenant", str(value.tenant_id), "")
    return ("partner", "", str(value.partner_id) if value.partner_id is not None else "")


def _tenant_owned_tables() -> frozenset[str]:
    return frozenset(
        cast(Table, mapper.local_table).name
        for mapper in Base.registry.mappers
        if issubclass(mapper.class_, TenantOwned)
    )


def _touches_tenant_owned(state: ORMExecuteState) -> bool:
    """True when the statement reads or writes a tenant-owned table anywhere,
    subqueries included (a count over a subquery has no top-level entity)."""
    owned = _tenant_owned_tables()
    for mapper in state.all_mappers:
        if cast(Table, mapper.local_table).name in owned:
            return True
    for element in visitors.iterate(cast(ClauseElement, state.statement)):
        if isinstance(element, Table) and element.name in owned:
            return True
    return False


@event.listens_for(Session, "do_orm_execute")
def _add_scope_criteria(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete or state.is_insert):
        return
    if not _touches_tenant_owned(state):
        return
    value = _current.get()
    if isinstance(value, _Unscoped):
        return
    if value is None:
        raise ScopeMissing(
            "query on a tenant-owned table with no tenant scope; "
            "set one with scoped(...) or state why with unscoped(...)"
        )
    if state.is_insert:
        _check_inserted_rows(state, value)
        return
    if value.tenant_id is not None:
        tenant_id = value.tenant_id
        criteria = with_loader_criteria(
            TenantOwned, lambda cls: cls.tenant_id == tenant_id, include_aliases=True
        )
    else:
        partner_id = value.partner_id
        criteria = with_loader_criteria(
            TenantOwned, lambda cls: cls.partner_id == partner_id, include_aliases=True
        )
    state.statement = state.statement.options(criteria)


def _check_inserted_rows(state: ORMExecuteState, scope: Scope) -> None:
    """Bulk INSERTs bypass the flush check below: check their rows here."""
    params = state.parameters
    rows = [params] if isinstance(params, Mapping) else params or [{}]
    for row in rows:
        if scope.tenant_id is not None and row.get("tenant_id") != scope.tenant_id:
            raise ScopeMissing("inserting a row for another tenant than the scope")
        if scope.partner_id is not None and row.get("partner_id") != scope.partner_id:
            raise ScopeMissing("inserting a row for another partner than the scope")


@event.listens_for(Session, "before_flush")
def _check_new_rows_in_scope(session: Session, flush_context, instances) -> None:
    value = _current.get()
    if isinstance(value, _Unscoped):
        return
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, TenantOwned):
            continue
        if value is None:
            raise ScopeMissing(f"writing {type(obj).__name__} with no tenant scope")
        if value.tenant_id is not None and obj.tenant_id != value.tenant_id:
            raise ScopeMissing(f"{type(obj).__name__} belongs to another tenant than the scope")
        if value.partner_id is not None and obj.partner_id != value.partner_id:
            raise ScopeMissing(f"{type(obj).__name__} belongs to another partner than the scope")
