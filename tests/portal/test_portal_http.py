"""The portal over plain HTTP: who may see which page, forms that must carry
their CSRF token, sign-in limits, and people created from the command line.

Like tests/api/test_isolation.py for the API, the walk covers every portal
route in the URL map: a page it does not know how to call makes it fail."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import requests
from babel.dates import format_date

from tenants import db
from tenants.access import organisations, relationships
from tenants.ingest.hardware_hash import build_hardware_hash
from tenants.registration import orders
from tenants.scoping import Scope, scoped
from tests.csv_files import CSV_HEADERS, csv_row, encode_csv
from tests.factories import UNACCEPTABLE_TAG, device, unique
from tests.http import assert_problem, fill_rule, wait_for_order
from tests.portal.conftest import Person, csrf_token, signed_in_session

# Pages anyone may open, signed in or not.
OPEN_PAGES = {
    "/portal/",
    "/portal/sign-in",
    "/portal/sign-out",
    "/portal/language",
    "/portal/static/<path:filename>",
}
KINDS = ("tenant", "partner", "support")


@pytest.fixture
def estate(api, world, people, run_worker, base_url):
    """Organisation A's objects, and people of every kind who are not A."""
    a = world.organisation_with_a_device(run_worker)
    tenant_a, relationship_id = a.tenant, a.relationship_id
    order, row, serial = a.order, a.row, a.serial
    partner_b, tenant_b = world.partner(), world.tenant()
    world.approved(partner_b, tenant_b)
    # A's customer has a webhook endpoint with a delivery in its log.
    hook = api.post(
        "/v1/customer/webhooks", token=tenant_a.token, json={"url": "http://127.0.0.1:9/hooks"}
    ).json()
    delivery = api.post(f"/v1/customer/webhooks/{hook['id']}/ping", token=tenant_a.token).json()
    run_worker()
    # A bulk action of A's (on an id that is no device: nothing of A's changes).
    bulk_action = api.post(
        "/v1/customer/devices/bulk-deregister",
        token=tenant_a.token,
        json={"ids": ["00000000-0000-4000-8000-000000000000"]},
    ).json()
    sessions = {
        "tenant": signed_in_session(base_url, people("tenant", tenant_b)),
        "partner": signed_in_session(base_url, people("partner", partner_b)),
        "support": signed_in_session(base_url, people("support")),
    }
    return {
        "ids": {
            "tenant_id": str(tenant_a.id),
            "order_id": order["id"],
            "device_id": row["id"],
            "relationship_id": relationship_id,
            "webhook_id": hook["id"],
            "delivery_id": delivery["id"],
            "bulk_action_id": bulk_action["id"],
        },
        "secrets": {
            hook["id"],
            hook["secret"],
            delivery["id"],
            str(tenant_a.id),
            order["id"],
            row["id"],
            relationship_id,
            serial,
            order["order_id"],
            order["request_id"],
            bulk_action["id"],
        },
        "sessions": sessions,
        "tenant_a": tenant_a,
        "serial": serial,
    }


def _portal_routes(app) -> list[tuple[str, str, str]]:
    """(method, rule, endpoint) of every portal page that needs a signed-in user."""
    return sorted(
        (method, rule.rule, rule.endpoint)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/portal/") and rule.rule not in OPEN_PAGES
        for method in rule.methods - {"HEAD", "OPTIONS"}
    )


def _call(http: requests.Session, base_url: str, method: str, path: str) -> requests.Response:
    if method == "GET":
        return http.get(base_url + path, allow_redirects=False, timeout=30)
    token = csrf_token(http.get(f"{base_url}/portal/", timeout=30).text)
    return http.post(base_url + path, data={"csrf_token": token}, allow_redirects=False, timeout=30)


