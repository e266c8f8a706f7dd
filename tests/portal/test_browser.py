"""The portal in a real browser (Debian's Chromium, driven by Playwright)
against the app on a real port, with real RQ workers: sign in as each kind of
person, upload, preview, watch an order's progress live, filter the devices
list, approve a relationship, look up a request ID."""

from __future__ import annotations

import csv
import re

import pytest
from babel.support import Translations
from playwright.sync_api import expect

from partner_api.i18n import TRANSLATIONS
from tenants.ingest.hardware_hash import build_hardware_hash
from tests.csv_files import CSV_HEADERS, csv_row, encode_csv
from tests.factories import device, unique
from tests.http import wait_for_order
from tests.portal.conftest import screenshot


def nav(page, name: str, t=None):
    """A link of the main navigation (``t``: the page's language, see ``words``)."""
    t = t or words("en")
    return page.get_by_role("navigation", name=t("Main")).get_by_role(
        "link", name=t(name), exact=True
    )


def words(language: str):
    """The portal's texts in ``language``, from its catalogue: ``t(english, **values)``."""
    catalogue = Translations.load(str(TRANSLATIONS), [language])

    def t(english: str, **values) -> str:
        text = catalogue.gettext(english)
        return text % values if values else text

    return t


def _csv_file(name: str, fmt: str, serials: list[str], broken: list[str] = ()) -> dict:
    lines = [CSV_HEADERS[fmt]]
    lines += [
        csv_row(fmt, serial=s, hardware_hash=build_hardware_hash("Contoso", "Laptop 7", s))
        for s in serials
    ]
    lines += [csv_row(fmt, serial=s, hardware_hash="not-a-hash") for s in broken]
    # As Windows PowerShell 5.1 writes it: UTF-16 LE with a BOM, CRLF.
    return {
        "name": name,
        "mimeType": "text/csv",
        "buffer": encode_csv(lines, encoding="utf-16-le-bom"),
    }


