"""The portal: server-rendered pages for people, over the same domain
functions and data scopes as the API.

Customers: devices (each with its page and history), register devices
(with a dry-run preview), orders, relationships. Partners: customers, submit
an order, orders with live progress and per-row outcomes (each device with
its page), failed rows as CSV. Both export their lists as CSV with the page's filters. Support:
request-ID and device lookups.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import marshmallow as ma
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_date, gettext

from partner_api import bulk_actions, i18n
from partner_api.auth import portal_sessions as auth
from partner_api.auth.portal_sessions import signed_in
from partner_api.csv_downloads import csv_response
from partner_api.customer.schemas import DeviceFilterSchema, device_query
from partner_api.errors import ApiError
from partner_api.i18n import LANGUAGE_NAMES, current_language
from partner_api.orders.routes import failures_csv, order_list_export, order_rows_export
from partner_api.orders.schemas import OrderCreateSchema, OrderFormSchema
from partner_api.orders.submission import new_submission, preview_order, store_order
from partner_api.pagination import pager, paginate, portal_cursor_page, portal_parameters
from partner_api.portal import charts, labels, languages, time_zones
from partner_api.portal.labels import number
from partner_api.portal.problems import problem_text
from partner_api.request_context import current_request_id, request_session
from partner_api.uploads import FILE_FIELD, parse_device_body
from tenants import outcomes
from tenants.access import organisations, portal_users, relationships
from tenants.errors import DomainError
from tenants.ingest import group_tags
from tenants.models import Relationship
from tenants.operations import support
from tenants.registration import (
    bulk,
    device_list,
    devices,
    exports,
    orders,
    overview,
    revocation,
)
from tenants.registration.device_history import device_page
from tenants.texts import N_

bp = Blueprint(
    "portal",
    __name__,
    url_prefix=auth.PREFIX,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

HOME = {"tenant": "portal.overview", "partner": "portal.overview", "support": "portal.requests"}
# A preview lists this many rejected rows; the counts cover every row.
PREVIEW_ROWS = 500
SORTABLE = (
    ("serial_number", N_("Serial number")),
    ("manufacturer", N_("Manufacturer")),
    ("model", N_("Model")),
    ("state", N_("State")),
    ("order_id", N_("Order ID")),
    ("last_seen_at", N_("Last seen")),
    ("registered_at", N_("Registered")),
    ("created_at", N_("Submitted")),
)


# The states a device in the device list can be in (failed rows are not devices).
DEVICE_STATES = tuple(s for s in outcomes.STATES if s != outcomes.FAILED)
# The device list's filters; errors belong to failed rows, which are not devices.
DEVICE_FILTERS = DeviceFilterSchema(exclude=("error_code", "format"))
# The order page's row filters: the device list's, for one order.
ORDER_ROW_FILTERS = DeviceFilterSchema(only=("state", "error_code"))


class PortalOrderForm(OrderFormSchema):
    """The register form: the API's form fields, plus the page's own
    (CSRF token, which button was pressed), which are not order fields."""

    class Meta:
        unknown = ma.EXCLUDE


@bp.context_processor
def _portal_context() -> dict:
    user = g.get("portal_user")
    return {
        "user": user,
        "kind": user.principal_kind if user else None,
        "organisation": _organisation_name(user) if user else None,
        "request_id": current_request_id(),
        "state_meanings": labels.state_meanings(),
        "row_message": i18n.row_message,
        "reader_time": time_zones.reader_time,
        "reader_zone": time_zones.reader_zone()[0],
        "language": current_language(),
        "language_names": LANGUAGE_NAMES,
    }


def _organisation_name(user) -> str:
    """The name of the signed-in user's organisation, looked up once a request."""
    if "organisation" not in g:
        name = organisations.display_name(
            request_session(), tenant_id=user.tenant_id, partner_id=user.partner_id
        )
        g.organisation = name or gettext("Support")
    return g.organisation


# --- signing in ---------------------------------------------------------------------------