def test_every_portal_page_is_scoped(app, base_url, estate):
    routes = _portal_routes(app)
    assert len(routes) >= 15
    # The device page and the exports are walked like every page.
    assert {
        "/portal/devices/<uuid:device_id>",
        "/portal/devices.csv",
        "/portal/orders.csv",
        "/portal/orders/<uuid:order_id>/rows.csv",
    } <= {rule for _, rule, _ in routes}
    checked = 0
    for method, rule, endpoint in routes:
        view = app.view_functions[endpoint]
        kinds = getattr(view, "portal_kinds", None)
        assert kinds, f"{rule} does not declare who may see it (auth.portal_sessions.signed_in)"
        path, used = fill_rule(rule, estate["ids"])
        secrets = estate["secrets"] - used

        # Not signed in: sent to the sign-in page.
        response = _call(requests.Session(), base_url, method, path)
        if method == "GET":
            assert response.status_code == 302, f"{method} {rule} anonymous"
            assert "/portal/sign-in" in response.headers["Location"]
        else:
            assert response.status_code in (302, 400), f"{method} {rule} anonymous"

        for kind, http in estate["sessions"].items():
            response = _call(http, base_url, method, path)
            context = f"{method} {rule} as {kind} of another organisation"
            leaked = [s for s in secrets | used if s in response.text]
            assert not leaked, f"{context}: shows A's {leaked}"
            if kind not in kinds or used:
                assert response.status_code == 404, f"{context}: {response.status_code}"
                assert "There is nothing at this address" in response.text
            else:
                assert method == "GET" or response.status_code in (302, 422), context
                assert response.status_code in (200, 302, 422), f"{context}: {response.status_code}"
            checked += 1
    assert checked > 40


def test_a_form_without_its_csrf_token_changes_nothing(api, world, people, base_url):
    partner, tenant = world.partner(), world.tenant()
    relationship = api.post(
        f"/v1/partner/customers/{tenant.id}/relationship-requests", token=partner.token
    ).json()
    http = signed_in_session(base_url, people("tenant", tenant))

    response = http.post(
        f"{base_url}/portal/relationships/{relationship['id']}/approve", timeout=30
    )

    assert response.status_code == 400
    assert "This form has expired or did not come from this portal" in response.text
    [after] = api.get("/v1/customer/relationships", token=tenant.token).json()
    assert after["status"] == "pending"


def test_a_refused_change_reads_on_the_page_as_in_the_api(api, world, people, base_url):
    """A domain error is told once: the page shows the status and detail of
    the API's problem for the same refusal."""
    partner, tenant = world.partner(), world.tenant()
    relationship = api.post(
        f"/v1/partner/customers/{tenant.id}/relationship-requests", token=partner.token
    ).json()
    declined = f"/v1/customer/relationships/{relationship['id']}/decline"
    assert api.post(declined, token=tenant.token).status_code == 200
    problem = assert_problem(
        api.post(f"/v1/customer/relationships/{relationship['id']}/approve", token=tenant.token),
        409,
        "relationship_state_conflict",
    )
    http = signed_in_session(base_url, people("tenant", tenant))
    token = csrf_token(http.get(f"{base_url}/portal/relationships", timeout=30).text)

    response = http.post(
        f"{base_url}/portal/relationships/{relationship['id']}/approve",
        data={"csrf_token": token},
        timeout=30,
    )

    assert response.status_code == 409
    assert html.escape(problem["detail"]) in response.text


def test_sign_in_attempts_are_limited_per_account(world, people, base_url):
    person = people("tenant", world.tenant())
    http = requests.Session()
    token = csrf_token(http.get(f"{base_url}/portal/sign-in", timeout=30).text)
    statuses = [
        http.post(
            f"{base_url}/portal/sign-in",
            data={"csrf_token": token, "email": person.email, "password": "guess"},
            timeout=30,
        ).status_code
        for _ in range(11)
    ]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    # The right password is refused too until the window passes: no more guesses.
    response = http.post(
        f"{base_url}/portal/sign-in",
        data={"csrf_token": token, "email": person.email, "password": person.password},
        timeout=30,
    )
    assert response.status_code == 429
    assert "Too many requests" in response.text
    # Another account from the same address is not locked out.
    signed_in_session(base_url, people("tenant", world.tenant()))


