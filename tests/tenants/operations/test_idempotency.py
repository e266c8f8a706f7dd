"""Idempotency keys: the first response comes back for the same principal,
key and request; anything else is a new key, a refusal, or expired."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from tenants import db
from tenants.errors import InputError
from tenants.models import IdempotencyKey
from tenants.operations import idempotency
from tenants.operations.idempotency import StoredResponse

pytestmark = pytest.mark.usefixtures("settings")

DAY = timedelta(hours=24)
ACCEPTED = StoredResponse(202, '{"id": "order-1"}', "/v1/partner/orders/order-1")


def principal() -> str:
    return f"partner:{uuid.uuid4()}"


def remember(who: str, key: str, fingerprint: str = "f1", *, ttl=DAY, response=ACCEPTED):
    with db.transaction() as session:
        idempotency.remember(
            session, who, key, fingerprint, response, request_id=f"req-{key}", ttl=ttl
        )


def find(who: str, key: str, fingerprint: str = "f1") -> StoredResponse | None:
    with db.transaction() as session:
        return idempotency.find(session, who, key, fingerprint)


def stored(who: str, key: str) -> IdempotencyKey | None:
    with db.transaction() as session:
        return session.get(IdempotencyKey, (who, key))


@pytest.mark.parametrize(
    "key", ["a", "3f2c9a7e-0d1b-4b6c-9a55-7c1f0e2d4b10", "~!#$%&'*+^`|", "k" * 200]
)
def test_visible_ascii_keys_up_to_200_characters_are_taken(key):
    assert idempotency.check_key(key) == key


@pytest.mark.parametrize(
    "key", ["", "k" * 201, "with space", "tab\tinside", "naïve", "line\n", "\x7f"]
)
def test_other_keys_are_refused_naming_the_header(key):
    with pytest.raises(InputError) as refusal:
        idempotency.check_key(key)
    assert (refusal.value.code, refusal.value.field) == (
        "idempotency_key_invalid",
        "Idempotency-Key",
    )


def test_the_first_response_is_found_again_for_the_same_request():
    who = principal()
    assert find(who, "key-1") is None

    remember(who, "key-1")

    assert find(who, "key-1") == ACCEPTED
    assert find(who, "key-1") == ACCEPTED  # as often as asked


def test_a_key_used_for_another_request_is_refused_naming_the_first():
    who = principal()
    remember(who, "key-1", "body-a")

    with pytest.raises(InputError) as refusal:
        find(who, "key-1", "body-b")

    assert refusal.value.code == "idempotency_key_reused"
    assert "req-key-1" in refusal.value.message
    assert find(who, "key-1", "body-a") == ACCEPTED  # the first one still stands


def test_keys_belong_to_their_principal():
    first, second = principal(), principal()
    remember(first, "shared-key", "body-a")

    # Another principal's key of the same name is no key of this one, whatever it was for.
    assert find(second, "shared-key", "body-b") is None
    other = StoredResponse(202, '{"id": "order-2"}', "/v1/partner/orders/order-2")
    remember(second, "shared-key", "body-b", response=other)
    assert find(second, "shared-key", "body-b") == other
    assert find(first, "shared-key", "body-a") == ACCEPTED


def test_the_same_key_remembered_twice_fails_at_the_database():
    who = principal()
    remember(who, "key-1")

    with pytest.raises(IntegrityError):
        remember(who, "key-1")
    assert find(who, "key-1") == ACCEPTED


def test_an_expired_key_is_forgotten_and_may_be_used_again():
    who = principal()
    remember(who, "old", "body-a", ttl=timedelta(seconds=-1))

    # Even for another request: the key no longer exists.
    assert find(who, "old", "body-b") is None
    assert stored(who, "old") is None
    remember(who, "old", "body-b")
    assert find(who, "old", "body-b") == ACCEPTED


def test_purge_removes_the_expired_keys_only():
    who = principal()
    remember(who, "expired-1", ttl=timedelta(seconds=-1))
    remember(who, "expired-2", ttl=timedelta(seconds=-60))
    remember(who, "live")

    with db.transaction() as session:
        purged = idempotency.purge_expired(session)

    assert purged >= 2  # other tests' expired keys may go too
    assert stored(who, "expired-1") is None and stored(who, "expired-2") is None
    assert stored(who, "live") is not None
    with db.transaction() as session:
        assert idempotency.purge_expired(session) == 0