@pytest.mark.parametrize("language", ["en", "sv", "nl"])
def test_customer_previews_registers_and_watches_progress(
    world, people, open_portal, worker_process, tmp_path, language
):
    """The main flow, in each language: chosen with the switcher, it stays."""
    t = words(language)
    shot = (lambda name: name) if language == "en" else (lambda name: f"{name}-{language}")
    person = people("tenant", world.tenant())
    page = open_portal(person)
    expect(page).to_have_url(re.compile(r"/portal/overview$"))
    if language != "en":
        page.get_by_test_id(f"language-{language}").click()
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page).to_have_url(re.compile(r"/portal/overview\??$"))  # the same page
    expect(page.get_by_role("heading", name=t("Overview"))).to_be_visible()
    nav(page, "Devices", t).click()
    expect(page.locator("p.empty a")).to_have_attribute("href", "/portal/register")

    nav(page, "Register devices", t).click()
    good = [unique("SN") for _ in range(3)]
    page.get_by_label(t("CSV file")).set_input_files(
        _csv_file("new-pcs.csv", "self_registration", good, broken=["BROKEN-1"])
    )
    page.get_by_label(t("Order ID")).fill("PO-PORTAL-1")
    page.get_by_label(t("Purchase ID")).fill("PUR-77")

    # The preview shows which rows would fail and why, and stores nothing.
    page.get_by_role("button", name=t("Preview (dry run)")).click()
    preview = page.get_by_test_id("preview")
    expect(preview).to_contain_text(t("%(rows)s rows", rows="4"))
    expect(preview).to_contain_text(t("%(count)s would be accepted", count="3"))
    expect(preview).to_contain_text(t("%(count)s would fail", count="1"))
    failing = preview.locator("tbody tr")
    expect(failing).to_have_count(1)
    expect(failing).to_contain_text("new-pcs.csv")
    expect(failing).to_contain_text("BROKEN-1")
    expect(failing).to_contain_text("hardware_hash_invalid")
    expect(failing.locator("td").nth(1)).to_have_text("5")  # its line in the file
    screenshot(page, shot("register-preview"))
    nav(page, "Orders", t).click()
    expect(page.get_by_text(t("No orders yet."))).to_be_visible()

    # Registering keeps the chosen file (the preview did not reload the page).
    page.go_back()
    page.get_by_label(t("CSV file")).set_input_files(
        _csv_file("new-pcs.csv", "self_registration", good, broken=["BROKEN-1"])
    )
    page.get_by_label(t("Order ID")).fill("PO-PORTAL-1")
    page.get_by_role("button", name=t("Register devices")).click()
    expect(page).to_have_url(re.compile(r"/portal/orders/[0-9a-f-]{36}$"))
    accepted = t("Order %(order)s accepted: %(rows)s rows.", order="PO-PORTAL-1", rows="4")
    expect(page.get_by_text(accepted)).to_be_visible()
    status = page.get_by_test_id("order-status")
    expect(status).to_have_text(t("accepted"))
    # The broken hash fails as it arrives; the other rows wait for a worker.
    progress = page.get_by_test_id("progress-text")
    expect(progress).to_contain_text(
        t("%(done)s of %(rows)s rows processed", done="1", rows="4")
        + " (25%) · "
        + t("%(registered)s registered", registered="0")
        + " · "
        + t("%(failed)s failed", failed="1")
    )

    # A worker starts: the page follows the order by itself until it is final.
    worker_process()
    expect(status).to_have_text(t("completed with errors"), timeout=60_000)
    expect(progress).to_contain_text(
        t("%(done)s of %(rows)s rows processed", done="4", rows="4") + " (100%)"
    )
    expect(progress).to_contain_text(
        t("%(registered)s registered", registered="3") + " · " + t("%(failed)s failed", failed="1")
    )
    rows = page.locator("table.rows tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.nth(3)).to_contain_text("hardware_hash_invalid")
    screenshot(page, shot("order-progress"))

    page.get_by_role("link", name=f"{t('Failed rows')} (1)").click()
    expect(rows).to_have_count(1)
    with page.expect_download() as download:
        page.get_by_role("link", name=t("Download failed rows (CSV)")).click()
    saved = tmp_path / "failures.csv"
    download.value.save_as(saved)
    table = list(csv.reader(saved.read_text(encoding="utf-8-sig").splitlines()))
    # Column names and codes are the same in every language.
    assert table[0] == [*CSV_HEADERS["self_registration"], "Error Code", "Error Message"]
    assert [(r[2], r[-2]) for r in table[1:]] == [("BROKEN-1", "hardware_hash_invalid")]

    # The devices page lists them with their state and its meaning; the
    # failed row is not a device, it stays with its order.
    nav(page, "Devices", t).click()
    expect(page.locator("table.devices tbody tr")).to_have_count(3)
    expect(page.locator('tr[data-serial="BROKEN-1"]')).to_have_count(0)
    first = page.locator(f'tr[data-serial="{good[0]}"]')
    expect(first).to_contain_text(t("Ready for user"))
    # The state's meaning is its tooltip, not text repeated on every row.
    expect(first.locator(".state")).to_have_attribute(
        "title", t("Registered to your organisation and waiting for its user.")
    )
    expect(first).to_contain_text("PO-PORTAL-1")
    if language != "en":  # the English ones are the other tests'
        screenshot(page, shot("devices"))

    # Deregistering asks first, then releases the device and keeps it as history.
    page.once("dialog", lambda dialog: dialog.accept())
    first.get_by_role("button", name=t("Deregister")).click()
    deregistered = t(
        "Device %(serial)s is deregistered; another organisation may now register it.",
        serial=good[0],
    )
    expect(page.get_by_text(deregistered)).to_be_visible()
    expect(first.locator(".state")).to_have_attribute(
        "title", t("Released by your organisation; kept here as history.")
    )
    expect(first.get_by_role("button", name=t("Deregister"))).to_have_count(0)

    # The language is the person's: signed in again in another browser.
    nav(page, "Overview", t).click()
    if language != "en":
        screenshot(page, shot("overview"))
    page.get_by_role("button", name=t("Sign out")).click()
    expect(page.get_by_text(t("You are signed out."))).to_be_visible()
    if language != "en":
        screenshot(page, shot("sign-in"))
    elsewhere = open_portal(person)
    expect(elsewhere.locator("html")).to_have_attribute("lang", language)
    expect(nav(elsewhere, "Devices", t)).to_be_visible()


def test_customer_filters_sorts_and_pages_the_devices_list(
    api, world, people, open_portal, run_worker
):
    tenant = world.tenant()
    serials = sorted(unique("FLT") for _ in range(30))
    response = api.post(
        "/v1/customer/orders",
        token=tenant.token,
        json={
            "order_id": "PO-LIST",
            "devices": [device(s) for s in serials] + [{"hardware_hash": "T0Ebroken"}],
        },
    )
    wait_for_order(api, tenant.token, response.headers["Location"], run_worker)
    page = open_portal(people("tenant", tenant))
    nav(page, "Devices").click()

    devices = page.locator("table.devices tbody tr")
    page.get_by_label("Per page").select_option("25")
    page.get_by_role("button", name="Apply").click()
    expect(devices).to_have_count(25)
    # The failed row is not a device: it stays with its order.
    expect(page.locator("nav.pager")).to_contain_text("Page 1 of 2 · 30 in all")
    page.get_by_role("link", name="Next →").click()
    expect(devices).to_have_count(5)

    page.get_by_label("State").select_option("ready_for_user")
    page.get_by_label("Search").fill(serials[3])
    page.get_by_role("button", name="Apply").click()
    expect(devices).to_have_count(1)
    expect(devices.locator(".state")).to_have_attribute(
        "title", "Registered to your organisation and waiting for its user."
    )
    screenshot(page, "devices-filtered")

    page.get_by_role("link", name="Clear").click()
    page.get_by_label("Search").fill(serials[7])
    page.get_by_role("button", name="Apply").click()
    expect(devices).to_have_count(1)
    expect(devices).to_contain_text(serials[7])

    page.get_by_role("link", name="Clear").click()
    page.get_by_role("link", name="Serial number").click()
    expect(devices.first).to_contain_text(serials[0])
    page.get_by_role("link", name="Serial number ↑").click()
    expect(devices.first).to_contain_text(serials[-1])  # rows without a serial stay last
    screenshot(page, "devices")


def test_customer_pages_through_the_devices_by_cursor(api, world, people, open_portal, run_worker):
    """Five pages of devices sorted by serial number, each "Next" read after
    the cursor of the page before: every device once, in order; the sort and
    the filters still apply from any page, and "First" leads back."""
    tenant = world.tenant()
    serials = sorted(unique("CUR") for _ in range(110))
    response = api.post(
        "/v1/customer/orders",
        token=tenant.token,
        json={"order_id": "PO-CURSOR", "devices": [device(s) for s in serials]},
    )
    wait_for_order(api, tenant.token, response.headers["Location"], run_worker)
    page = open_portal(people("tenant", tenant))
    nav(page, "Devices").click()  # the start page is the overview

    devices = page.locator("table.devices tbody tr")
    page.get_by_label("Sort").select_option("serial_number")
    page.get_by_label("Per page").select_option("25")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("nav.pager")).to_contain_text("Page 1 of 5 · 110 in all")
    seen = [devices.nth(i).get_attribute("data-serial") for i in range(25)]
    for number in range(2, 6):
        page.get_by_role("link", name="Next →").click()
        expect(page.locator("nav.pager span")).to_have_text(f"Page {number}")
        assert "cursor=" in page.url
        expect(devices).to_have_count(25 if number < 5 else 10)
        seen += [devices.nth(i).get_attribute("data-serial") for i in range(devices.count())]
    assert seen == serials
    expect(page.get_by_role("link", name="Next →")).to_have_count(0)
    expect(page.get_by_role("link", name="← Previous")).to_have_count(1)

    # From a page read by cursor: another sort starts again at its first page.
    page.get_by_role("link", name="Serial number ↑").click()
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(devices.first).to_contain_text(serials[-1])
    expect(page.locator("nav.pager")).to_contain_text("Page 1 of 5 · 110 in all")
    page.get_by_role("link", name="Next →").click()
    page.get_by_role("link", name="Next →").click()
    expect(devices.first).to_contain_text(serials[-51])
    page.get_by_role("link", name="« First").click()
    expect(devices.first).to_contain_text(serials[-1])
    screenshot(page, "devices-by-cursor")


