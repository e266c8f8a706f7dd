"""SSRF safety: webhook URLs are https on public addresses, checked when an
endpoint is made and again against the address each delivery connects to;
redirects are never followed."""

from __future__ import annotations

import ipaddress

import pytest

from tenants.events import addresses
from tests.events.receivers import Answer
from tests.http import assert_problem


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",  # http, and loopback
        "http://example.com/hooks",  # http
        "https://127.0.0.1/hooks",
        "https://localhost/hooks",
        "https://[::1]/hooks",
        "https://10.1.2.3/hooks",
        "https://192.168.0.10/hooks",
        "https://172.16.5.4/hooks",
        "https://169.254.169.254/latest/meta-data",  # cloud metadata (link-local)
        "https://[fe80::1]/hooks",
        "https://224.0.0.1/hooks",  # multicast
        "https://0.0.0.0/hooks",
        "https://100.64.0.1/hooks",  # shared address space (carrier NAT)
        "https://[::ffff:127.0.0.1]/hooks",  # loopback, as IPv6
        "https://user:pass@8.8.8.8/hooks",
        "ftp://8.8.8.8/hooks",
    ],
)
def test_private_and_local_urls_are_refused_without_the_setting(serve, api, world, url):
    strict = serve(webhook_allow_private=False)
    tenant = world.tenant()
    response = api.http.post(
        f"{strict}/v1/customer/webhooks",
        json={"url": url},
        headers={"Authorization": f"Bearer {tenant.token}"},
        timeout=30,
    )
    body = assert_problem(response, 422, "webhook_url_refused")
    assert body["errors"]["url"]


def test_a_public_address_is_accepted():
    assert addresses.check_url("https://8.8.8.8/hooks", allow_private=False)
    assert addresses.is_public(ipaddress.ip_address("2001:4860:4860::8888"))
    assert not addresses.is_public(ipaddress.ip_address("::ffff:10.0.0.1"))


def test_the_address_is_checked_again_at_delivery(api, world, run_worker, receivers, monkeypatch):
    tenant = world.tenant()
    receiver = receivers()
    hook = api.post("/v1/customer/webhooks", token=tenant.token, json={"url": receiver.url})
    hook = hook.json()
    # The workers are configured for production: the local receiver is refused.
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE", "0")
    api.post(f"/v1/customer/webhooks/{hook['id']}/ping", token=tenant.token)
    run_worker()
    assert receiver.received == []
    [logged] = api.get(f"/v1/customer/webhooks/{hook['id']}/deliveries", token=tenant.token).json()
    assert logged["status"] == "failed"
    assert all(a["status_code"] is None for a in logged["attempts"])
    assert "https" in logged["attempts"][0]["error"]


def test_a_redirect_to_a_private_address_is_not_followed(api, world, run_worker, receivers):
    tenant = world.tenant()
    inside = receivers()
    outside = receivers(Answer(307, headers={"Location": inside.url}))
    hook = api.post("/v1/customer/webhooks", token=tenant.token, json={"url": outside.url})
    hook = hook.json()
    api.post(f"/v1/customer/webhooks/{hook['id']}/ping", token=tenant.token)
    run_worker()
    assert inside.received == []
    assert len(outside.received) >= 1
    [logged] = api.get(f"/v1/customer/webhooks/{hook['id']}/deliveries", token=tenant.token).json()
    first = logged["attempts"][0]
    assert first["status_code"] == 307
    assert first["succeeded"] is False
    assert "redirect" in first["error"]
