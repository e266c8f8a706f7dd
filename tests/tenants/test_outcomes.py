"""Registration outcomes: every error code has its message, and a device's
state as people see it (active, inactive) is derived the same way in Python
and in SQL."""

from __future__ import annotations

import string
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tenants import db, outcomes
from tenants.models import Registration, utcnow
from tenants.scoping import unscoped
from tests.factories import device, new_tenant, process, registrations, submit


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_error_code_has_a_message_and_says_what_it_needs():
    assert set(outcomes.ERROR_CODES) == set(outcomes.MESSAGES)
    needs = {code: placeholders(text) for code, text in outcomes.MESSAGES.items()}
    assert needs == {
        **dict.fromkeys(outcomes.ERROR_CODES, set()),
        outcomes.HARDWARE_HASH_INVALID: {"detail"},
        outcomes.GROUP_TAG_INVALID: {"detail"},
        outcomes.UNEXPECTED_ERROR: {"request_id"},
    }


def test_messages_are_filled_with_their_values():
    assert outcomes.message(outcomes.UNEXPECTED_ERROR, request_id="req-1").endswith(
        "provide the request ID: req-1"
    )
    assert outcomes.message(outcomes.GROUP_TAG_INVALID, detail="too long") == (
        "The group tag is not one this service accepts: too long."
    )
    assert (
        outcomes.message(outcomes.CLAIMED_ELSEWHERE)
        == outcomes.MESSAGES[outcomes.CLAIMED_ELSEWHERE]
    )


def test_a_duplicates_message_names_the_first_row():
    base = outcomes.message(outcomes.DUPLICATE_IN_ORDER)

    assert outcomes.duplicate_message("pcs.csv", 12) == f"{base} (First seen on pcs.csv, line 12.)"
    assert outcomes.duplicate_message(None, 3) == f"{base} (First seen on line 3.)"


def test_only_the_registered_states_count_as_the_tenants_device():
    assert set(outcomes.REGISTERED_STATES) == {outcomes.READY, outcomes.ACTIVE, outcomes.INACTIVE}
    assert set(outcomes.REGISTERED_STATES) < set(outcomes.STATES)
    assert outcomes.SUCCESS_ERROR_CODES == (outcomes.ALREADY_REGISTERED,)


@pytest.mark.parametrize(
    ("state", "seen_ago", "shown"),
    [
        (outcomes.READY, None, outcomes.READY),
        (outcomes.READY, timedelta(0), outcomes.ACTIVE),
        (outcomes.READY, outcomes.ACTIVE_WINDOW, outcomes.ACTIVE),
        (outcomes.READY, outcomes.ACTIVE_WINDOW + timedelta(seconds=1), outcomes.INACTIVE),
        (outcomes.DEREGISTERED, timedelta(0), outcomes.DEREGISTERED),
        (outcomes.FAILED, None, outcomes.FAILED),
        (outcomes.PENDING, None, outcomes.PENDING),
    ],
)
def test_a_registered_device_is_active_while_it_checks_in(state, seen_ago, shown):
    now = utcnow()
    seen = None if seen_ago is None else now - seen_ago

    assert outcomes.effective_state(state, seen, now) == shown


@pytest.mark.usefixtures("settings")
def test_the_sql_expression_agrees_with_python_on_stored_rows():
    tenant = new_tenant()
    result = submit(tenant, [device() for _ in range(5)] + [{"hardware_hash": "junk"}])
    process(result)
    rows = registrations(result.order.id)
    now = utcnow()
    window = outcomes.ACTIVE_WINDOW
    seen = [None, now, now - window, now - window - timedelta(minutes=1), now]
    states = [outcomes.READY] * 4 + [outcomes.DEREGISTERED]
    with unscoped("test: set check-ins"), db.transaction() as session:
        for row, last_seen, state in zip(rows, seen, states, strict=False):
            session.execute(
                update(Registration)
                .where(Registration.id == row.id)
                .values(last_seen_at=last_seen, state=state)
            )

    with unscoped("test: read states"), db.transaction() as session:
        by_sql = dict(
            session.execute(
                select(Registration.id, outcomes.effective_state_sql(now)).where(
                    Registration.order_pk == result.order.id
                )
            ).all()
        )
    by_python = {
        row.id: outcomes.effective_state(row.state, row.last_seen_at, now)
        for row in registrations(result.order.id)
    }

    assert by_sql == by_python
    assert [by_python[row.id] for row in rows] == [
        outcomes.READY,
        outcomes.ACTIVE,
        outcomes.ACTIVE,
        outcomes.INACTIVE,
        outcomes.DEREGISTERED,
        outcomes.FAILED,
    ]