def test_portal_pages_carry_request_ids_and_their_own_security_policy(world, people, base_url):
    http = signed_in_session(base_url, people("tenant", world.tenant()))
    response = http.get(f"{base_url}/portal/devices", timeout=30)
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] in response.text
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "form-action 'self'" in policy
    assert "unsafe-inline" not in policy
    cookie = next(c for c in http.cookies if c.name == "portal_session")
    assert cookie.path == "/portal" and cookie.has_nonstandard_attr("HttpOnly")


def test_bad_filters_say_what_is_wrong(world, people, base_url):
    http = signed_in_session(base_url, people("tenant", world.tenant()))
    response = http.get(f"{base_url}/portal/devices?state=lost&sort=colour", timeout=30)
    assert response.status_code == 422
    assert "state: Must be one of" in response.text
    assert "Sort by one of" in response.text


def test_an_upload_that_cannot_be_read_names_the_line(world, people, base_url):
    http = signed_in_session(base_url, people("tenant", world.tenant()))
    token = csrf_token(http.get(f"{base_url}/portal/register", timeout=30).text)
    response = http.post(
        f"{base_url}/portal/register",
        data={"csrf_token": token, "intent": "register"},
        files={
            "file": (
                "pcs.csv",
                b"Manufacturer,Model,Serial Number,Hardware Hash\r\nA,B,C,D,E,F\r\n",
            )
        },
        timeout=30,
    )
    assert response.status_code == 422
    assert "pcs.csv, line 2" in response.text
    response = http.post(
        f"{base_url}/portal/register",
        data={"csrf_token": token, "intent": "register"},
        files={"file": ("", b"")},
        timeout=30,
    )
    assert response.status_code == 422
    assert "Choose the CSV file" in response.text


def test_users_create_from_the_command_line_can_sign_in(world, base_url):
    tenant = world.tenant()
    email = f"{unique('admin').lower()}@example.test"

    def create(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "partner_api.cli",
                "users",
                "create",
                "--email",
                email,
                "--tenant",
                str(tenant.id),
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )

    result = create("--json")
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["email"] == email and created["principal_kind"] == "tenant"
    http = signed_in_session(base_url, Person(email.upper(), created["password"], "tenant"))
    assert "Devices" in http.get(f"{base_url}/portal/devices", timeout=30).text

    again = create()
    assert again.returncode != 0
    assert f"a portal user {email} already exists" in again.stderr


# --- every paged page, at more than one page of data --------------------------------------


def _walk_pages(http: requests.Session, base_url: str, path: str, marker: str) -> list[str]:
    """Follow a paged page's "Next" links from ``path`` to the end; returns the
    ``marker`` attribute of every row on the way, in order."""
    seen, url = [], base_url + path
    for _ in range(100):
        response = http.get(url, timeout=30)
        assert response.status_code == 200, f"{url}: {response.status_code}"
        seen += re.findall(rf'<tr {marker}="([^"]+)"', response.text)
        following = re.search(r'<a href="([^"]+)" rel="next">', response.text)
        if following is None:
            return seen
        url = base_url + html.unescape(following.group(1))
    raise AssertionError(f"{path}: more than 100 pages")


@pytest.fixture
def paged_estate(api, world, people, base_url, run_worker):
    """A partner's 130-row order (20 rows with broken hashes) for a customer, and
    27 more one-row orders: several pages of rows, orders and devices."""
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    rows = [device(unique("PAGE")) for _ in range(110)]
    rows += [{"hardware_hash": "T0Ebroken", "serial_number": f"BROKEN-{i}"} for i in range(20)]
    big = world.submit(partner, tenant, rows, order_id="PO-PAGES")
    order = wait_for_order(api, partner.token, big.headers["Location"], run_worker)
    for i in range(27):
        world.submit(partner, tenant, [device()], order_id=f"PO-SMALL-{i}")
    return {
        "order": order,
        "partner": signed_in_session(base_url, people("partner", partner)),
        "tenant": signed_in_session(base_url, people("tenant", tenant)),
    }


