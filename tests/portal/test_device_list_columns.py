"""The denser device list: a column picker remembered for each person, the
state's meaning once (a tooltip and a legend, not on every row), and the
total from the counters."""

from __future__ import annotations

import re

from tenants.outcomes import STATE_MEANINGS
from tests.factories import registered_devices
from tests.portal.conftest import csrf_token, signed_in_session


def _headings(html: str) -> list[str]:
    head = re.search(r"<thead>(.*?)</thead>", html, re.S).group(1)
    cells = re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)
    return [re.sub(r"<[^>]+>|[↑↓]", "", c).strip() for c in cells if "sr-only" not in c]


def test_columns_are_chosen_once_and_kept_for_that_person(api, world, people, base_url):
    tenant = world.tenant()
    ids = registered_devices(tenant, 60)
    api.delete(f"/v1/customer/devices/{ids[0]}", token=tenant.token)
    person = people("tenant", tenant)
    http = signed_in_session(base_url, person)
    devices = f"{base_url}/portal/devices"

    page = http.get(devices, timeout=30).text
    assert _headings(page) == [
        "Serial number",
        "Manufacturer",
        "Model",
        "State",
        "Registered by",
        "Order ID",
        "Last seen",
        "Age",
    ]
    # The total, every page's; the meaning once per state, not once per row.
    assert re.search(r'data-testid="device-total">Devices: <strong>60</strong>', page)
    meaning = STATE_MEANINGS["ready_for_user"]
    assert page.count(f"<dd>{meaning}</dd>") == 1
    # Elsewhere only as the badges' tooltip.
    assert page.count(meaning) == page.count(f'title="{meaning}"') + 1 > 40
    filtered = http.get(f"{devices}?state=deregistered", timeout=30).text
    assert re.search(
        r'device-total">Devices that match these filters: <strong>1</strong>', filtered
    )

    chosen = http.get(
        devices,
        params={
            "state": "ready_for_user",
            "columns_chosen": "1",
            "columns": ["group_tag", "assigned_user", "purchase_id"],
        },
        allow_redirects=False,
        timeout=30,
    )
    assert chosen.status_code == 302
    assert chosen.headers["Location"].endswith("/portal/devices?state=ready_for_user")
    page = http.get(devices, timeout=30).text
    assert _headings(page) == [
        "Serial number",
        "Manufacturer",
        "Model",
        "State",
        "Group tag",
        "Purchase ID",
        "Assigned user",
        "Order ID",
        "Age",
    ]
    assert "Last seen</a>" not in page

    # Another person in the same browser starts from the default columns.
    other = people("tenant", tenant)
    http.post(
        f"{base_url}/portal/sign-out",
        data={"csrf_token": csrf_token(page)},
        timeout=30,
    )
    sign_in = http.get(f"{base_url}/portal/sign-in", timeout=30).text
    http.post(
        f"{base_url}/portal/sign-in",
        data={"csrf_token": csrf_token(sign_in), "email": other.email, "password": other.password},
        timeout=30,
    )
    assert "Registered by" in _headings(http.get(devices, timeout=30).text)
