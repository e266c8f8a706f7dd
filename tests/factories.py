"""Builders of test data: organisations and their clients (signed in through
the real token endpoint), device rows with freshly captured hardware hashes,
and orders stored through the domain, as the API and the worker store them."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace

import requests
from sqlalchemy import func, select

from partner_api.auth.principals import SCOPES_BY_KIND
from tenants import db
from tenants.access import organisations
from tenants.access.clients import create_client
from tenants.ingest.device_rows import RowInput
from tenants.ingest.group_tags import DEFAULT_MAX_LENGTH
from tenants.ingest.hardware_hash import build_hardware_hash
from tenants.models import (
    NO_PARTNER,
    DailyTotal,
    Order,
    OrderCheckIn,
    OrderCount,
    OrderTotal,
    Partner,
    Registration,
    RegistrationTotal,
    Tenant,
)
from tenants.registration import counters, orders, processing
from tenants.scoping import Scope, scoped, unscoped
from tests.http import ApiClient, wait_for_order

# A group tag that no tenant's policy accepts: longer than any tag may be.
UNACCEPTABLE_TAG = "Microsoft365Managed_" + "Standard" * 16


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12].upper()}"


# --- devices and hashes -----------------------------------------------------------------------


def device(
    serial: str | None = None, manufacturer: str = "Contoso", model: str = "Laptop 7", **extra
) -> dict:
    """A JSON order row with a structurally valid, freshly captured hash."""
    serial = serial or unique("SN")
    return {"hardware_hash": build_hardware_hash(manufacturer, model, serial), **extra}


def devices(count: int, **common) -> list[dict]:
    """``count`` rows of distinct devices (small hashes: fast to build and store)."""
    return [
        {"hardware_hash": build_hardware_hash("Contoso", "Laptop 7", unique("SN"), padded=False)}
        | common
        for _ in range(count)
    ]


# --- through the API: principals and their tokens -----------------------------------------------


@dataclass
class Principal:
    id: uuid.UUID | None
    client_id: str
    client_secret: str
    token: str


@dataclass
class Organisation:
    """A partner and its customer, an approved relationship, and one order of
    one registered device: the objects isolation tests try to reach."""

    partner: Principal
    tenant: Principal
    relationship_id: str
    order: dict
    row: dict
    serial: str


class World:
    """Partners, tenants and their clients, created through the domain (as an
    operator's CLI does) and signed in through the real token endpoint."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    def _client(self, kind: str, scopes: tuple[str, ...] | None = None, **ids) -> tuple[str, str]:
        issued = create_client(kind, scopes=scopes or SCOPES_BY_KIND[kind], **ids)
        return issued.client_id, issued.client_secret

    def partner(self, scopes: tuple[str, ...] | None = None) -> Principal:
        partner = organisations.create_partner(unique("Partner"))
        client_id, secret = self._client("partner", scopes, partner_id=partner.id)
        return Principal(partner.id, client_id, secret, self.api.token(client_id, secret))

    def tenant(self, scopes: tuple[str, ...] | None = None) -> Principal:
        tenant = organisations.create_tenant(unique("Tenant"), "example.test")
        client_id, secret = self._client("tenant", scopes, tenant_id=tenant.id)
        return Principal(tenant.id, client_id, secret, self.api.token(client_id, secret))

    def supplier(self) -> Principal:
        supplier_id = unique("OEM")
        client_id, secret = self._client("supplier", supplier_id=supplier_id)
        return Principal(None, client_id, secret, self.api.token(client_id, secret))

    def support(self) -> Principal:
        client_id, secret = self._client("support")
        return Principal(None, client_id, secret, self.api.token(client_id, secret))

    def approved(self, partner: Principal, tenant: Principal) -> str:
        """Request and approve a relationship through the API; returns its id."""
        response = self.api.post(
            f"/v1/partner/customers/{tenant.id}/relationship-requests", token=partner.token
        )
        assert response.status_code == 201, response.text
        relationship_id = response.json()["id"]
        response = self.api.post(
            f"/v1/customer/relationships/{relationship_id}/approve", token=tenant.token
        )
        assert response.status_code == 200, response.text
        return relationship_id

    def organisation_with_a_device(self, run_worker) -> Organisation:
        partner, tenant = self.partner(), self.tenant()
        relationship_id = self.approved(partner, tenant)
        serial = unique("SECRET-SN")
        response = self.submit(partner, tenant, [device(serial)], order_id=unique("SECRET-PO"))
        order = wait_for_order(self.api, partner.token, response.headers["Location"], run_worker)
        [row] = self.api.get(
            f"/v1/partner/orders/{order['id']}/registrations", token=partner.token
        ).json()
        return Organisation(partner, tenant, relationship_id, order, row, serial)

    def submit(
        self, partner: Principal, tenant: Principal, devices: list[dict], **fields
    ) -> requests.Response:
        return self.api.post(
            f"/v1/partner/customers/{tenant.id}/orders",
            token=partner.token,
            json={"devices": devices, **fields},
        )


# --- through the domain: organisations and orders, no HTTP ----------------------------------


def new_partner() -> Partner:
    return organisations.create_partner(unique("Partner"))


def new_tenant() -> Tenant:
    return organisations.create_tenant(unique("Tenant"), "example.test")


def partner_with_customer() -> tuple[Partner, Tenant]:
    """A partner and a tenant whose relationship is active (the operator's shortcut)."""
    partner, tenant = new_partner(), new_tenant()
    organisations.activate_relationship(partner.id, tenant.id)
    return partner, tenant


def row_inputs(rows: Iterable[Mapping[str, object]], source: str | None = None) -> list[RowInput]:
    """Order rows as the submission reads them, on lines 2, 3, ... (after a header)."""
    return [RowInput(values=row, line=n, source=source) for n, row in enumerate(rows, start=2)]


def submission(
    tenant: Tenant,
    partner: Partner | None = None,
    *,
    request_id: str | None = None,
    order_id: str | None = None,
    group_tag: str | None = None,
    chunk_size: int = 50,
    max_rows: int = 10_000,
) -> orders.Submission:
    return orders.Submission(
        tenant_id=tenant.id,
        partner_id=partner.id if partner is not None else None,
        request_id=request_id or unique("req").lower(),
        order_id=order_id,
        purchase_id=None,
        group_tag=group_tag,
        group_tag_max_length=DEFAULT_MAX_LENGTH,
        max_rows=max_rows,
        chunk_size=chunk_size,
    )


def scope_of(tenant: Tenant, partner: Partner | None) -> Scope:
    """The scope the submitter works in: its partner's, or the tenant's own."""
    return Scope.partner(partner.id) if partner is not None else Scope.tenant(tenant.id)


def submit(
    tenant: Tenant,
    rows: Iterable[Mapping[str, object]],
    partner: Partner | None = None,
    *,
    dry_run: bool = False,
    **fields,
) -> orders.SubmitResult:
    """Store an order (or, with ``dry_run``, judge it) as the API does, committed;
    nothing is enqueued."""
    with scoped(scope_of(tenant, partner)), db.transaction() as session:
        return orders.submit_order(
            session, submission(tenant, partner, **fields), row_inputs(rows), dry_run=dry_run
        )


def registrations(order_pk: uuid.UUID) -> list[Registration]:
    """An order's rows, in line order."""
    with unscoped("test: read an order's rows"), db.transaction() as session:
        return list(
            session.scalars(
                select(Registration)
                .where(Registration.order_pk == order_pk)
                .order_by(Registration.line_index)
            )
        )


def order_of(order_pk: uuid.UUID) -> Order:
    with unscoped("test: read an order"), db.transaction() as session:
        order = session.get(Order, order_pk)
        assert order is not None
        return order


def process(result: orders.SubmitResult) -> None:
    """Settle every chunk of a stored order as the worker does, in this
    process (the domain step alone: no queue, no retries)."""
    assert result.order is not None
    for start, stop in result.chunks:
        processing.register_chunk(result.order.id, start, stop)


def pkid() -> str:
    """A fresh 13-digit product key ID."""
    return str(uuid.uuid4().int % 10**13).zfill(13)


def registered_devices(tenant, count: int) -> list[str]:
    """``count`` devices self-registered by the tenant, settled as the worker does."""
    result = submit(SimpleNamespace(id=tenant.id), devices(count))
    process(result)
    with unscoped("test: a tenant's device ids"), db.transaction() as session:
        return [
            str(i)
            for i in session.scalars(
                select(Registration.id)
                .where(Registration.order_pk == result.order.id)
                .order_by(Registration.line_index)
            )
        ]


def device_states(ids) -> dict[str, str]:
    """Each device's stored state, by id (any tenant's)."""
    with unscoped("test: read devices"), db.transaction() as session:
        rows = session.execute(
            select(Registration.id, Registration.state).where(
                Registration.id.in_([uuid.UUID(i) for i in ids])
            )
        )
        return {str(i): s for i, s in rows}


# --- counters ---------------------------------------------------------------------------------


def assert_counters_exact(tenant_ids: Iterable[uuid.UUID] | None = None) -> None:
    """Every counter the service keeps equals what counting the rows says:
    orders' rows by state and error code, their check-in days, tenants'
    rows and orders. For the given tenants, or every tenant."""
    tenants = None if tenant_ids is None else [uuid.UUID(str(t)) for t in tenant_ids]

    def of(model, stmt):
        return stmt if tenants is None else stmt.where(model.tenant_id.in_(tenants))

    def nonzero(counts: Counter) -> dict:
        return {key: n for key, n in counts.items() if n}

    with unscoped("test: counters against the rows they count"), db.transaction() as session:
        owners = {
            order_pk: (tenant_id, partner_id)
            for order_pk, tenant_id, partner_id in session.execute(
                of(Order, select(Order.id, Order.tenant_id, Order.partner_id))
            )
        }
        rows: Counter = Counter()
        totals: Counter = Counter()
        for order_pk, tenant_id, partner_id, state, error_code, n in session.execute(
            of(
                Registration,
                select(
                    Registration.order_pk,
                    Registration.tenant_id,
                    Registration.partner_id,
                    Registration.state,
                    Registration.error_code,
                    func.count(),
                ).group_by(
                    Registration.order_pk,
                    Registration.tenant_id,
                    Registration.partner_id,
                    Registration.state,
                    Registration.error_code,
                ),
            )
        ):
            assert owners[order_pk] == (tenant_id, partner_id)
            rows[order_pk, state, error_code or ""] += n
            totals[tenant_id, partner_id or NO_PARTNER, state, error_code or ""] += n
        seen: Counter = Counter()
        for order_pk, last_seen_at in session.execute(
            of(
                Registration,
                select(Registration.order_pk, Registration.last_seen_at).where(
                    Registration.state == "ready_for_user", Registration.last_seen_at.is_not(None)
                ),
            )
        ):
            seen[order_pk, counters.seen_day(last_seen_at)] += 1
        statuses = Counter(
            {
                (tenant_id, partner_id or NO_PARTNER, status): n
                for tenant_id, partner_id, status, n in session.execute(
                    of(
                        Order,
                        select(
                            Order.tenant_id, Order.partner_id, Order.status, func.count()
                        ).group_by(Order.tenant_id, Order.partner_id, Order.status),
                    )
                )
            }
        )

        kept_rows: Counter = Counter()
        for c in session.scalars(of(OrderCount, select(OrderCount))):
            assert owners[c.order_id] == (c.tenant_id, c.partner_id), c.order_id
            kept_rows[c.order_id, c.state, c.error_code] += c.count
        kept_seen: Counter = Counter()
        for c in session.scalars(of(OrderCheckIn, select(OrderCheckIn))):
            assert owners[c.order_id] == (c.tenant_id, c.partner_id), c.order_id
            kept_seen[c.order_id, c.seen_day] += c.count
        kept_totals = Counter(
            {
                (t.tenant_id, t.partner_key, t.state, t.error_code): t.count
                for t in session.scalars(of(RegistrationTotal, select(RegistrationTotal)))
            }
        )
        kept_statuses = Counter(
            {
                (t.tenant_id, t.partner_key, t.status): t.count
                for t in session.scalars(of(OrderTotal, select(OrderTotal)))
            }
        )
        days: Counter = Counter()
        for r in session.scalars(of(Registration, select(Registration))):
            key = (r.tenant_id, r.partner_id or NO_PARTNER)
            if r.registered_at is not None:
                days[(*key, "registered", counters.seen_day(r.registered_at), "")] += 1
            if r.state == "registration_failed":
                days[(*key, "failed", counters.seen_day(r.updated_at), r.error_code or "")] += 1
            if r.state == "ready_for_user" and r.last_seen_at is not None:
                days[(*key, "seen", counters.seen_day(r.last_seen_at), "")] += 1
        kept_days = Counter(
            {
                (t.tenant_id, t.partner_key, t.kind, t.day, t.error_code): t.count
                for t in session.scalars(of(DailyTotal, select(DailyTotal)))
            }
        )
    assert nonzero(kept_rows) == nonzero(rows), "order_counts differ from the rows"
    assert nonzero(kept_seen) == nonzero(seen), "order_check_ins differ from the rows"
    assert nonzero(kept_totals) == nonzero(totals), "registration_totals differ from the rows"
    assert nonzero(kept_statuses) == nonzero(statuses), "order_totals differ from the orders"
    assert nonzero(kept_days) == nonzero(days), "daily_totals differ from the rows"