@pytest.mark.parametrize("kind", ["partner", "tenant"])
def test_every_paged_page_can_be_followed_to_its_end(paged_estate, base_url, kind):
    http, order_pk = paged_estate[kind], paged_estate["order"]["id"]

    lines = _walk_pages(http, base_url, f"/portal/orders/{order_pk}?page_size=25", "data-line")
    assert lines == [str(n) for n in range(1, 131)]
    failed = _walk_pages(
        http,
        base_url,
        f"/portal/orders/{order_pk}?state=registration_failed&page_size=25",
        "data-line",
    )
    assert failed == [str(n) for n in range(111, 131)]
    by_code = _walk_pages(
        http, base_url, f"/portal/orders/{order_pk}?error_code=hardware_hash_invalid", "data-line"
    )
    assert by_code == failed

    listed = _walk_pages(http, base_url, "/portal/orders", "data-order")
    assert len(listed) == len(set(listed)) == 28 and order_pk in listed

    if kind == "tenant":
        serials = _walk_pages(http, base_url, "/portal/devices?page_size=25", "data-serial")
        # The 20 failed rows are not devices: they are listed with their order.
        assert len(serials) == len(set(serials)) == 110 + 27
        assert not [s for s in serials if s.startswith("BROKEN-")]


@pytest.mark.parametrize("page", ["0", "-3", "x", "7", "1000000", "99999999999999999999999"])
def test_any_page_number_answers_a_page(paged_estate, base_url, page):
    http, order_pk = paged_estate["tenant"], paged_estate["order"]["id"]
    for path, last in (
        (f"/portal/orders/{order_pk}?page_size=25", 6),
        (f"/portal/orders/{order_pk}?state=registration_failed&page_size=25", 1),
        ("/portal/orders", 2),
        ("/portal/devices?page_size=50", 3),
    ):
        separator = "&" if "?" in path else "?"
        response = http.get(f"{base_url}{path}{separator}page={page}", timeout=30)
        assert response.status_code == 200, f"{path} page {page}: {response.status_code}"
        if page in ("7", "1000000", "99999999999999999999999") and last > 1:
            assert f"Page {last} of {last}" in response.text, path  # past the end: the last page


def _next_link(response: requests.Response) -> str:
    following = re.search(r'<a href="([^"]+)" rel="next">', response.text)
    assert following is not None, response.url
    return html.unescape(following.group(1))


def test_next_links_carry_a_cursor_that_only_its_list_accepts(
    paged_estate, world, people, base_url
):
    """Every "Next" carries the cursor of its page's last row. Changed, used
    with other filters, or by another customer, it shows the first page of
    what that person may see and says why: a 400, never rows of the list it
    came from, never a failure."""
    http, order_pk = paged_estate["tenant"], paged_estate["order"]["id"]
    first = http.get(f"{base_url}/portal/devices?page_size=25", timeout=30)
    second_path = _next_link(first)
    assert "cursor=" in second_path and "page=2" in second_path
    second = http.get(base_url + second_path, timeout=30)
    assert second.status_code == 200 and "Page 2" in second.text
    mine = set(re.findall(r'<tr data-serial="([^"]+)"', second.text))
    assert len(mine) == 25

    outsider = signed_in_session(base_url, people("tenant", world.tenant()))
    stolen = outsider.get(base_url + second_path, timeout=30)
    assert stolen.status_code == 400 and "here is the first page" in stolen.text
    assert not mine & set(re.findall(r'<tr data-serial="([^"]+)"', stolen.text))
    assert "No devices yet" in stolen.text

    cursor = re.search(r"cursor=([^&]+)", second_path).group(1)
    for path in (
        f"/portal/devices?page_size=25&cursor={cursor[:-4]}AAAA",
        f"/portal/devices?page_size=25&sort=serial_number&cursor={cursor}",
        f"/portal/orders?cursor={cursor}",
        f"/portal/orders/{order_pk}?cursor={cursor}",
    ):
        refused = http.get(base_url + path, timeout=30)
        assert refused.status_code == 400, path
        assert "here is the first page" in refused.text and "Page 1" in refused.text, path


