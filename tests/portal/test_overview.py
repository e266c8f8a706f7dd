"""The overview over HTTP: its tiles equal the totals of the lists they link
to, its charts are SVG drawn on the server with a link on every bar, the
figures come from counters kept exact, and a partner sees its own rows."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

from tenants import db
from tenants.registration import overview
from tenants.scoping import Scope, scoped
from tests.factories import assert_counters_exact, device, registered_devices, unique
from tests.http import wait_for_order
from tests.portal.conftest import signed_in_session


def _tiles(html: str) -> dict[str, tuple[int, str | None]]:
    """Each tile's value and link, by its test id."""
    found = {}
    for match in re.finditer(
        r'<(?:a|div) class="tile[^"]*"(?: href="([^"]*)")? data-testid="tile-([a-z_-]+)"'
        r'[^>]*>\s*<span class="tile-value">([\d,]+)</span>',
        html,
    ):
        href, name, value = match.groups()
        found[name] = (int(value.replace(",", "")), unescape(href) if href else None)
    return found


def _bars(svg: str) -> list[tuple[str, int]]:
    """(link, value) of each bar of a chart."""
    return [
        (unescape(href), int(value))
        for href, value in re.findall(
            r'<a href="([^"]*)"[^>]*>\s*<title>[^<]*</title>\s*<rect [^>]*data-value="(\d+)"', svg
        )
    ]


def _list_total(http, base_url: str, href: str) -> int:
    page = http.get(base_url + href, timeout=30).text
    if "No device" in page:
        return 0
    pager = re.search(r"([\d,]+) in all", page)
    return int(pager.group(1).replace(",", ""))


def test_the_customers_tiles_match_the_lists_they_link_to(api, world, people, base_url):
    tenant = world.tenant()
    ids = registered_devices(tenant, 75)  # more than a page of the device list
    now = datetime.now(UTC)
    for device_id in ids[:20]:  # active
        api.post(
            f"/v1/customer/devices/{device_id}/check-ins",
            token=tenant.token,
            json={"seen_at": (now - timedelta(hours=2)).isoformat()},
        )
    for device_id in ids[20:30]:  # inactive
        api.post(
            f"/v1/customer/devices/{device_id}/check-ins",
            token=tenant.token,
            json={"seen_at": (now - timedelta(days=9)).isoformat()},
        )
    for device_id in ids[30:35]:
        api.delete(f"/v1/customer/devices/{device_id}", token=tenant.token)
    assert_counters_exact([tenant.id])

    http = signed_in_session(base_url, people("tenant", tenant))
    home = http.get(f"{base_url}/portal/", timeout=30)
    assert home.url.endswith("/portal/overview")  # the start page
    tiles = _tiles(home.text)
    assert tiles["devices"][0] == 75
    assert tiles["active"][0] == 20
    assert tiles["inactive"][0] == tiles["inactive-devices"][0] == 10
    assert tiles["ready_for_user"][0] == 40
    assert tiles["deregistered"][0] == 5
    assert tiles["orders-in-progress"][0] == 0
    for name in ("devices", "active", "inactive", "ready_for_user", "deregistered"):
        value, href = tiles[name]
        assert _list_total(http, base_url, href) == value, name

    # Charts: SVG from the server, every bar a link; today's registrations are the last bar.
    registrations = re.search(
        r'data-testid="chart-registrations">(.*?)</figure>', home.text, re.S
    ).group(1)
    assert "<svg" in registrations and "<script" not in home.text.split("<main>")[1]
    values = re.findall(r'class="bar[^"]*" data-value="(\d+)"', registrations)
    assert len(values) == overview.CHART_DAYS and values[-1] == "75"
    assert registrations.count("<a href=") == overview.CHART_DAYS
    inactive = re.search(r'data-testid="chart-going-inactive">(.*?)</figure>', home.text, re.S)
    assert sum(int(v) for v in re.findall(r'data-value="(\d+)"', inactive.group(1))) == 30
    # Each bar links to the devices it counts: registered that day, or last
    # seen a window before the day they went (or go) inactive.
    for chart in (registrations, inactive.group(1)):
        bars = [(href, value) for href, value in _bars(chart) if value]
        assert bars
        for href, value in bars:
            assert _list_total(http, base_url, href) == value, href


def test_failures_this_week_and_a_partners_overview(api, world, people, base_url, run_worker):
    partner, tenant = world.partner(), world.tenant()
    world.approved(partner, tenant)
    response = world.submit(
        partner,
        tenant,
        [device(unique("SN")) for _ in range(3)] + [{"hardware_hash": "T0Ebroken"}] * 2,
        order_id=unique("PO"),
    )
    wait_for_order(api, partner.token, response.headers["Location"], run_worker)
    with scoped(Scope.partner(partner.id)), db.transaction() as session:
        seen = overview.overview(session, split_active=False)
    assert seen.failures_this_week == {"hardware_hash_invalid": 2}
    assert seen.failures_by_code == {"hardware_hash_invalid": 2}
    assert seen.by_state == {"ready_for_user": 3}

    http = signed_in_session(base_url, people("partner", partner))
    page = http.get(f"{base_url}/portal/", timeout=30)
    assert page.url.endswith("/portal/overview")
    tiles = _tiles(page.text)
    assert tiles["devices"][0] == 3 and tiles["failures-this-week"][0] == 2
    assert tiles["devices"][1] == "/portal/orders"  # partners' lists are their orders
    assert "hardware_hash_invalid</a>: 2" in page.text
    assert "chart-going-inactive" not in page.text

    # The customer sees the same devices; another customer sees none of them.
    other = signed_in_session(base_url, people("tenant", world.tenant()))
    assert _tiles(other.get(f"{base_url}/portal/overview", timeout=30).text)["devices"][0] == 0