def test_partner_asks_customer_approves_partner_orders(
    world, people, open_portal, worker_process, tmp_path
):
    partner, tenant = world.partner(), world.tenant()
    partner_page = open_portal(people("partner", partner))
    expect(partner_page).to_have_url(re.compile(r"/portal/overview$"))
    nav(partner_page, "Customers").click()
    partner_page.get_by_label("Customer's tenant ID").fill(str(tenant.id))
    partner_page.get_by_role("button", name="Send request").click()
    expect(partner_page.get_by_text("Relationship request sent: pending")).to_be_visible()

    customer_page = open_portal(people("tenant", tenant))
    nav(customer_page, "Relationships").click()
    row = customer_page.locator("table tbody tr")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("relationship-status")).to_have_text("pending")
    screenshot(customer_page, "relationships")
    row.get_by_role("button", name="Approve").click()
    expect(customer_page.get_by_text("relationship active")).to_be_visible()
    expect(row.get_by_test_id("relationship-status")).to_have_text("active")

    partner_page.reload()
    screenshot(partner_page, "customers")
    partner_page.get_by_role("link", name="Submit order").click()
    expect(partner_page.get_by_role("heading")).to_contain_text("New order for")
    serials = [unique("SN") for _ in range(2)]
    partner_page.get_by_label("CSV file").set_input_files(
        _csv_file("order.csv", "partner", [*serials, serials[0]])
    )
    partner_page.get_by_label("Order ID").fill("PO-PARTNER-1")
    partner_page.get_by_role("button", name="Register devices").click()
    worker_process()
    expect(partner_page.get_by_test_id("order-status")).to_have_text(
        "completed with errors", timeout=60_000
    )
    expect(partner_page.locator("table.rows tbody tr").nth(2)).to_contain_text("duplicate_in_order")
    with partner_page.expect_download() as download:
        partner_page.get_by_role("link", name="Download failed rows (CSV)").click()
    saved = tmp_path / "failed.csv"
    download.value.save_as(saved)
    assert "duplicate_in_order" in saved.read_text(encoding="utf-8-sig")

    # The orders list leads back to it.
    nav(partner_page, "Orders").click()
    listed = partner_page.locator("table tbody tr", has_text="PO-PARTNER-1")
    expect(listed).to_contain_text("completed with errors")
    listed.get_by_role("link", name="PO-PARTNER-1").click()
    expect(partner_page.get_by_role("heading", name="Order PO-PARTNER-1")).to_be_visible()

    # The customer sees the partner's devices, registered by the partner.
    nav(customer_page, "Devices").click()
    expect(customer_page.locator(f'tr[data-serial="{serials[1]}"]')).to_contain_text("PO-PARTNER-1")