@bp.route("/")
def home():
    principal = auth.portal_principal()
    if principal is None:
        return redirect(url_for("portal.sign_in"))
    return redirect(url_for(HOME[principal.kind]))


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    next_page = auth.safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("portal/sign_in.html", next=next_page, email="")
    auth.csrf.protect()
    typed = request.form.get("email", "")
    try:
        user = auth.check_password(auth.sign_in_account(), request.form.get("password", ""))
    except ApiError as wait:
        error = wait.detail
        return (
            render_template("portal/sign_in.html", next=next_page, email=typed, error=error),
            429,
            wait.headers,
        )
    if user is None:
        error = gettext(
            "That email address and password do not match an account. Check both and try again."
        )
        return render_template("portal/sign_in.html", next=next_page, email=typed, error=error), 401
    auth.sign_in(user)
    languages.remember_at_sign_in(user)
    return redirect(next_page or url_for(HOME[user.principal_kind]))


@bp.route("/sign-out", methods=["POST"])
def sign_out():
    auth.csrf.protect()
    auth.sign_out()
    flash(gettext("You are signed out."))
    return redirect(url_for("portal.sign_in"))


@bp.route("/password", methods=["GET", "POST"])
@signed_in("partner", "tenant", "support")
def password():
    """Change one's own password; every other browser signed in as this
    person is signed out at once, this one stays signed in."""
    if request.method == "GET":
        return render_template("portal/password.html")
    user = g.portal_user
    current, new = request.form.get("current_password", ""), request.form.get("new_password", "")
    try:
        current_is_right = auth.check_password(user.email, current) is not None
    except ApiError as wait:
        return render_template("portal/password.html", error=wait.detail), 429, wait.headers
    if not current_is_right:
        error = gettext("The current password is not right. Type it again.")
    elif new != request.form.get("repeat_password", ""):
        error = gettext("The new password and its repetition differ. Type both again.")
    else:
        try:
            portal_users.set_password(user.email, new)
        except DomainError as problem:
            error = problem_text(problem)[1]
        else:
            auth.sign_in(user)
            flash(
                gettext(
                    "Your password is changed. Every other browser signed in as you is signed out."
                )
            )
            return redirect(url_for(HOME[user.principal_kind]))
    return render_template("portal/password.html", error=error), 422


# --- the overview (customers and partners) ---------------------------------------------------

# The order tiles show states in.
OVERVIEW_STATES = (
    outcomes.ACTIVE,
    outcomes.INACTIVE,
    outcomes.READY,
    outcomes.PENDING,
    outcomes.DEREGISTERED,
)


@bp.route("/overview", endpoint="overview")
@signed_in("tenant", "partner")
def overview_page():
    """Tiles and charts from the counters; each tile and bar links to the
    list it counts (a customer's device list, filtered; a partner's orders)."""
    customer = g.principal.kind == "tenant"
    seen = overview.overview(request_session(), split_active=customer)
    orders_url = url_for("portal.orders_page")

    def devices_url(**filters) -> str:
        return url_for("portal.devices", **filters) if customer else orders_url

    def day_label(day) -> str:
        return format_date(day, "d MMM")

    registered = charts.bar_chart(
        "registrations",
        [
            (
                day_label(day),
                n,
                devices_url(registered_on=day.isoformat()),
                gettext("%(day)s: %(count)s registered", day=day_label(day), count=number(n)),
            )
            for day, n in seen.registered_per_day
        ],
        every=7,
    )
    codes = sorted(seen.failures_by_code.items(), key=lambda item: -item[1])
    failures = charts.bar_chart(
        "failures",
        [
            (code, n, orders_url, gettext("%(code)s: %(count)s rows", code=code, count=number(n)))
            for code, n in codes
        ],
        height=150,
    )
    inactive = None
    if customer:
        today = seen.today
        inactive = charts.bar_chart(
            "going-inactive",
            [
                (
                    day_label(day),
                    n,
                    # Last seen a window before: inactive since that day, or soon.
                    devices_url(
                        state=outcomes.INACTIVE if day <= today else outcomes.ACTIVE,
                        last_seen_on=(day - outcomes.ACTIVE_WINDOW).isoformat(),
                    ),
                    (
                        gettext(
                            "%(day)s: %(count)s went inactive", day=day_label(day), count=number(n)
                        )
                        if day <= today
                        else gettext(
                            "%(day)s: %(count)s go inactive unless they check in",
                            day=day_label(day),
                            count=number(n),
                        )
                    ),
                )
                for day, n in seen.going_inactive
            ],
            every=7,
            muted={i for i, (day, _) in enumerate(seen.going_inactive) if day > today},
        )
    return render_template(
        "portal/overview.html",
        seen=seen,
        customer=customer,
        states=[s for s in OVERVIEW_STATES if s in seen.by_state],
        devices_url=devices_url,
        orders_url=orders_url,
        registered=registered,
        failures=failures,
        inactive=inactive,
        failures_this_week=sorted(seen.failures_this_week.items(), key=lambda item: -item[1]),
    )


