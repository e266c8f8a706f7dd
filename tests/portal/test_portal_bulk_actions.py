"""Bulk actions from the portal's device list, over HTTP: tick devices or
take every device a filter matches, confirm once (the page says how many),
follow the action's progress and read what it did to each device."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from tests.factories import assert_counters_exact, device_states, registered_devices
from tests.portal.conftest import csrf_token, signed_in_session


def _post(http, base_url: str, data: dict, **kwargs):
    token = csrf_token(http.get(f"{base_url}/portal/devices", timeout=30).text)
    return http.post(
        f"{base_url}/portal/devices/bulk", data={"csrf_token": token, **data}, timeout=60, **kwargs
    )


def test_every_device_a_filter_matches_is_deregistered_after_one_confirmation(
    world, people, base_url, run_worker
):
    tenant = world.tenant()
    ids = registered_devices(tenant, 130)  # three pages of 50
    http = signed_in_session(base_url, people("tenant", tenant))
    listed = http.get(f"{base_url}/portal/devices?state=ready_for_user", timeout=30).text
    assert listed.count('name="ids"') == 50
    assert "All 130 that match this filter" in listed

    confirm = _post(
        http, base_url, {"selection": "filter", "state": "ready_for_user", "action": "deregister"}
    )
    assert confirm.status_code == 200
    assert "Deregister: 130 devices?" in confirm.text
    assert set(device_states(ids).values()) == {"ready_for_user"}  # nothing yet

    done = _post(
        http,
        base_url,
        {
            "selection": "filter",
            "state": "ready_for_user",
            "action": "deregister",
            "confirmed": "yes",
        },
        allow_redirects=False,
    )
    assert done.status_code == 302
    page_path = urlsplit(done.headers["Location"]).path
    assert re.fullmatch(r"/portal/bulk-actions/[0-9a-f-]{36}", page_path)
    queued = http.get(base_url + page_path, timeout=30).text
    assert 'data-poll="' in queued and "0 of 130 devices done" in queued

    run_worker()
    page = http.get(base_url + page_path, timeout=30).text
    assert "130 of 130 devices done (100%)" in page and "completed" in page
    assert page.count('data-outcome="succeeded"') == 100  # a page of results
    second = http.get(f"{base_url}{page_path}?page=2", timeout=30).text
    assert second.count('data-outcome="succeeded"') == 30
    assert set(device_states(ids).values()) == {"deregistered"}
    assert_counters_exact([tenant.id])


def test_ticked_devices_get_a_group_tag_and_foreign_ids_are_not_found(world, people, base_url):
    tenant, other = world.tenant(), world.tenant()
    mine, theirs = registered_devices(tenant, 4), registered_devices(other, 1)
    http = signed_in_session(base_url, people("tenant", tenant))
    picked = {"selection": "ids", "ids": [*mine[:2], *theirs], "action": "set_group_tag"}
    confirm = _post(http, base_url, picked)
    assert "Set group tag: 3 devices?" in confirm.text
    done = _post(http, base_url, {**picked, "group_tag": "Lab", "confirmed": "yes"})
    assert done.status_code == 200
    assert "3 of 3 devices done (100%)" in done.text
    assert done.text.count('data-outcome="succeeded"') == 2
    assert done.text.count('data-outcome="failed"') == 1 and "not_found" in done.text
    assert set(device_states(theirs).values()) == {"ready_for_user"}

    # Nothing ticked: back to the list, with what to do.
    empty = _post(http, base_url, {"selection": "ids", "action": "deregister"})
    assert "Select devices first" in empty.text