def test_support_looks_up_a_request_id(api, world, people, open_portal, run_worker):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    serial = unique("SN")
    response = world.submit(
        partner, tenant, [device(serial), {"hardware_hash": "T0Ebroken", "serial_number": "X-1"}]
    )
    order = wait_for_order(api, partner.token, response.headers["Location"], run_worker)

    page = open_portal(people("support"))
    expect(page).to_have_url(re.compile(r"/portal/requests$"))
    page.get_by_label("Request ID").fill("no-such-request")
    page.get_by_role("button", name="Look up").click()
    expect(page.get_by_role("alert")).to_contain_text("Nothing is recorded under the request ID")

    page.get_by_label("Request ID").fill(order["request_id"])
    page.get_by_role("button", name="Look up").click()
    trace = page.get_by_test_id("trace")
    expect(trace).to_contain_text(f"/v1/partner/customers/{tenant.id}/orders")
    expect(trace).to_contain_text("202")
    expect(trace).to_contain_text(order["id"])
    expect(trace).to_contain_text("hardware_hash_invalid")
    expect(trace).to_contain_text("X-1")
    screenshot(page, "request-lookup")

    nav(page, "Device lookup").click()
    page.get_by_label("Serial number").fill(serial)
    page.get_by_role("button", name="Look up").click()
    expect(page.locator("main")).to_contain_text("Ready for user")


def test_sign_in_refuses_a_wrong_password_and_sign_out_ends_the_session(
    world, people, open_portal, browser, base_url
):
    person = people("tenant", world.tenant())
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    page.goto("/portal/devices")
    expect(page).to_have_url(re.compile(r"/portal/sign-in\?next=/portal/devices"))
    screenshot(page, "sign-in")
    page.get_by_label("Email address").fill(person.email)
    page.get_by_label("Password").fill("wrong password!")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match an account")
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/portal/devices$"))
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.goto("/portal/devices")
    expect(page).to_have_url(re.compile(r"/portal/sign-in"))
    context.close()


