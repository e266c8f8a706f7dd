"""Sessions: work after COMMIT runs only once the data is durable, and
``one_of`` selects from any number of values."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from tenants import db
from tenants.models import Partner
from tests.factories import new_partner

pytestmark = pytest.mark.usefixtures("settings")


def test_after_commit_work_runs_in_order_once_committed():
    ran: list[str] = []
    with db.transaction() as session:
        partner = Partner(name="after-commit")
        session.add(partner)
        db.after_commit(session, lambda: ran.append("first"))
        db.after_commit(session, lambda: ran.append("second"))
        session.flush()
        assert ran == []

    assert ran == ["first", "second"]


def test_after_commit_work_is_dropped_on_rollback():
    ran: list[str] = []
    partner_id = uuid.uuid4()
    with pytest.raises(RuntimeError):
        with db.transaction() as session:
            session.add(Partner(id=partner_id, name="rolled back"))
            db.after_commit(session, lambda: ran.append("enqueue"))
            raise RuntimeError("the request failed")

    assert ran == []
    with db.transaction() as session:
        assert session.get(Partner, partner_id) is None
        # A later commit on a new session does not run the dropped work either.
        session.add(Partner(name="later"))
    assert ran == []


def test_a_failing_after_commit_callback_keeps_the_commit_and_the_others():
    ran: list[str] = []
    partner_id = uuid.uuid4()

    def unreachable_redis() -> None:
        raise ConnectionError("Redis is down")

    with db.transaction() as session:
        session.add(Partner(id=partner_id, name="committed anyway"))
        db.after_commit(session, unreachable_redis)
        db.after_commit(session, lambda: ran.append("next"))

    assert ran == ["next"]
    with db.transaction() as session:
        assert session.get(Partner, partner_id).name == "committed anyway"


def test_one_of_selects_exactly_the_rows_among_thousands_of_values():
    partners = [new_partner() for _ in range(3)]
    wanted = {p.id for p in partners}
    values = [uuid.uuid4() for _ in range(5_000)] + list(wanted)

    with db.transaction() as session:
        found = set(
            session.scalars(select(Partner.id).where(db.one_of(session, Partner.id, values)))
        )
        none = session.scalars(select(Partner.id).where(db.one_of(session, Partner.id, []))).all()

    assert found == wanted
    assert none == []