# --- customers: devices, registering, relationships ------------------------------------------


def _device_filters() -> tuple[dict, dict, str | None]:
    """The device list's filters as typed (``raw``) and loaded, and what is
    wrong with them (None when nothing is)."""
    raw = {k: v.strip() for k, v in request.args.items() if k in DEVICE_FILTERS.fields}
    raw = {k: v for k, v in raw.items() if v}
    try:
        return raw, DEVICE_FILTERS.load(raw), None
    except ma.ValidationError as exc:
        return raw, {"sort": "-created_at"}, _validation_text(exc.normalized_messages())


# Translated where shown (the templates' ``_(label)``).
BULK_LABELS = {bulk.DEREGISTER: N_("Deregister"), bulk.SET_GROUP_TAG: N_("Set group tag")}
# The device list's filters a bulk action's "all that match" carries.
BULK_FILTERS = ("q", "state", "order_id", "partner_id", "registered_on", "last_seen_on")


# The device list's columns a person may show or hide, and those shown
# until they choose; the choice is kept in a cookie of their own.
OPTIONAL_COLUMNS = (
    ("group_tag", N_("Group tag")),
    ("purchase_id", N_("Purchase ID")),
    ("assigned_user", N_("Assigned user")),
    ("partner", N_("Registered by")),
    ("last_seen", N_("Last seen")),
)
DEFAULT_COLUMNS = ("partner", "last_seen")
COLUMNS_COOKIE = "device_columns"
COLUMNS_COOKIE_DAYS = 365


def _columns_key(user) -> str:
    """Whose choice a columns cookie holds (another person signing in on the
    same browser starts from the default)."""
    return hashlib.sha256(str(user.id).encode()).hexdigest()[:16]


def _chosen_columns() -> tuple[str, ...]:
    key, _, chosen = request.cookies.get(COLUMNS_COOKIE, "").partition(":")
    if key != _columns_key(g.portal_user):
        return DEFAULT_COLUMNS
    known = dict(OPTIONAL_COLUMNS)
    return tuple(c for c in chosen.split(",") if c in known)


def _remember_columns():
    """The column picker: remember the choice, then back to the list as it was."""
    raw = {k: v.strip() for k, v in request.args.items() if k in DEVICE_FILTERS.fields}
    known = dict(OPTIONAL_COLUMNS)
    chosen = [c for c in request.args.getlist("columns") if c in known]
    back: dict[str, Any] = {k: v for k, v in raw.items() if v}
    if request.args.get("page_size"):
        back["page_size"] = request.args["page_size"]
    response = redirect(url_for("portal.devices", **back))
    response.set_cookie(
        COLUMNS_COOKIE,
        f"{_columns_key(g.portal_user)}:{','.join(chosen)}",
        max_age=COLUMNS_COOKIE_DAYS * 86400,
        path=auth.PREFIX,
        secure=request.is_secure,
        httponly=True,
        samesite="Lax",
    )
    return response


