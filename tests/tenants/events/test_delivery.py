"""Delivery policy and signing, without a network: retries back off with
jitter and run out; a rotation signs with both secrets; addresses that are
not public are refused."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from tenants.events import addresses, delivery, endpoints
from tenants.events.sending import post

POLICY = delivery.Policy(
    retry_delays=(5, 300, 1800, 7200, 18000, 36000),
    timeout_seconds=10,
    disable_after=timedelta(days=3),
    allow_private=False,
)


def test_retries_back_off_with_jitter_then_run_out():
    for attempt, base in enumerate(POLICY.retry_delays, start=1):
        waits = {POLICY.next_delay(attempt) for _ in range(20)}
        assert all(0.8 * base <= wait <= 1.2 * base for wait in waits)
        assert len(waits) > 1  # jittered
    assert POLICY.next_delay(len(POLICY.retry_delays) + 1) is None


def test_two_secrets_sign_twice_and_either_verifies():
    old, new = endpoints.new_secret(), endpoints.new_secret()
    at = datetime.now(UTC)
    body = '{"id":"evt_1"}'
    headers = delivery.sign([new, old], "evt_1", at, body)
    assert headers["webhook-id"] == "evt_1"
    assert headers["webhook-timestamp"] == str(int(at.timestamp()))
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers) == {"id": "evt_1"}
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(endpoints.new_secret()).verify(body, headers)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fd00:ec2::254", False),  # a cloud metadata service on IPv6
        ("::ffff:192.168.1.1", False),
    ],
)
def test_which_addresses_are_public(address, public):
    assert addresses.is_public(ipaddress.ip_address(address)) is public


def test_a_refused_url_is_a_failed_attempt_with_no_connection():
    result = post("https://127.0.0.1:9/hooks", b"{}", {}, timeout=1, allow_private=False)
    assert not result.succeeded
    assert result.status_code is None
    assert "not public" in (result.error or "")