# --- orders at the sizes partners and customers send -------------------------------------


def _write_order_file(path, lines: list[list[str]]) -> str:
    """A CSV file on disk (a 5,000-row file is about 20 MB: the browser reads
    it from disk rather than from a buffer sent over the wire)."""
    path.write_bytes(encode_csv(lines))
    return str(path)


def _hashed(fmt: str, serial: str) -> list[str]:
    return csv_row(
        fmt, serial=serial, hardware_hash=build_hardware_hash("Contoso", "Laptop 7", serial)
    )


def _download_failures(page, tmp_path, name: str) -> list[list[str]]:
    with page.expect_download() as download:
        page.get_by_role("link", name="Download failed rows (CSV)").click()
    saved = tmp_path / name
    download.value.save_as(saved)
    return list(csv.reader(saved.read_text(encoding="utf-8-sig").splitlines()))


def _fixed(fmt: str, failures: list[list[str]]) -> list[list[str]]:
    """What a clerk does with failures.csv: a fresh hash for each row whose hash
    was broken, the rest as they are (the error columns may stay)."""
    header, *rows = failures
    serial_column = header.index(
        "Serial Number" if fmt == "self_registration" else "Device Serial Number"
    )
    hash_column = header.index("Hardware Hash")
    fixed = [header]
    for row in rows:
        if row[-2] == "hardware_hash_invalid":
            row = list(row)
            row[hash_column] = build_hardware_hash("Contoso", "Laptop 7", row[serial_column])
        fixed.append(row)
    return fixed


def _follow_order(page, run_worker) -> None:
    """Run a real RQ worker until the order is final; the page follows by itself."""
    run_worker()
    expect(page.get_by_test_id("order-status")).to_have_text(
        re.compile("completed|completed with errors|failed"), timeout=120_000
    )


def test_customer_registers_300_devices_and_fixes_the_failed_rows(
    world, people, open_portal, run_worker, tmp_path
):
    tenant = world.tenant()
    page = open_portal(people("tenant", tenant), timezone_id="Europe/Stockholm")
    fmt = "self_registration"
    good = [unique("C300") for _ in range(280)]
    broken = [unique("BRK") for _ in range(12)]
    rows = [_hashed(fmt, s) for s in good]
    rows += [csv_row(fmt, serial=s, hardware_hash="T0Ebroken") for s in broken]
    rows += [_hashed(fmt, s) for s in good[:8]]  # the same devices again
    upload = _write_order_file(tmp_path / "pcs-300.csv", [CSV_HEADERS[fmt], *rows])

    nav(page, "Register devices").click()
    page.get_by_label("CSV file").set_input_files(upload)
    page.get_by_label("Order ID").fill("PO-300")
    page.get_by_role("button", name="Preview (dry run)").click()
    preview = page.get_by_test_id("preview")
    expect(preview).to_contain_text("300 rows")
    expect(preview).to_contain_text("280 would be accepted")
    expect(preview).to_contain_text("20 would fail")
    expect(preview.locator("tbody tr")).to_have_count(20)

    page.get_by_role("button", name="Register devices").click()
    expect(page.get_by_text("Order PO-300 accepted: 300 rows.")).to_be_visible()
    _follow_order(page, run_worker)
    expect(page.get_by_test_id("order-status")).to_have_text("completed with errors")
    expect(page.get_by_test_id("progress-text")).to_contain_text("280 registered · 20 failed")
    # The reader's zone, named, in the page's times.
    expect(page.get_by_test_id("time-zone")).to_have_text("Europe/Stockholm")
    expect(page.locator("#progress time").first).to_have_text(re.compile(r" CES?T$"))

    # Six pages of rows, followed to the end (each "Next" by cursor, not counted).
    rows_shown = page.locator("table.rows tbody tr")
    expect(page.locator("nav.pager")).to_contain_text("Page 1 of 6 · 300 in all")
    for number in range(2, 7):
        page.get_by_role("link", name="Next →").click()
        expect(page.locator("nav.pager span")).to_have_text(f"Page {number}")
    expect(rows_shown).to_have_count(50)
    expect(rows_shown.last).to_have_attribute("data-line", "301")
    expect(page.get_by_role("link", name="Next →")).to_have_count(0)

    # Each error's count leads to its rows.
    page.get_by_test_id("counts").get_by_role("link", name="duplicate_in_order").click()
    expect(rows_shown).to_have_count(8)
    expect(page.get_by_test_id("row-filter")).to_have_text("duplicate_in_order (8)")
    page.get_by_test_id("counts").get_by_role("link", name="hardware_hash_invalid").click()
    expect(rows_shown).to_have_count(12)
    page.get_by_role("link", name="Failed rows (20)").click()
    expect(rows_shown).to_have_count(20)
    screenshot(page, "order-failed-rows")

    # Fix the failed rows and send them again, as downloaded.
    failures = _download_failures(page, tmp_path, "failures-300.csv")
    assert len(failures) == 21
    nav(page, "Register devices").click()
    page.get_by_label("CSV file").set_input_files(
        _write_order_file(tmp_path / "fixed-300.csv", _fixed(fmt, failures))
    )
    page.get_by_label("Order ID").fill("PO-300-FIX")
    page.get_by_role("button", name="Register devices").click()
    _follow_order(page, run_worker)
    expect(page.get_by_test_id("order-status")).to_have_text("completed")
    expect(page.get_by_test_id("progress-text")).to_contain_text("12 registered · 8 failed")
    expect(page.get_by_test_id("counts")).to_contain_text("device_already_registered")

    # Every device once in the list, on its pages; no failed attempt among them.
    nav(page, "Devices").click()
    expect(page.locator("nav.pager")).to_contain_text("Page 1 of 6 · 292 in all")


