"""Delivering an event to an endpoint: at least once, signed the Standard
Webhooks way, retried with backoff, and the endpoint disabled when it keeps
failing.

A delivery job (jobs/webhooks.py) calls ``attempt``: it leases the delivery
in a short transaction (a second job for the same delivery finds it leased
and does nothing), POSTs outside any transaction, then records the attempt
and what follows from it in another. A worker that dies mid-POST leaves the
lease to run out; the sweeper then hands the delivery out again. Every
attempt of an event carries the event's ID as ``webhook-id``, so a receiver
that saw it already knows it for the same event.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from tenants import db
from tenants.events import endpoints, outbox, sending
from tenants.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint, utcnow
from tenants.scoping import Scope, scoped, unscoped

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"


@dataclass(frozen=True)
class Policy:
    """How deliveries are made (from settings: config/settings.py)."""

    # The waits before each retry; their number is how many retries there are.
    retry_delays: tuple[float, ...]
    timeout_seconds: float
    disable_after: timedelta
    allow_private: bool

    @property
    def lease(self) -> timedelta:
        # Past the POST's own budget, with room for the database around it.
        return timedelta(seconds=self.timeout_seconds * 2 + 5)

    def next_delay(self, attempts_made: int) -> float | None:
        """The wait before the next try after ``attempts_made`` attempts, with
        jitter so that many deliveries failed together do not retry together;
        None when the retries ran out."""
        if attempts_made > len(self.retry_delays):
            return None
        delay = self.retry_delays[attempts_made - 1]
        return delay * random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not a secret)


@dataclass(frozen=True)
class Outcome:
    """What an attempt led to: the delivery's status, and when pending the
    seconds until its next try, which the caller schedules."""

    status: str
    retry_in: float | None = None
    attempt: int = 0


@dataclass(frozen=True)
class _Leased:
    delivery_id: uuid.UUID
    owner: Scope
    url: str
    secrets: list[str]
    event_id: str
    body: str
    attempt: int


def body_of(event: Event) -> str:
    """The bytes a delivery carries: the event as JSON."""
    return json.dumps(outbox.as_json(event), separators=(",", ":"), sort_keys=True)


def sign(secrets: list[str], event_id: str, at: datetime, body: str) -> dict[str, str]:
    """The Standard Webhooks headers; with two secrets (a rotation), two signatures."""
    signatures = " ".join(Webhook(secret).sign(event_id, at, body) for secret in secrets)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
    }


def attempt(delivery_id: uuid.UUID, policy: Policy) -> Outcome | None:
    """Make the delivery's next attempt; None when there is nothing to do
    (done already, or another worker holds it)."""
    leased = _lease(delivery_id, policy)
    if leased is None:
        return None
    now = utcnow()
    result = sending.post(
        leased.url,
        leased.body.encode(),
        sign(leased.secrets, leased.event_id, now, leased.body),
        timeout=policy.timeout_seconds,
        allow_private=policy.allow_private,
    )
    with scoped(leased.owner), db.transaction() as session:
        return _settle(session, leased, result, now, policy)


def _lease(delivery_id: uuid.UUID, policy: Policy) -> _Leased | None:
    with unscoped("webhook delivery: find whose delivery it is"), db.transaction() as session:
        delivery = session.get(
            WebhookDelivery,
            delivery_id,
            with_for_update=session.get_bind().dialect.name != "sqlite",
            populate_existing=True,
        )
        if delivery is None or delivery.status != PENDING:
            return None
        now = utcnow()
        if delivery.leased_until is not None and delivery.leased_until > now:
            return None
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        event = session.get(Event, delivery.event_id)
        if endpoint is None or event is None or not endpoint.enabled:
            delivery.status = FAILED
            delivery.completed_at = now
            delivery.next_attempt_at = None
            return None
        delivery.leased_until = now + policy.lease
        owner = (
            Scope.tenant(endpoint.tenant_id)
            if endpoint.tenant_id is not None
            else Scope.partner(endpoint.partner_id)  # type: ignore[arg-type]
        )
        return _Leased(
            delivery.id,
            owner,
            endpoint.url,
            endpoints.signing_secrets(endpoint),
            event.id,
            body_of(event),
            delivery.attempt_count + 1,
        )


def _settle(
    session: Session,
    leased: _Leased,
    result: sending.Result,
    at: datetime,
    policy: Policy,
) -> Outcome:
    delivery = session.get(WebhookDelivery, leased.delivery_id, populate_existing=True)
    if delivery is None:  # its endpoint was deleted meanwhile
        return Outcome(FAILED)
    endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
    session.add(
        WebhookAttempt(
            tenant_id=delivery.tenant_id,
            partner_id=delivery.partner_id,
            delivery_id=delivery.id,
            attempted_at=at,
            status_code=result.status_code,
            duration_ms=result.duration_ms,
            succeeded=result.succeeded,
            error=result.error[:500] if result.error else None,
            response_body=result.response_body,
        )
    )
    delivery.attempt_count = leased.attempt
    delivery.leased_until = None
    now = utcnow()
    if result.succeeded:
        delivery.status = SUCCEEDED
        delivery.completed_at = now
        delivery.next_attempt_at = None
        if endpoint is not None:
            endpoint.failing_since = None
        return Outcome(SUCCEEDED, attempt=leased.attempt)
    if endpoint is not None and _keeps_failing(session, endpoint, at, now, policy):
        delivery.status = FAILED
        delivery.completed_at = now
        delivery.next_attempt_at = None
        return Outcome(FAILED, attempt=leased.attempt)
    delay = policy.next_delay(leased.attempt)
    if delay is None:
        delivery.status = FAILED
        delivery.completed_at = now
        delivery.next_attempt_at = None
        return Outcome(FAILED, attempt=leased.attempt)
    delivery.next_attempt_at = now + timedelta(seconds=delay)
    return Outcome(PENDING, retry_in=delay, attempt=leased.attempt)


def _keeps_failing(
    session: Session, endpoint: WebhookEndpoint, at: datetime, now: datetime, policy: Policy
) -> bool:
    """Note the failure; True when the endpoint has now failed for
    ``policy.disable_after`` without a success, and is disabled for it."""
    if endpoint.failing_since is None:
        endpoint.failing_since = at
    if not endpoint.enabled or now - endpoint.failing_since < policy.disable_after:
        return False
    endpoint.enabled = False
    endpoint.disabled_at = now
    outbox.record(
        session,
        outbox.WEBHOOK_ENDPOINT_DISABLED,
        tenant_id=endpoint.tenant_id,
        partner_id=endpoint.partner_id,
        data={
            "id": endpoint.id,
            "url": endpoint.url,
            "failing_since": endpoint.failing_since,
            "disabled_at": endpoint.disabled_at,
        },
    )
    return True


def due(session: Session, *, before: datetime, limit: int = 1000) -> list[tuple[uuid.UUID, int]]:
    """Pending deliveries due before ``before`` and held by no worker: the
    sweeper's (delivery ID, attempts made). Runs unscoped."""
    now = utcnow()
    rows = session.execute(
        select(WebhookDelivery.id, WebhookDelivery.attempt_count, WebhookDelivery.leased_until)
        .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= before)
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
    ).all()
    return [
        (row.id, row.attempt_count)
        for row in rows
        if row.leased_until is None or row.leased_until <= now
    ]


def attempts_of(session: Session, delivery_ids: list[uuid.UUID]) -> dict[uuid.UUID, list]:
    """Each delivery's attempts, the first first (for the delivery log)."""
    found: dict[uuid.UUID, list] = {d: [] for d in delivery_ids}
    if not delivery_ids:
        return found
    for row in session.scalars(
        select(WebhookAttempt)
        .where(db.one_of(session, WebhookAttempt.delivery_id, delivery_ids))
        .order_by(WebhookAttempt.id)
    ):
        found[row.delivery_id].append(row)
    return found