@bp.route("/devices", endpoint="devices")
@signed_in("tenant")
def devices_page():
    if "columns_chosen" in request.args:
        return _remember_columns()
    raw, filters, error = _device_filters()
    # Failed attempts are not devices: they are listed with their order.
    query = device_query(filters, include_failed=False)
    rows, pages, stale = portal_cursor_page(
        device_list.matching(request_session(), query), list_name="devices", bound_to=vars(query)
    )
    return render_template(
        "portal/devices.html",
        rows=rows,
        filters=raw,
        sort=filters["sort"],
        sortable=SORTABLE,
        bulk_filters=BULK_FILTERS,
        columns=_chosen_columns(),
        optional_columns=OPTIONAL_COLUMNS,
        states=DEVICE_STATES,
        pages=pages,
        error=error or stale,
    ), 422 if error else 400 if stale else 200


@bp.route("/devices.csv")
@signed_in("tenant")
def devices_export():
    """Every device the list's filters select, in its sort, as CSV."""
    _raw, filters, error = _device_filters()
    if error:
        return devices_page()
    query = device_query(filters, include_failed=False)
    return csv_response(
        "devices.csv",
        lambda session: exports.devices_csv(session, query, message_of=i18n.row_message),
    )


@bp.route("/devices/<uuid:device_id>")
@signed_in("tenant", "partner")
def device(device_id: uuid.UUID):
    """One device: every field, its state and what it means, and its history
    (a partner's: a row it submitted, and its own attempts for the device)."""
    page = device_page(request_session(), device_id)
    return render_template("portal/device.html", device=page)


@bp.route("/devices/<uuid:device_id>/deregister", methods=["POST"])
@signed_in("tenant")
def deregister_device(device_id: uuid.UUID):
    session = request_session()
    device = devices.deregister(session, device_id, current_request_id())
    serial = device.serial_number
    session.commit()
    flash(
        gettext(
            "Device %(serial)s is deregistered; another organisation may now register it.",
            serial=serial,
        )
    )
    return redirect(auth.safe_next(request.form.get("next")) or url_for("portal.devices"))


@bp.route("/devices/bulk", methods=["POST"])
@signed_in("tenant")
def bulk_devices():
    """A bulk action from the device list: first a confirmation that says
    how many devices it is for, then (``confirmed``) the action itself."""
    form = request.form
    action = form.get("action", "")
    raw: dict[str, Any] = {k: form.get(k, "").strip() for k in BULK_FILTERS}
    raw = {k: v for k, v in raw.items() if v}
    back = url_for("portal.devices", **raw)
    selection: bulk.Selection
    try:
        if form.get("selection") == "filter":
            filters = DEVICE_FILTERS.load(raw)
            selection = bulk.Selection(query=device_query(filters, include_failed=False))
        else:
            ids = tuple(uuid.UUID(v) for v in form.getlist("ids"))
            if not ids:
                raise DomainError(gettext("Select devices first: tick them in the list."))
            selection = bulk.Selection(ids=ids)
        if action not in BULK_LABELS:
            raise DomainError(gettext("Choose what to do with the selected devices."))
    except (ValueError, ma.ValidationError, DomainError) as problem:
        text = problem.message if isinstance(problem, DomainError) else str(problem)
        flash(text, "error")
        return redirect(back)
    session = request_session()
    if form.get("confirmed") != "yes":
        return render_template(
            "portal/bulk_confirm.html",
            action=action,
            label=BULK_LABELS[action],
            count=bulk.selection_size(session, selection),
            selection=form.get("selection", "ids"),
            ids=form.getlist("ids"),
            filters=raw,
            group_tag=form.get("group_tag", ""),
            back=back,
        )
    try:
        started = bulk_actions.start(
            session,
            g.principal.tenant_id,
            action=action,
            selection=selection,
            group_tag=form.get("group_tag"),
        )
    except DomainError as problem:
        flash(problem_text(problem)[1], "error")
        return redirect(back)
    return redirect(url_for("portal.bulk_action", bulk_action_id=started.id))


@bp.route("/bulk-actions/<uuid:bulk_action_id>")
@signed_in("tenant")
def bulk_action(bulk_action_id: uuid.UUID):
    """A bulk action's progress and what it did to each device."""
    session = request_session()
    body = _bulk_body(session, bulk_action_id)
    outcome = request.args.get("outcome", "").strip()
    if outcome not in ("", bulk.SUCCEEDED, bulk.UNCHANGED, bulk.FAILED):
        outcome = ""
    parameters = portal_parameters(100)
    rows = paginate(
        bulk.items(session, bulk_action_id, outcome=outcome or None), parameters, clamp=True
    )
    return render_template(
        "portal/bulk_action.html",
        bulk=body,
        rows=rows,
        outcome=outcome,
        pages=pager(parameters),
    )


