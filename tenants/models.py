"""The data model. Every table a tenant owns mixes in ``TenantOwned``, which the
scoping layer (tenants/scoping.py) filters on automatically."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.functions import FunctionElement


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in Python on every backend.

    PostgreSQL stores timestamptz; SQLite has no time zones, so values are
    stored as naive UTC and made aware again on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, uuid.UUID: Uuid}


class TenantOwned:
    """Marker: rows belong to one tenant; queries are scoped by tenant or partner."""

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), index=True)
    # Set when a partner acted for the tenant; partners see only their own rows.
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"), index=True)


class Partner(Base):
    __tablename__ = "partners"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str | None] = mapped_column(String(253))
    # The only group tags this tenant's orders may carry, one per line; None
    # accepts any tag (tenants/ingest/group_tags.py).
    group_tags: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiClient(Base):
    """An OAuth client. Belongs to exactly one principal: a partner, a tenant,
    support, or a supplier."""

    __tablename__ = "api_clients"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(255))
    principal_kind: Mapped[str] = mapped_column(String(16))
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"))
    supplier_id: Mapped[str | None] = mapped_column(String(100))
    scopes: Mapped[str] = mapped_column(String(500))
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    # Tokens carry the generation they were minted for; rotating the secret
    # moves it on, and tokens of an earlier generation stop working at once.
    token_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class PortalUser(Base):
    """A person who signs in to the portal. Like an API client, each belongs to
    exactly one principal: a partner, a tenant, or support."""

    __tablename__ = "portal_users"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # Stored as tenants.access.portal_users.normalize_email gives it: sign-in is
    # case-insensitive on the address and ignores the spaces around it.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    principal_kind: Mapped[str] = mapped_column(String(16))
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None]
    # The language chosen with the portal's switcher; None: the browser's.
    language: Mapped[str | None] = mapped_column(String(8))


class PortalSession(Base):
    """One signed-in browser. The cookie carries a random secret; only its
    SHA-256 is stored, so the table gives nobody a way in. Deleting the row
    signs that browser out at once."""

    __tablename__ = "portal_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("portal_users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class Relationship(TenantOwned, Base):
    """A partner's right to register devices for a tenant."""

    __tablename__ = "relationships"
    __table_args__ = (UniqueConstraint("partner_id", "tenant_id"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # No foreign key: a partner's request for an ID that is no tenant is stored
    # like any other (and never approved), so the answer cannot tell a partner
    # which tenant IDs exist.
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    status: Mapped[str] = mapped_column(String(16))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    # When the customer last approved it; the partner learns the customer's name only then.
    approved_at: Mapped[datetime | None]
    request_id: Mapped[str | None] = mapped_column(String(128))

    partner: Mapped[Partner] = relationship(lazy="joined")
    tenant: Mapped[Tenant | None] = relationship(
        lazy="joined",
        primaryjoin="foreign(Relationship.tenant_id) == Tenant.id",
        viewonly=True,
    )

    @property
    def tenant_name_for_partner(self) -> str | None:
        """The customer's name as its partner sees it: only once the customer approved."""
        if self.approved_at is None or self.tenant is None:
            return None
        return self.tenant.name


class Order(TenantOwned, Base):
    __tablename__ = "orders"
    __table_args__ = (
        # The orders list, newest first, read by key for a tenant or a partner.
        Index("ix_orders_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_orders_partner_created", "partner_id", "created_at", "id"),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    request_id: Mapped[str] = mapped_column(String(128), index=True)
    order_id: Mapped[str | None] = mapped_column(String(200))
    purchase_id: Mapped[str | None] = mapped_column(String(200))
    group_tag: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(32), default="accepted")
    # The CSV layout rows were submitted in ("json" for JSON orders), for failures.csv.
    source_format: Mapped[str] = mapped_column(String(32), default="json")
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    # When its chunks were last handed to the queue; the sweeper hands them
    # again when rows are still pending long after this.
    enqueued_at: Mapped[datetime | None]


class Registration(TenantOwned, Base):
    """One submitted row and its outcome; a registered row is also the tenant's device."""

    __tablename__ = "registrations"
    __table_args__ = (
        UniqueConstraint("order_pk", "line_index"),
        # The device list's keyset pages (tenants/listing.py): filtered by
        # state or error code, or sorted by serial number, each page is an
        # index walk from the cursor's key on.
        Index("ix_registrations_tenant_state_created", "tenant_id", "state", "created_at", "id"),
        Index(
            "ix_registrations_tenant_error_created", "tenant_id", "error_code", "created_at", "id"
        ),
        Index("ix_registrations_tenant_serial_id", "tenant_id", "serial_number", "id"),
        # Its mirror image, for the list sorted by serial number descending
        # with NULLs still last (PostgreSQL only: migration 0021).
        Index(
            "ix_registrations_tenant_serial_desc",
            "tenant_id",
            text("serial_number DESC NULLS LAST"),
            text("id DESC"),
        ).ddl_if(dialect="postgresql"),
        Index("ix_registrations_tenant_registered", "tenant_id", "registered_at"),
        # The device list's default order, and the sweeper's pending count.
        Index("ix_registrations_tenant_created", "tenant_id", "created_at", "id"),
        # An order's rows of one state, in submission order (and its counts by state).
        Index("ix_registrations_order_state_line", "order_pk", "state", "line_index"),
        Index("ix_registrations_identity", "identity_key"),
        Index("ix_registrations_request", "request_id"),
        # Support's trace of a request ID: the rows a request changed
        # (order_pk second, so rows outside given orders are key ranges).
        Index("ix_registrations_updated_request", "updated_request_id", "order_pk", "line_index"),
        # An order's failed rows in submission order: support shows the first few.
        Index(
            "ix_registrations_order_failed",
            "order_pk",
            "line_index",
            postgresql_where=text("error_code IS NOT NULL"),
            sqlite_where=text("error_code IS NOT NULL"),
        ),
        # An order's checked-in devices by last check-in: the one day of them
        # that straddles the active window is counted row by row
        # (tenants/registration/counters.py); rows never seen are not indexed.
        Index(
            "ix_registrations_order_seen",
            "order_pk",
            "last_seen_at",
            postgresql_where=text("last_seen_at IS NOT NULL"),
            sqlite_where=text("last_seen_at IS NOT NULL"),
        ),
        # The same day of check-ins across a tenant's orders, for its overview.
        Index(
            "ix_registrations_tenant_seen",
            "tenant_id",
            "last_seen_at",
            postgresql_where=text("last_seen_at IS NOT NULL"),
            sqlite_where=text("last_seen_at IS NOT NULL"),
        ),
        # Registered devices by last check-in, across tenants: the sweeper's
        # look for those whose silence just left the active window.
        Index(
            "ix_registrations_ready_seen",
            "last_seen_at",
            postgresql_where=text("state = 'ready_for_user' AND last_seen_at IS NOT NULL"),
            sqlite_where=text("state = 'ready_for_user' AND last_seen_at IS NOT NULL"),
        ),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    order_pk: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"))
    # Position in the order (0-based, dense): chunks are ranges of it.
    line_index: Mapped[int] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(String(300))
    line: Mapped[int] = mapped_column(Integer)
    manufacturer: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(200))
    serial_number: Mapped[str | None] = mapped_column(String(200))
    product_key_id: Mapped[str | None] = mapped_column(String(32))
    group_tag: Mapped[str | None] = mapped_column(String(200))
    assigned_user: Mapped[str | None] = mapped_column(String(320))
    hardware_hash: Mapped[bytes | None] = mapped_column(LargeBinary)
    hardware_hash_length: Mapped[int | None] = mapped_column(Integer)
    # The submitted text, kept only when it could not be decoded (for failures.csv).
    hardware_hash_text: Mapped[str | None] = mapped_column(Text)
    # Normalized decoded (manufacturer, serial): the global device identity.
    identity_key: Mapped[str | None] = mapped_column(String(420))
    state: Mapped[str] = mapped_column(String(32), default="registration_pending")
    error_code: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    # The message as made (tenants/texts.Message: template and parameters), to
    # be rendered in the reader's language; None on rows stored before, which
    # show ``message`` as it is.
    message_params: Mapped[dict | None] = mapped_column(JSON)
    registered_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    last_seen_user: Mapped[str | None] = mapped_column(String(320))
    deregistered_at: Mapped[datetime | None]
    request_id: Mapped[str] = mapped_column(String(128))
    updated_request_id: Mapped[str | None] = mapped_column(String(128))
    # Support-only detail behind an unexpected_error; never serialized to partners/customers.
    support_reference: Mapped[str | None] = mapped_column(String(64))
    internal_error: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    order: Mapped[Order] = relationship(lazy="raise")


class identity_serial(FunctionElement):  # noqa: N801 (an SQL function)
    """The normalised serial number part of an identity key: what follows
    its first unit separator (normalised parts never hold one). The same SQL
    text in the index and in queries, so that lookups by serial use it."""

    type = String()
    name = "identity_serial"
    inherit_cache = True


@compiles(identity_serial, "postgresql")
def _identity_serial_postgresql(element, compiler, **kw) -> str:
    # A leakproof function of our own (migration 0022): under row-level
    # security only such a condition can use the index.
    return f"identity_serial({compiler.process(element.clauses, **kw)})"


@compiles(identity_serial, "sqlite")
def _identity_serial_sqlite(element, compiler, **kw) -> str:
    key = compiler.process(element.clauses, **kw)
    return f"substr({key}, instr({key}, char(31)) + 1)"


# Support's device history by serial number, across tenants and manufacturers,
# oldest first and read by cursor: an index walk from the cursor's key on.
Index(
    "ix_registrations_identity_serial_created",
    identity_serial(Registration.identity_key),
    Registration.created_at,
    Registration.id,
)


# --- counts kept as rows change (tenants/registration/counters.py) ---------------------------
# Written in the transaction that changes the rows they count, so lists,
# polling and /metrics read a handful of counter rows instead of counting
# registrations. A count that reaches zero keeps its row.

# The partner_key of a tenant's own rows (no partner): key columns cannot be NULL.
NO_PARTNER = uuid.UUID(int=0)


class OrderCount(TenantOwned, Base):
    """An order's rows by stored state and error code ('' for none)."""

    __tablename__ = "order_counts"
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(32), primary_key=True)
    error_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"))
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"))
    count: Mapped[int] = mapped_column(Integer, default=0)


class OrderCheckIn(TenantOwned, Base):
    """An order's registered (ready_for_user) rows by the UTC day of their
    last check-in, in days since 1970-01-01: what splits ready_for_user into
    active and inactive at read time."""

    __tablename__ = "order_check_ins"
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    seen_day: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"))
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"))
    count: Mapped[int] = mapped_column(Integer, default=0)


class RegistrationTotal(TenantOwned, Base):
    """A tenant's rows by who submitted them (``partner_key``: the partner,
    or ``NO_PARTNER`` for the tenant's own), stored state and error code."""

    __tablename__ = "registration_totals"
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    partner_key: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(32), primary_key=True)
    error_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"))
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class OrderTotal(TenantOwned, Base):
    """A tenant's orders by who submitted them (as in ``RegistrationTotal``) and status."""

    __tablename__ = "order_totals"
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    partner_key: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(32), primary_key=True)
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"))
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class DailyTotal(TenantOwned, Base):
    """A tenant's rows by who submitted them (as in ``RegistrationTotal``)
    and UTC day (days since 1970-01-01), of one ``kind``: ``registered``
    (rows that became ready_for_user that day), ``failed`` (rows that failed
    that day, by error code), ``seen`` (ready_for_user rows whose last
    check-in is that day). What the overview's charts read."""

    __tablename__ = "daily_totals"
    # A partner's days across its customers (a tenant's are the key's prefix).
    __table_args__ = (Index("ix_daily_totals_partner_day", "partner_id", "day"),)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    partner_key: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True)
    error_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"))
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class DeviceClaim(Base):
    """Global ownership: one row per physical device that a tenant currently holds.

    Deliberately not TenantOwned: its unique key must see every tenant. Only
    tenants/registration/ownership.py reads or writes it.
    """

    __tablename__ = "device_claims"
    identity_key: Mapped[str] = mapped_column(String(420), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), index=True)
    registration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("registrations.id"), unique=True)
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)