def test_pages_by_number_stop_where_the_cursor_takes_over(paged_estate, base_url, monkeypatch):
    """Past the rows pages by number reach, a page number shows the deepest
    page it can; "Next" from there goes on by cursor to the end."""
    from partner_api import pagination

    http, order_pk = paged_estate["partner"], paged_estate["order"]["id"]
    path = f"/portal/orders/{order_pk}?page_size=25"
    response = http.get(f"{base_url}{path}&page=2", timeout=30)
    assert "Page 2 of 6" in response.text
    lines = re.findall(r'<tr data-line="([^"]+)"', response.text)
    assert lines == [str(n) for n in range(26, 51)]
    assert 'rel="prev"' in response.text and 'rel="first"' not in response.text

    third = http.get(base_url + _next_link(response), timeout=30)
    assert third.status_code == 200 and "Page 3<" in third.text  # read by cursor: not counted
    assert re.findall(r'<tr data-line="([^"]+)"', third.text)[0] == "51"
    assert 'rel="first"' in third.text and 'rel="prev"' in third.text

    monkeypatch.setattr(pagination, "MAX_OFFSET", 50)  # numbers reach pages 1 and 2 of 25
    deep = http.get(f"{base_url}{path}&page=5", timeout=30)
    assert deep.status_code == 200 and "Page 2 of 6" in deep.text
    lines, url, pages = [], f"{base_url}{path}&page=5", 0
    while url:
        response = http.get(url, timeout=30)
        assert response.status_code == 200, url
        lines += re.findall(r'<tr data-line="([^"]+)"', response.text)
        pages += 1
        following = re.search(r'<a href="([^"]+)" rel="next">', response.text)
        url = following and base_url + html.unescape(following.group(1))
        if pages == 3:  # page 4, read by cursor: its previous page is too deep for a number
            assert 'rel="prev"' not in response.text and 'rel="first"' in response.text
    assert lines == [str(n) for n in range(26, 131)] and pages == 5


def test_bad_row_filters_on_an_order_say_what_is_wrong(paged_estate, base_url):
    http, order_pk = paged_estate["partner"], paged_estate["order"]["id"]
    response = http.get(f"{base_url}/portal/orders/{order_pk}?error_code=lost", timeout=30)
    assert response.status_code == 422
    assert "error_code: Must be one of" in response.text


def test_relationship_pages_are_paged(api, world, people, base_url):
    """A partner with 55 customers, a customer with 55 partners."""
    partner, tenant = world.partner(), world.tenant()
    for _ in range(55):
        customer = organisations.create_tenant(unique("Tenant"))
        response = api.post(
            f"/v1/partner/customers/{customer.id}/relationship-requests", token=partner.token
        )
        assert response.status_code == 201, response.text
        other = organisations.create_partner(unique("Partner"))
        with scoped(Scope.partner(other.id)), db.transaction() as session:
            relationships.request_relationship(session, other.id, tenant.id, "test-setup")

    for person, path, marker in (
        (people("partner", partner), "/portal/customers", "data-customer"),
        (people("tenant", tenant), "/portal/relationships", "data-partner"),
    ):
        http = signed_in_session(base_url, person)
        names = _walk_pages(http, base_url, path, marker)
        assert len(names) == len(set(names)) == 55, path
        last = http.get(f"{base_url}{path}?page=9", timeout=30)
        assert last.status_code == 200 and "Page 2 of 2" in last.text


