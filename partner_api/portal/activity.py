"""The portal's Activity page (the organisation's event feed) and its
Webhooks pages (endpoints, their delivery log), for customers and partners:
the same domain functions and data scopes as /v1/.../events and /webhooks."""

from __future__ import annotations

import uuid

import marshmallow as ma
from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext

from partner_api.auth.portal_sessions import signed_in
from partner_api.events.routes import delivery_bodies, feed_filter
from partner_api.events.schemas import EventFilterSchema
from partner_api.i18n import state_name
from partner_api.pagination import pager, paginate, portal_parameters
from partner_api.portal import labels
from partner_api.portal.labels import number
from partner_api.portal.problems import problem_text
from partner_api.portal.routes import bp
from partner_api.request_context import request_session
from tenants.access import organisations
from tenants.errors import DomainError
from tenants.events import endpoints, outbox
from tenants.models import Event
from tenants.scoping import Scope

FILTERS = EventFilterSchema()


def _summary(event: Event) -> str:
    """One line on what the event says, for the Activity table."""
    data = event.data
    if event.type.startswith("order."):
        counts = data.get("counts", {}).get("by_state", {})
        shown = ", ".join(f"{number(n)} {state_name(state)}" for state, n in counts.items() if n)
        reference = data.get("order_id") or data.get("id")
        text = gettext(
            "Order %(order)s: %(status)s",
            order=reference,
            status=labels.order_status_name(data.get("status")),
        )
        return text + (f" ({shown})" if shown else "")
    if event.type.startswith("device."):
        return f"{data.get('manufacturer') or ''} {data.get('serial_number') or ''}".strip()
    if event.type.startswith("relationship."):
        return gettext(
            "Relationship %(status)s",
            status=labels.relationship_status_name(data.get("status")),
        )
    if event.type == outbox.WEBHOOK_ENDPOINT_DISABLED:
        return gettext(
            "%(url)s failed since %(since)s", url=data.get("url"), since=data.get("failing_since")
        )
    return ""


@bp.route("/activity")
@signed_in("partner", "tenant")
def activity():
    """The organisation's events, newest first, filtered by type and time."""
    raw = {k: v.strip() for k, v in request.args.items() if k in FILTERS.fields and v.strip()}
    error = None
    try:
        filters = FILTERS.load(raw)
    except ma.ValidationError as exc:
        filters = {}
        error = "; ".join(
            f"{field}: {' '.join(str(m) for m in messages)}"
            for field, messages in exc.normalized_messages().items()
        )
    session = request_session()
    parameters = portal_parameters()
    events = paginate(outbox.feed(session, feed_filter(filters)), parameters, clamp=True)
    names = organisations.partner_names(session, {e.partner_id for e in events if e.partner_id})
    # The partner that acted, or that a decision is about (none: the customer's own action).
    rows = [
        {
            "event": e,
            "partner": names.get(e.partner_id) if e.partner_id else None,
            "summary": _summary(e),
        }
        for e in events
    ]
    return render_template(
        "portal/activity.html",
        rows=rows,
        types=outbox.TYPES,
        filters=raw,
        error=error,
        pages=pager(parameters),
    ), 422 if error else 200


# --- webhooks ----------------------------------------------------------------------------------


def _owner() -> Scope:
    principal = g.principal
    if principal.kind == "partner":
        return Scope.partner(principal.partner_id)
    return Scope.tenant(principal.tenant_id)


def _allow_private() -> bool:
    return current_app.extensions["partner_api.settings"].webhook_allow_private


@bp.route("/webhooks", methods=["GET", "POST"])
@signed_in("partner", "tenant")
def webhooks():
    """The endpoints, and the form that adds one; a new one's secret is
    shown on the answer to that form, once."""
    session = request_session()
    page: dict = {"types": outbox.TYPES, "fields": request.form}
    status = 200
    if request.method == "POST":
        try:
            endpoint = endpoints.create(
                session,
                _owner(),
                url=request.form.get("url", "").strip(),
                event_types=request.form.getlist("event_types"),
                description=request.form.get("description", "").strip() or None,
                allow_private=_allow_private(),
            )
        except DomainError as problem:
            status, page["error"] = problem_text(problem)
        else:
            session.commit()
            page["fields"] = {}
            page["new_secret"] = (endpoint.url, endpoint.secret)
    page["endpoints"] = endpoints.in_order_created(session)
    return render_template("portal/webhooks.html", **page), status


@bp.route("/webhooks/<uuid:webhook_id>")
@signed_in("partner", "tenant")
def webhook(webhook_id: uuid.UUID):
    """One endpoint: its settings, actions and delivery log (attempts included)."""
    session = request_session()
    endpoint = endpoints.get(session, webhook_id)
    parameters = portal_parameters(25)
    page = paginate(endpoints.deliveries(session, webhook_id), parameters, clamp=True)
    return render_template(
        "portal/webhook.html",
        endpoint=endpoint,
        deliveries=delivery_bodies(session, page),
        pages=pager(parameters),
    )


@bp.route(
    "/webhooks/<uuid:webhook_id>/<any(ping, enable, disable, rotate, delete):action>",
    methods=["POST"],
)
@signed_in("partner", "tenant")
def webhook_action(webhook_id: uuid.UUID, action: str):
    session = request_session()
    back = redirect(url_for("portal.webhook", webhook_id=webhook_id))
    if action == "ping":
        endpoints.ping(session, webhook_id)
        flash(gettext("Ping sent: it shows in the delivery log below."))
    elif action in ("enable", "disable"):
        endpoints.change(
            session, webhook_id, {"enabled": action == "enable"}, allow_private=_allow_private()
        )
        flash(gettext("Endpoint enabled.") if action == "enable" else gettext("Endpoint disabled."))
    elif action == "rotate":
        endpoint = endpoints.rotate_secret(session, webhook_id)
        session.commit()
        return render_template(
            "portal/webhook.html",
            endpoint=endpoint,
            new_secret=endpoint.secret,
            deliveries=[],
            pages=None,
        )
    else:
        endpoints.delete(session, webhook_id)
        back = redirect(url_for("portal.webhooks"))
        flash(gettext("Endpoint deleted."))
    session.commit()
    return back


@bp.route("/webhooks/<uuid:webhook_id>/deliveries/<uuid:delivery_id>/redeliver", methods=["POST"])
@signed_in("partner", "tenant")
def redeliver(webhook_id: uuid.UUID, delivery_id: uuid.UUID):
    session = request_session()
    endpoints.redeliver(session, webhook_id, delivery_id)
    session.commit()
    flash(gettext("Sent again, with the same webhook-id."))
    return redirect(url_for("portal.webhook", webhook_id=webhook_id))