# Support's device history: who holds a serial number now, whatever its manufacturer.
Index("ix_device_claims_identity_serial", identity_serial(DeviceClaim.identity_key))


class CatalogDevice(Base):
    """A supplier's factory record of one device, keyed by its identity.

    Supplier data, not tenant data: partner rows that carry only the
    (manufacturer, model, serial number) tuple or only a PKID are resolved
    against it. Only tenants/ingest/catalog.py reads or writes it.
    """

    __tablename__ = "catalog_devices"
    identity_key: Mapped[str] = mapped_column(String(420), primary_key=True)
    supplier_id: Mapped[str] = mapped_column(String(100), index=True)
    manufacturer: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))
    serial_number: Mapped[str] = mapped_column(String(200))
    product_key_id: Mapped[str | None] = mapped_column(String(32), index=True)
    hardware_hash: Mapped[bytes | None] = mapped_column(LargeBinary)
    hardware_hash_length: Mapped[int | None] = mapped_column(Integer)
    request_id: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """Who changed what: relationships, orders, deregistrations, check-ins, clients.

    Append-only. Not TenantOwned: support reads it across tenants; tenant_id
    says whose data the change touched.
    """

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    request_id: Mapped[str | None] = mapped_column(String(128), index=True)
    actor: Mapped[str] = mapped_column(String(200))  # "partner:<id>", "tenant:<id>", "cli", ...
    action: Mapped[str] = mapped_column(String(64))  # e.g. "device.deregistered"
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64), index=True)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    detail: Mapped[dict | None] = mapped_column(JSON)