# --- support's request lookup ------------------------------------------------------------


def test_support_sees_why_a_portal_page_failed(
    api, world, people, base_url, run_worker, monkeypatch
):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    accepted = world.submit(partner, tenant, [device()], order_id="PO-500")
    order = wait_for_order(api, partner.token, accepted.headers["Location"], run_worker)
    clerk = signed_in_session(base_url, people("partner", partner))
    support = signed_in_session(base_url, people("support"))

    def failing(session, page):
        raise RuntimeError("could not read the counts: server closed the connection")

    monkeypatch.setattr(orders, "as_dicts", failing)
    page = clerk.get(f"{base_url}/portal/orders/{order['id']}", timeout=30)
    monkeypatch.undo()
    assert page.status_code == 500
    assert "Something went wrong" in page.text and "server closed" not in page.text
    request_id = page.headers["X-Request-ID"]
    assert request_id in page.text

    lookup = support.get(
        f"{base_url}/portal/requests", params={"request_id": request_id.upper()}, timeout=30
    )
    assert lookup.status_code == 200
    cause = re.search(r'data-testid="request-error">(.*?)</tr>', lookup.text, re.S).group(1)
    assert "builtins.RuntimeError" in cause
    assert "could not read the counts: server closed the connection" in cause
    assert "tenants/registration/orders.py:" in cause  # where the counts were asked for
    assert "None of them failed" not in lookup.text
    assert "The request itself failed" in lookup.text
    assert f"/portal/orders/{order['id']}" in lookup.text


def test_support_finds_a_request_by_the_callers_own_id(world, people, base_url, api):
    partner = world.partner()
    mine = api.get(
        "/v1/partner/orders", token=partner.token, headers={"X-Request-ID": "erp-batch-0042"}
    )
    support = signed_in_session(base_url, people("support"))

    lookup = support.get(
        f"{base_url}/portal/requests", params={"request_id": "ERP-BATCH-0042"}, timeout=30
    )

    assert lookup.status_code == 200
    matches = re.search(r'data-testid="client-matches">(.*?)</section>', lookup.text, re.S)
    assert mine.headers["X-Request-ID"] in matches.group(1)
    assert 'data-testid="trace"' not in lookup.text  # never merged into a trace of its own
    nothing = support.get(
        f"{base_url}/portal/requests", params={"request_id": "no-such-id"}, timeout=30
    )
    assert nothing.status_code == 404
    assert "Nothing is recorded under the request ID" in nothing.text


def test_support_downloads_a_traced_orders_failed_rows(world, people, base_url, api, run_worker):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    rows = [{"hardware_hash": "T0FBQUFB", "serial_number": f"F-{i:03d}"} for i in range(60)]
    accepted = world.submit(partner, tenant, rows)
    order = wait_for_order(api, partner.token, accepted.headers["Location"], run_worker)
    support = signed_in_session(base_url, people("support"))

    lookup = support.get(
        f"{base_url}/portal/requests",
        params={"request_id": accepted.headers["X-Request-ID"]},
        timeout=30,
    )

    assert lookup.status_code == 200
    assert 'data-testid="more-failed"' in lookup.text
    link = re.search(r'<a href="([^"]+)" data-testid="order-failures">', lookup.text).group(1)
    assert order["id"] in link
    download = support.get(f"{base_url}{html.unescape(link)}", timeout=30)
    assert download.status_code == 200
    assert download.headers["Content-Type"].startswith("text/csv")
    assert download.text.count("hardware_hash_invalid") == 60


# --- the register form -------------------------------------------------------------------