@bp.route("/bulk-actions/<uuid:bulk_action_id>/progress")
@signed_in("tenant")
def bulk_action_progress(bulk_action_id: uuid.UUID):
    """The progress panel alone, which the page fetches every second."""
    return render_template(
        "portal/_bulk_progress.html", bulk=_bulk_body(request_session(), bulk_action_id)
    )


def _bulk_body(session, bulk_action_id: uuid.UUID) -> dict:
    body = bulk_actions.body(bulk.get(session, bulk_action_id))
    body["label"] = BULK_LABELS[body["action"]]
    return body


@bp.route("/register", methods=["GET", "POST"])
@signed_in("tenant")
def register():
    return _order_form(
        tenant_id=g.principal.tenant_id,
        partner_id=None,
        customer_name=None,
        action=url_for("portal.register"),
    )


@bp.route("/relationships", endpoint="relationships")
@signed_in("tenant")
def relationships_page():
    rows, pages = _relationships_newest_first()
    return render_template("portal/relationships.html", relationships=rows, pages=pages)


@bp.route(
    "/relationships/<uuid:relationship_id>/<any(approve, decline, revoke):action>", methods=["POST"]
)
@signed_in("tenant")
def change_relationship(relationship_id: uuid.UUID, action: str):
    session = request_session()
    relationship = revocation.change_relationship(
        session, relationship_id, action, current_request_id()
    )
    partner_name = relationship.partner.name
    status = relationship.status
    session.commit()
    flash(
        gettext(
            "%(partner)s: relationship %(status)s.",
            partner=partner_name,
            status=labels.relationship_status_name(status),
        )
    )
    return redirect(url_for("portal.relationships"))


def _relationships_newest_first() -> tuple[list[Relationship], dict]:
    """A page of the relationships of the signed-in customer or partner (its
    scope filters them), and its pager."""
    parameters = portal_parameters()
    rows = paginate(relationships.newest_first(request_session()), parameters, clamp=True)
    return rows, pager(parameters)


# --- partners: customers and their orders ------------------------------------------------------


@bp.route("/customers")
@signed_in("partner")
def customers():
    rows, pages = _relationships_newest_first()
    return render_template("portal/customers.html", relationships=rows, pages=pages)


@bp.route("/customers/relationship-requests", methods=["POST"])
@signed_in("partner")
def request_relationship():
    raw = request.form.get("tenant_id", "").strip()
    try:
        tenant_id = uuid.UUID(raw)
    except ValueError:
        flash(
            gettext(
                "%(typed)s is not a customer ID: ask the customer for its tenant ID "
                "(a UUID such as 0f8fad5b-d9cb-469f-a165-70867728950e).",
                typed=repr(raw),
            ),
            "error",
        )
        return redirect(url_for("portal.customers"))
    session = request_session()
    relationship = relationships.request_relationship(
        session,
        g.principal.partner_id,
        tenant_id,
        current_request_id(),
        ask_again_after=current_app.extensions["partner_api.settings"].relationship_ask_again_after,
    )
    status = relationship.status
    session.commit()
    flash(
        gettext(
            "Relationship request sent: %(status)s. The customer approves it in their portal.",
            status=labels.relationship_status_name(status),
        )
    )
    return redirect(url_for("portal.customers"))


@bp.route("/customers/<uuid:tenant_id>/orders/new", methods=["GET", "POST"])
@signed_in("partner")
def new_order(tenant_id: uuid.UUID):
    relationship = relationships.active_one(request_session(), g.principal.partner_id, tenant_id)
    if relationship is None or relationship.tenant is None:
        abort(404)
    return _order_form(
        tenant_id=tenant_id,
        partner_id=g.principal.partner_id,
        customer_name=relationship.tenant.name,
        action=url_for("portal.new_order", tenant_id=tenant_id),
    )