class IdempotencyKey(Base):
    """The first response to a request sent with an ``Idempotency-Key``,
    replayed when the same principal sends the same key and body again."""

    __tablename__ = "idempotency_keys"
    principal: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(500))
    request_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class RequestLog(Base):
    """One row per HTTP request, for support's request-ID lookup."""

    __tablename__ = "request_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Always generated by the service, so no caller can borrow another's.
    request_id: Mapped[str] = mapped_column(String(128), index=True)
    # The caller's own X-Request-ID, when it sent a sane one: shown and
    # searchable, never the ID that ties records together.
    client_request_id: Mapped[str | None] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    principal_kind: Mapped[str | None] = mapped_column(String(16))
    principal_id: Mapped[str | None] = mapped_column(String(100))
    client_id: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(2000))
    status: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    # Support-only: the exception behind a 5xx answer (type, message, where).
    error: Mapped[dict | None] = mapped_column(JSON)


# Support searches the callers' own request IDs case-insensitively.
Index("ix_request_log_client_request_id", func.lower(RequestLog.client_request_id))


# --- events and webhooks (tenants/events/) ----------------------------------------------------


class Event(TenantOwned, Base):
    """What happened, written in the transaction of the change it describes
    (the outbox): the feeds read it, webhook deliveries send it.

    ``tenant_id`` is the organisation the change touched (none for a
    partner's own webhook endpoint); ``partner_id`` the partner that acted,
    or that a relationship decision is about (none when the customer acted).
    """

    __tablename__ = "events"
    __table_args__ = (
        # The feeds, newest first, by key, for a tenant, a partner, or support.
        Index("ix_events_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_events_partner_created", "partner_id", "created_at", "id"),
        Index("ix_events_created", "created_at", "id"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # No foreign key: a relationship request names any tenant ID (see Relationship).
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # type: ignore[assignment]
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"))
    type: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    request_id: Mapped[str | None] = mapped_column(String(128), index=True)
    data: Mapped[dict] = mapped_column(JSON)


class WebhookEndpoint(TenantOwned, Base):
    """Where a partner (``partner_id``) or a customer (``tenant_id``) wants
    its events POSTed; exactly one of the two is set."""

    __tablename__ = "webhook_endpoints"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(  # type: ignore[assignment]
        ForeignKey("tenants.id"), index=True
    )
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(500))
    # The event types sent; empty sends every type.
    event_types: Mapped[list] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    # Signing secrets (``whsec_`` + base64): the receiver needs them as they are.
    secret: Mapped[str] = mapped_column(String(100))
    # After a rotation the previous secret signs too, until it expires.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None]
    # Since when every attempt failed (None after a success); long enough disables it.
    failing_since: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebhookDelivery(TenantOwned, Base):
    """One event to one endpoint: attempted until it succeeds or its retries
    run out. Owned like its endpoint."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # An endpoint's delivery log, newest first.
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at", "id"),
        # The sweeper's due deliveries.
        Index("ix_webhook_deliveries_pending", "status", "next_attempt_at"),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(  # type: ignore[assignment]
        ForeignKey("tenants.id"), index=True
    )
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"), index=True)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"), index=True)
    # pending, succeeded, failed (retries ran out, or the endpoint went away)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    # A worker sending it holds it until then; past it (the worker died) it is due again.
    leased_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]

    event: Mapped[Event] = relationship(lazy="raise")


class WebhookAttempt(TenantOwned, Base):
    """One POST of a delivery and what came of it."""

    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(  # type: ignore[assignment]
        ForeignKey("tenants.id")
    )
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"))
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    succeeded: Mapped[bool]
    # Why it failed, in words (timeout, refused address, the status code...).
    error: Mapped[str | None] = mapped_column(String(500))
    # The first bytes of the receiver's answer, as text; never rendered unescaped.
    response_body: Mapped[str | None] = mapped_column(Text)


# --- bulk actions on a tenant's devices (tenants/registration/bulk.py) ----------------------


class BulkAction(TenantOwned, Base):
    """One action on many devices of a tenant (deregister them, or give
    them a group tag), run a batch at a time; what it did to each device is
    in ``BulkActionItem``."""

    __tablename__ = "bulk_actions"
    __table_args__ = (
        Index("ix_bulk_actions_tenant_created", "tenant_id", "created_at", "id"),
        # The sweeper's look for actions whose job Redis lost.
        Index(
            "ix_bulk_actions_unfinished",
            "created_at",
            postgresql_where=text("completed_at IS NULL"),
            sqlite_where=text("completed_at IS NULL"),
        ),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    action: Mapped[str] = mapped_column(String(32))  # "deregister" | "set_group_tag"
    group_tag: Mapped[str | None] = mapped_column(String(200))
    # The device-list filters of an "all that match" selection; None: the ids given.
    selection_filter: Mapped[dict | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(32), default="queued")
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    request_id: Mapped[str] = mapped_column(String(128))
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]


class BulkActionItem(TenantOwned, Base):
    """One device of a bulk action, and what the action did to it (no
    ``outcome`` yet: not reached). ``device_id`` is as the caller sent it:
    not a foreign key, since another tenant's or an unknown id is reported
    as not found, never looked up outside the tenant."""

    __tablename__ = "bulk_action_items"
    bulk_action_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("bulk_actions.id"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    serial_number: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str | None] = mapped_column(String(16))  # succeeded | unchanged | failed
    code: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