def test_the_portal_preview_reports_a_wrong_group_tag_once(world, people, base_url):
    tenant = world.tenant()
    http = signed_in_session(base_url, people("tenant", tenant))
    fmt = "self_registration"
    data = encode_csv(
        [
            CSV_HEADERS[fmt],
            *(
                csv_row(fmt, serial=s, hardware_hash=build_hardware_hash("Contoso", "Laptop 7", s))
                for s in (unique("SN") for _ in range(302))
            ),
        ]
    )
    token = csrf_token(http.get(f"{base_url}/portal/register", timeout=30).text)

    response = http.post(
        f"{base_url}/portal/register",
        data={"csrf_token": token, "intent": "preview", "group_tag": UNACCEPTABLE_TAG},
        files={"file": ("pcs.csv", data)},
        headers={"X-Portal-Fragment": "preview"},
        timeout=60,
    )

    assert response.status_code == 422
    assert response.text.count("The group tag is not one this service accepts") == 1


# --- times in the reader's time zone -----------------------------------------------------


@pytest.mark.parametrize(
    ("cookie", "zone"),
    [
        (None, "UTC"),
        ("Europe/Stockholm", "Europe/Stockholm"),
        ("America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"),
        ("Mars/Olympus_Mons", "UTC"),
        ("../../../etc/passwd", "UTC"),
    ],
)
def test_times_are_shown_in_the_readers_zone_and_name_it(
    api, world, people, base_url, cookie, zone
):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    accepted = world.submit(partner, tenant, [device()], order_id="PO-TZ")
    created = datetime.fromisoformat(accepted.json()["created_at"])
    http = signed_in_session(base_url, people("tenant", tenant))
    if cookie:
        http.cookies.set("tz", cookie, path="/portal")

    page = http.get(f"{base_url}/portal/orders/{accepted.json()['id']}", timeout=30)

    assert page.status_code == 200
    local = created.astimezone(ZoneInfo(zone))
    # In the reader's language (English here): "Nov 30, 2026 14:05 CET".
    shown = f"{format_date(local, 'medium', locale='en')} {local:%H:%M} {local.tzname()}"
    assert f'title="{zone}">{shown}</time>' in page.text
    assert f'times in <span data-testid="time-zone">{zone}</span>' in page.text


def test_activity_shows_a_customer_every_partner_and_a_partner_only_itself(
    api, world, people, base_url, run_worker
):
    tenant, ours, theirs = world.tenant(), world.partner(), world.partner()
    for partner, reference in ((ours, "PO-OURS"), (theirs, "PO-THEIRS")):
        world.approved(partner, tenant)
        world.submit(partner, tenant, [device()], order_id=reference)
    customer = signed_in_session(base_url, people("tenant", tenant))
    page = customer.get(f"{base_url}/portal/activity", timeout=30)
    assert page.status_code == 200
    assert "Order PO-OURS: accepted" in page.text and "Order PO-THEIRS: accepted" in page.text

    clerk = signed_in_session(base_url, people("partner", ours))
    page = clerk.get(f"{base_url}/portal/activity", timeout=30)
    assert "Order PO-OURS: accepted" in page.text and "PO-THEIRS" not in page.text
    bad = clerk.get(f"{base_url}/portal/activity", params={"type": "order.exploded"}, timeout=30)
    assert bad.status_code == 422 and "type: Must be one of" in bad.text


def test_an_orders_failed_rows_read_in_the_readers_language(
    api, world, people, base_url, run_worker
):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    submitted = world.submit(
        partner, tenant, [{"hardware_hash": "T0Ebroken", "serial_number": "BROKEN-SV"}]
    )
    order = wait_for_order(api, partner.token, submitted.headers["Location"], run_worker)
    http = signed_in_session(base_url, people("partner", partner))

    page = http.get(
        f"{base_url}/portal/orders/{order['id']}", headers={"Accept-Language": "sv"}, timeout=30
    )

    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "Maskinvaruhashen för den här enheten är inte korrekt formaterad" in text
    assert "hardware_hash_invalid" in text  # codes are never translated