def test_partner_follows_a_5000_row_order_the_customer_sees_it(
    world, people, open_portal, run_worker, tmp_path
):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    fmt = "partner"
    good = [unique("P5K") for _ in range(4_940)]
    broken = [unique("BRK") for _ in range(40)]
    rows = [_hashed(fmt, s) for s in good]
    rows[1000:1000] = [csv_row(fmt, serial=s, hardware_hash="T0Ebroken") for s in broken]
    rows += [_hashed(fmt, s) for s in good[:20]]
    assert len(rows) == 5_000
    upload = _write_order_file(tmp_path / "po-5000.csv", [CSV_HEADERS[fmt], *rows])

    page = open_portal(people("partner", partner))
    nav(page, "Customers").click()
    page.get_by_role("link", name="Submit order").click()
    page.get_by_label("CSV file").set_input_files(upload)
    page.get_by_label("Order ID").fill("PO-5000")
    page.get_by_role("button", name="Register devices").click()
    expect(page.get_by_text("Order PO-5000 accepted: 5,000 rows.")).to_be_visible(timeout=120_000)
    order_url = page.url
    _follow_order(page, run_worker)
    expect(page.get_by_test_id("progress-text")).to_contain_text(
        "5,000 of 5,000 rows processed (100%) · 4,940 registered · 60 failed"
    )

    # A hundred pages of rows: the next page, a far one, one past the end.
    expect(page.locator("nav.pager")).to_contain_text("Page 1 of 100 · 5,000 in all")
    page.get_by_role("link", name="Next →").click()
    expect(page.locator("table.rows tbody tr").first).to_have_attribute("data-line", "52")
    page.goto(order_url + "?page=21")
    expect(page.locator("table.rows tbody tr").nth(1)).to_contain_text("hardware_hash_invalid")
    page.goto(order_url + "?page=5000")
    expect(page.locator("nav.pager")).to_contain_text("Page 100 of 100")

    page.get_by_test_id("counts").get_by_role("link", name="hardware_hash_invalid").click()
    expect(page.locator("table.rows tbody tr")).to_have_count(40)
    failures = _download_failures(page, tmp_path, "failures-5000.csv")
    assert len(failures) == 61

    # The partner's orders list leads to it; so does the customer's.
    nav(page, "Orders").click()
    page.get_by_role("link", name="PO-5000").click()
    expect(page.get_by_role("heading", name="Order PO-5000")).to_be_visible()
    customer = open_portal(people("tenant", tenant))
    nav(customer, "Orders").click()
    customer.get_by_role("link", name="PO-5000").click()
    expect(customer.get_by_test_id("progress-text")).to_contain_text("4,940 registered · 60 failed")
    customer.get_by_role("link", name="Failed rows (60)").click()
    expect(customer.locator("table.rows tbody tr")).to_have_count(50)
    customer.get_by_role("link", name="Next →").click()
    expect(customer.locator("table.rows tbody tr")).to_have_count(10)
    nav(customer, "Devices").click()
    expect(customer.locator("nav.pager")).to_contain_text("Page 1 of 99 · 4,940 in all")

    # The partner fixes the broken rows and sends the failures file again.
    nav(page, "Customers").click()
    page.get_by_role("link", name="Submit order").click()
    page.get_by_label("CSV file").set_input_files(
        _write_order_file(tmp_path / "fixed-5000.csv", _fixed(fmt, failures))
    )
    page.get_by_role("button", name="Register devices").click()
    _follow_order(page, run_worker)
    expect(page.get_by_test_id("order-status")).to_have_text("completed")
    expect(page.get_by_test_id("progress-text")).to_contain_text("40 registered · 20 failed")