def _order_form(*, tenant_id, partner_id, customer_name, action):
    """The register form: GET shows it; POST previews (dry run) or submits."""
    settings = current_app.extensions["partner_api.settings"]
    page = {
        "action": action,
        "customer_name": customer_name,
        "group_tags": group_tags.policy_for(request_session(), tenant_id).allowed,
        "max_rows": settings.max_order_rows,
        "max_mib": settings.max_upload_bytes // (1024 * 1024),
        "fields": request.form,
    }
    if request.method == "GET":
        return render_template("portal/register.html", **page)
    preview = request.form.get("intent") == "preview"
    fragment = request.headers.get("X-Portal-Fragment") == "preview"
    if not any(f.filename for f in request.files.getlist(FILE_FIELD)):
        return _form_error(
            page, fragment, 422, gettext("Choose the CSV file (or a .zip of CSV files) to upload.")
        )
    session = request_session()
    try:
        body = parse_device_body(
            OrderCreateSchema,
            PortalOrderForm,
            max_rows=settings.max_order_rows,
            max_bytes=settings.max_upload_bytes,
        )
        submission = new_submission(tenant_id=tenant_id, partner_id=partner_id, body=body)
        if preview:
            result = preview_order(session, submission, body["rows"])
        else:
            order = store_order(session, submission, body["rows"])
    except (ApiError, DomainError) as exc:
        status, detail = problem_text(exc)
        return _form_error(page, fragment, status, detail)
    if not preview:
        flash(
            gettext(
                "Order %(order)s accepted: %(rows)s rows.",
                order=order.order_id or order.id,
                rows=number(order.row_count),
            )
        )
        return redirect(url_for("portal.order", order_id=order.id))
    rejected = [r for r in result["rows"] if r["verdict"] == "rejected"]
    template = "portal/_preview.html" if fragment else "portal/register.html"
    return render_template(
        template,
        **page,
        preview=result,
        rejected=rejected[:PREVIEW_ROWS],
        more_rejected=max(0, len(rejected) - PREVIEW_ROWS),
    )


def _form_error(page: dict, fragment: bool, status: int, detail: str):
    template = "portal/_preview.html" if fragment else "portal/register.html"
    return render_template(template, **page, error=detail), status


# --- orders (partners and customers) ----------------------------------------------------------


@bp.route("/orders")
@signed_in("partner", "tenant")
def orders_page():
    session = request_session()
    page, pages, stale = portal_cursor_page(
        orders.newest_first(session), list_name="orders", default_size=25
    )
    bodies = orders.as_dicts(session, page)
    _name_parties(session, bodies)
    return render_template(
        "portal/orders.html", orders=bodies, pages=pages, error=stale
    ), 400 if stale else 200


def _name_parties(session, bodies: list[dict]) -> None:
    """Add who each order is for (``customer``) and who sent it (``submitted_by``)."""
    tenant_names = organisations.tenant_names(session, {b["tenant_id"] for b in bodies})
    partner_ids = {b["partner_id"] for b in bodies if b["partner_id"]}
    partner_names = organisations.partner_names(session, partner_ids)
    for body in bodies:
        body["customer"] = tenant_names.get(body["tenant_id"])
        body["submitted_by"] = partner_names.get(body["partner_id"], gettext("Your organisation"))


@bp.route("/orders.csv")
@signed_in("partner", "tenant")
def orders_export():
    """Every order in scope as CSV."""
    return order_list_export()


def _order_row_filters() -> tuple[dict, str | None]:
    """The order page's row filters, loaded, and what is wrong with them."""
    raw = {k: request.args.get(k, "").strip() for k in ORDER_ROW_FILTERS.fields}
    if request.args.get("outcome") == "failed":  # the "Failed rows" tab
        raw["state"] = outcomes.FAILED
    raw = {k: v for k, v in raw.items() if v}
    try:
        return ORDER_ROW_FILTERS.load(raw), None
    except ma.ValidationError as exc:
        return {}, _validation_text(exc.normalized_messages())


