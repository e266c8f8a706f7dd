"""Group tags: any printable tag by default; a customer held to a list gets
only those, and a near miss is told the right one."""

from __future__ import annotations

import uuid

import pytest

from tenants import db
from tenants.errors import NotFound
from tenants.ingest import group_tags
from tenants.ingest.group_tags import MANAGED_DESKTOP_TAGS, GroupTagPolicy
from tenants.models import Tenant
from tests.factories import new_tenant

ANY = GroupTagPolicy()
MANAGED = GroupTagPolicy(allowed=MANAGED_DESKTOP_TAGS)


@pytest.mark.parametrize("tag", [None, "Sales", "sales", "Ä-Team 7", "x" * 128])
def test_by_default_any_printable_tag_is_taken_as_given(tag):
    assert ANY.problem(tag) is None


@pytest.mark.parametrize("tag", ["Sales\nTeam", "Sales\tTeam", "\x00", "Sales\u200b"])
def test_a_tag_with_invisible_characters_is_refused(tag):
    assert ANY.problem(tag) == f"{tag!r} contains characters that are not printable text"


def test_the_length_limit_is_the_policys():
    assert ANY.problem("x" * 129) == "it is 129 characters long; at most 128 are accepted"
    assert GroupTagPolicy(max_length=5).problem("x" * 6) == (
        "it is 6 characters long; at most 5 are accepted"
    )
    assert GroupTagPolicy(max_length=5).problem("x" * 5) is None


def test_a_strict_list_takes_exactly_its_tags():
    for tag in MANAGED_DESKTOP_TAGS:
        assert MANAGED.problem(tag) is None
    assert MANAGED.problem(None) is None


def test_a_tag_in_the_wrong_letter_case_is_told_the_right_one():
    assert MANAGED.problem("microsoft365managed_kiosk") == (
        "'microsoft365managed_kiosk' differs from 'Microsoft365Managed_Kiosk' in letter case; "
        "use 'Microsoft365Managed_Kiosk'"
    )


@pytest.mark.parametrize(
    ("tag", "meant"),
    [
        ("Microsoft365Managed Kiosk", "Microsoft365Managed_Kiosk"),
        ("Microsoft365Managed-Kiosk-Shared", "Microsoft365Managed_Kiosk-Shared"),
        ("microsoft365managedpoweruser", "Microsoft365Managed_PowerUser"),
    ],
)
def test_a_tag_that_differs_in_spaces_and_dashes_is_told_the_one_meant(tag, meant):
    assert MANAGED.problem(tag) == f"{tag!r} is not accepted; did you mean {meant!r}?"


def test_another_tag_is_told_the_whole_list():
    problem = GroupTagPolicy(allowed=("Sales", "Lab")).problem("Kiosk")

    assert problem == "'Kiosk' is not accepted for this customer, which allows only: Sales, Lab"


# --- a tenant's list, stored -------------------------------------------------------------------


def policy_of(tenant_id) -> GroupTagPolicy:
    with db.transaction() as session:
        return group_tags.policy_for(session, tenant_id)


def set_tags(tenant_id, tags: tuple[str, ...]) -> None:
    with db.transaction() as session:
        group_tags.set_allowed_tags(session, tenant_id, tags)


@pytest.mark.usefixtures("settings")
def test_a_tenant_accepts_any_tag_until_held_to_a_list():
    tenant = new_tenant()
    assert policy_of(tenant.id) == GroupTagPolicy()

    # Trimmed, duplicates and blanks dropped, in the order given.
    set_tags(tenant.id, (" Sales ", "Lab", "Sales", "  ", ""))

    assert policy_of(tenant.id).allowed == ("Sales", "Lab")
    assert policy_of(tenant.id).problem("Kiosk") is not None
    set_tags(tenant.id, ())
    assert policy_of(tenant.id) == GroupTagPolicy()


@pytest.mark.usefixtures("settings")
def test_each_tenant_has_its_own_list():
    held, free = new_tenant(), new_tenant()

    set_tags(held.id, ("Sales",))

    assert policy_of(held.id).allowed == ("Sales",)
    assert policy_of(free.id).allowed == ()


@pytest.mark.usefixtures("settings")
def test_a_list_with_a_tag_no_order_could_carry_is_refused_and_nothing_changes():
    tenant = new_tenant()
    set_tags(tenant.id, ("Sales",))

    with pytest.raises(ValueError, match="cannot be allowed"):
        set_tags(tenant.id, ("Lab", "x" * 129))
    with pytest.raises(ValueError, match="not printable"):
        set_tags(tenant.id, ("Lab\x00",))

    assert policy_of(tenant.id).allowed == ("Sales",)
    with db.transaction() as session:
        assert session.get(Tenant, tenant.id).group_tags == "Sales"


@pytest.mark.usefixtures("settings")
def test_an_unknown_tenant_has_no_list_and_cannot_be_given_one():
    unknown = uuid.uuid4()

    assert policy_of(unknown) == GroupTagPolicy()
    with pytest.raises(NotFound):
        set_tags(unknown, ("Sales",))


@pytest.mark.usefixtures("settings")
def test_the_policy_carries_the_configured_length_limit():
    tenant = new_tenant()
    set_tags(tenant.id, ("Sales",))

    with db.transaction() as session:
        policy = group_tags.policy_for(session, tenant.id, max_length=3)

    assert policy.problem("Sales") == "it is 5 characters long; at most 3 are accepted"