def test_customer_opens_a_device_page_from_the_list_and_exports(
    api, world, people, open_portal, run_worker, tmp_path
):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    serials = sorted(unique("SN") for _ in range(30))
    rows = [device(s, group_tag="Lab" if i % 2 else None) for i, s in enumerate(serials)]
    response = world.submit(partner, tenant, rows, order_id="PO-EXPORT")
    wait_for_order(api, partner.token, response.headers["Location"], run_worker)
    page = open_portal(people("tenant", tenant))
    nav(page, "Devices").click()  # the start page is the overview

    # Filtered and sorted, over more than one page.
    page.get_by_label("Search").fill("Lab")
    page.get_by_label("Sort").select_option("serial_number")
    page.get_by_label("Per page").select_option("25")
    page.get_by_role("button", name="Apply").click()
    lab = [s for i, s in enumerate(serials) if i % 2]
    expect(page.locator("table.devices tbody tr")).to_have_count(15)

    # The export keeps the filters and holds every matching device.
    with page.expect_download() as download:
        page.get_by_role("link", name="Export (CSV)").click()
    saved = tmp_path / "devices.csv"
    download.value.save_as(saved)
    table = list(csv.DictReader(saved.read_text(encoding="utf-8-sig").splitlines()))
    assert [row["Serial Number"] for row in table] == lab
    assert {row["Group Tag"] for row in table} == {"Lab"}

    # The serial opens the device page: its fields, state and history.
    page.get_by_role("link", name=lab[0]).click()
    expect(page).to_have_url(re.compile(r"/portal/devices/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(lab[0])
    fields = page.get_by_role("table", name="Device")
    expect(fields).to_contain_text("PO-EXPORT")
    expect(fields).to_contain_text("Lab")
    expect(page.get_by_test_id("state-meaning")).to_have_text(
        "Registered to your organisation and waiting for its user."
    )
    expect(page.locator("table.history tbody tr")).to_have_count(2)  # submitted, registered
    screenshot(page, "device-page")

    # Deregistered from its page, the history says so.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Deregister").click()
    expect(page.locator('table.history tr[data-event="deregistered"]')).to_have_count(1)


def test_customer_sees_partner_activity_and_manages_a_webhook(
    api, world, people, open_portal, run_worker
):
    from tests.events.receivers import Answer, Receiver

    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    response = world.submit(partner, tenant, [device(unique("SN"))], order_id="PO-ACTIVITY")
    wait_for_order(api, partner.token, response.headers["Location"], run_worker)

    page = open_portal(people("tenant", tenant))
    nav(page, "Activity").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.first).to_have_attribute("data-type", "order.completed")
    expect(rows.first).to_contain_text("Order PO-ACTIVITY: completed")
    page.get_by_label("Type").select_option("relationship.approved")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Relationship active")
    screenshot(page, "activity")

    receiver = Receiver(Answer(503, body=b"<script>alert(1)</script>"), Answer(200))
    try:
        nav(page, "Webhooks").click()
        page.get_by_label("URL (https)").fill(receiver.url)
        page.get_by_label("Description").fill("Our ERP")
        page.get_by_role("button", name="Add endpoint").click()
        secret = page.get_by_test_id("new-secret").locator("code.secret").inner_text()
        assert secret.startswith("whsec_")
        page.get_by_role("link", name=receiver.url).click()
        page.get_by_role("button", name="Send a ping").click()
        expect(page.get_by_text("Ping sent")).to_be_visible()
        run_worker()
        page.reload()
        expect(page.get_by_test_id("delivery-status")).to_have_text("succeeded")
        attempts = page.get_by_test_id("attempt")
        expect(attempts).to_have_count(2)
        expect(attempts.first).to_contain_text("503")
        # The receiver's answer is shown as text, never run.
        expect(attempts.first).to_contain_text("<script>alert(1)</script>")
        assert len({r.webhook_id for r in receiver.received}) == 1
        assert receiver.received[-1].verified(secret)["type"] == "ping"
        screenshot(page, "webhook-deliveries")

        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Rotate secret").click()
        rotated = page.get_by_test_id("new-secret").locator("code.secret").inner_text()
        assert rotated.startswith("whsec_") and rotated != secret
    finally:
        receiver.close()


def test_customer_reads_the_overview_and_follows_a_tile(api, world, people, open_portal):
    from tests.factories import registered_devices

    tenant = world.tenant()
    ids = registered_devices(tenant, 40)
    for device_id in ids[:12]:
        api.post(f"/v1/customer/devices/{device_id}/check-ins", token=tenant.token, json={})
    api.post(
        "/v1/customer/orders",
        token=tenant.token,
        json={"devices": [{"hardware_hash": "T0Ebroken"}] * 3},
    )
    page = open_portal(people("tenant", tenant))
    expect(page).to_have_url(re.compile(r"/portal/overview$"))
    expect(page.get_by_test_id("tile-devices")).to_contain_text("40")
    expect(page.get_by_test_id("tile-active")).to_contain_text("12")
    expect(page.get_by_test_id("tile-ready_for_user")).to_contain_text("28")
    chart = page.get_by_test_id("chart-registrations")
    expect(chart.locator("svg rect.bar")).to_have_count(30)
    expect(chart.locator("svg rect.bar").last).to_have_attribute("data-value", "40")
    screenshot(page, "overview")

    page.get_by_test_id("tile-active").click()
    expect(page).to_have_url(re.compile(r"/portal/devices\?state=active$"))
    expect(page.locator("table.devices tbody tr")).to_have_count(12)


def test_customer_deregisters_ticked_devices_in_one_action(
    api, world, people, open_portal, worker_process
):
    from tests.factories import registered_devices

    tenant = world.tenant()
    registered_devices(tenant, 30)
    page = open_portal(people("tenant", tenant))
    nav(page, "Devices").click()
    rows = page.locator("table.devices tbody tr")
    expect(rows).to_have_count(30)
    for n in range(4):
        rows.nth(n).get_by_role("checkbox").check()
    page.get_by_label("Action").select_option("deregister")
    page.get_by_role("button", name="Continue…").click()
    expect(page.get_by_test_id("bulk-summary")).to_contain_text("Deregister 4 devices")
    screenshot(page, "bulk-confirm")
    page.get_by_role("button", name="Deregister 4 devices").click()
    expect(page).to_have_url(re.compile(r"/portal/bulk-actions/[0-9a-f-]{36}$"))
    expect(page.get_by_test_id("bulk-status")).to_have_text("completed")
    expect(page.get_by_test_id("bulk-progress")).to_contain_text("4 of 4 devices done (100%)")
    expect(page.locator("tr[data-outcome=succeeded]")).to_have_count(4)
    screenshot(page, "bulk-results")

    # Every device that matches a filter: the confirmation counts them, a job acts.
    nav(page, "Devices").click()
    page.get_by_label("State").select_option("ready_for_user")
    page.get_by_role("button", name="Apply").click()
    page.get_by_label("All 26 that match this filter").check()
    page.get_by_label("Action").select_option("set_group_tag")
    page.get_by_role("button", name="Continue…").click()
    expect(page.get_by_test_id("bulk-summary")).to_contain_text("Give 26 devices")
    page.get_by_label("Group tag").fill("Floor-3")
    worker_process()
    page.get_by_role("button", name="Set group tag 26 devices").click()
    # The page follows the job's progress until it is done.
    expect(page.get_by_test_id("bulk-status")).to_have_text("completed")
    expect(page.get_by_test_id("bulk-progress")).to_contain_text("26 of 26 devices done")
    expect(page.locator("tr[data-outcome=succeeded]")).to_have_count(26)