@bp.route("/orders/<uuid:order_id>")
@signed_in("partner", "tenant")
def order(order_id: uuid.UUID):
    """One order: its progress, and its rows, all or those of one state or
    error code (the counts in the progress panel link to them)."""
    session = request_session()
    body = _order_progress(session, order_id)
    filters, error = _order_row_filters()
    listing = orders.order_rows(
        session, order_id, state=filters.get("state"), error_code=filters.get("error_code")
    )
    rows, pages, stale = portal_cursor_page(
        listing, list_name="order_registrations", bound_to={"order": order_id, **filters}
    )
    return render_template(
        "portal/order.html",
        order=body,
        rows=rows,
        filters=filters,
        error=error or stale,
        pages=pages,
    ), 422 if error else 400 if stale else 200


@bp.route("/orders/<uuid:order_id>/rows.csv")
@signed_in("partner", "tenant")
def order_rows_csv(order_id: uuid.UUID):
    """Every row of the order the page's filters select, as CSV."""
    filters, error = _order_row_filters()
    if error:
        return order(order_id)
    return order_rows_export(order_id, filters)


@bp.route("/orders/<uuid:order_id>/progress")
@signed_in("partner", "tenant")
def order_progress(order_id: uuid.UUID):
    """The progress panel alone, which the order page fetches every second."""
    body = _order_progress(request_session(), order_id)
    return render_template("portal/_progress.html", order=body)


@bp.route("/orders/<uuid:order_id>/failures.csv")
@signed_in("partner", "tenant")
def order_failures(order_id: uuid.UUID):
    return failures_csv(order_id)


def _order_progress(session, order_id: uuid.UUID) -> dict:
    body = orders.as_dict(session, orders.get_order(session, order_id))
    _name_parties(session, [body])
    by_state = body["counts"]["by_state"]
    pending = by_state.get(outcomes.PENDING, 0)
    total = body["row_count"] or sum(by_state.values())
    body["done"] = total - pending
    body["percent"] = 100 if not total else int(100 * (total - pending) / total)
    body["failed"] = by_state.get(outcomes.FAILED, 0)
    body["registered"] = sum(by_state.get(s, 0) for s in outcomes.REGISTERED_STATES)
    body["final"] = body["completed_at"] is not None
    return body


# --- support ---------------------------------------------------------------------------------


@bp.route("/requests")
@signed_in("support")
def requests():
    """Look up a request ID: ours (the trace), or one a caller chose (the
    requests that sent it, each traced under its own ID)."""
    looked_up = request.args.get("request_id", "").strip()
    trace, sent_by_callers = None, []
    if looked_up:
        session = request_session()
        trace = support.trace_request(session, looked_up)
        sent_by_callers = support.requests_by_client_id(session, looked_up)
    status = 404 if looked_up and trace is None and not sent_by_callers else 200
    return render_template(
        "portal/requests.html",
        looked_up=looked_up,
        trace=trace,
        sent_by_callers=sent_by_callers,
    ), status


@bp.route("/requests/failures.csv")
@signed_in("support")
def support_order_failures():
    """Every failed row of a traced order (``?order_id=``), as its submitter
    downloads them; without an order, back to the lookup."""
    try:
        order_id = uuid.UUID(request.args.get("order_id", ""))
    except ValueError:
        return redirect(url_for("portal.requests"))
    return failures_csv(order_id, across_tenants="support: an order's failed rows")


@bp.route("/device-history")
@signed_in("support")
def device_history():
    serial = request.args.get("serial_number", "").strip()
    history, pages, stale = None, None, None
    if serial:
        session = request_session()
        entries, pages, stale = portal_cursor_page(
            support.device_registrations(session, serial),
            list_name="support_device_history",
            bound_to={"serial_number": serial},
        )
        history = support.device_history(session, serial, entries=entries)
    return render_template(
        "portal/device_history.html", serial=serial, history=history, pages=pages, error=stale
    ), 400 if stale else 200


def _validation_text(messages: dict) -> str:
    return "; ".join(
        f"{field}: {' '.join(m if isinstance(m, str) else str(m) for m in msgs)}"
        for field, msgs in messages.items()
    )
