"""API clients: secrets kept only as slow salted hashes, each client bound to
one principal, rotation and revocation taking effect at once."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from tenants import db
from tenants.access import clients
from tenants.errors import InputError, NotFound
from tenants.models import ApiClient, AuditEvent
from tests.factories import new_partner, new_tenant, unique

pytestmark = pytest.mark.usefixtures("settings")

SCOPES = ("orders:write", "orders:read")


def stored(client_id: str) -> ApiClient:
    with db.transaction() as session:
        return session.scalars(select(ApiClient).where(ApiClient.client_id == client_id)).one()


def actions(client_id: str) -> list[str]:
    with db.transaction() as session:
        return list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.object_id == client_id)
                .order_by(AuditEvent.id)
            )
        )


def test_the_secret_is_shown_once_and_stored_only_as_a_salted_hash():
    partner = new_partner()
    first = clients.create_client("partner", scopes=SCOPES, partner_id=partner.id)
    second = clients.create_client("partner", scopes=SCOPES, partner_id=partner.id)

    row = stored(first.client_id)
    assert first.client_id.startswith("pa_") and first.client_id != second.client_id
    assert first.client_secret not in row.secret_hash
    assert row.secret_hash.startswith("scrypt:")
    assert row.secret_hash != stored(second.client_id).secret_hash
    assert clients.verify_secret(row, first.client_secret)
    assert not clients.verify_secret(row, second.client_secret)
    assert (row.principal_kind, row.partner_id, row.tenant_id, row.scopes) == (
        "partner",
        partner.id,
        None,
        "orders:write orders:read",
    )


def test_a_secret_matches_only_a_hash_of_itself():
    hashed = clients.hash_secret("correct horse")

    assert clients.secret_matches(hashed, "correct horse")
    assert not clients.secret_matches(hashed, "correct horse ")
    assert not clients.secret_matches(hashed, "")
    assert not clients.secret_matches(hashed, None)
    assert not clients.secret_matches(None, "correct horse")
    assert not clients.secret_matches("", "")


def test_each_kind_belongs_to_its_own_principal_only():
    partner, tenant = new_partner(), new_tenant()
    ids = {"partner_id": partner.id, "tenant_id": tenant.id, "supplier_id": "OEM-1"}

    issued = {
        kind: clients.create_client(kind, scopes=("x",), **ids)
        for kind in ("partner", "tenant", "supplier", "support")
    }

    owners = {
        kind: (row.partner_id, row.tenant_id, row.supplier_id)
        for kind, row in ((k, stored(c.client_id)) for k, c in issued.items())
    }
    assert owners == {
        "partner": (partner.id, None, None),
        "tenant": (None, tenant.id, None),
        "supplier": (None, None, "OEM-1"),
        "support": (None, None, None),
    }
    assert clients.principal_id(stored(issued["tenant"].client_id)) == str(tenant.id)
    assert clients.principal_id(stored(issued["supplier"].client_id)) == "OEM-1"
    assert clients.principal_id(stored(issued["support"].client_id)) is None


def test_a_client_needs_a_principal_that_exists():
    with pytest.raises(NotFound):
        clients.create_client("partner", scopes=SCOPES, partner_id=uuid.uuid4())
    with pytest.raises(NotFound):
        clients.create_client("tenant", scopes=SCOPES, tenant_id=uuid.uuid4())
    with pytest.raises(InputError) as no_supplier:
        clients.create_client("supplier", scopes=SCOPES)
    assert no_supplier.value.field == "supplier"
    with pytest.raises(InputError) as unknown:
        clients.create_client("robot", scopes=SCOPES)
    assert unknown.value.field == "kind"


def test_lookup_finds_active_clients_only():
    tenant = new_tenant()
    kept = clients.create_client("tenant", scopes=SCOPES, tenant_id=tenant.id, name="CI")
    gone = clients.create_client("tenant", scopes=SCOPES, tenant_id=tenant.id)

    clients.revoke(gone.client_id)

    assert clients.find_active(kept.client_id).name == "CI"
    assert clients.find_active(gone.client_id) is None
    assert clients.find_active(unique("nobody")) is None
    with db.transaction() as session:
        assert clients.active_client(session, kept.client_id) is not None
        assert clients.active_client(session, gone.client_id) is None


def test_rotation_replaces_the_secret_and_ends_the_tokens_unless_told_not_to():
    partner = new_partner()
    issued = clients.create_client("partner", scopes=SCOPES, partner_id=partner.id)

    leaked = clients.rotate_secret(issued.client_id)
    after_leak = stored(issued.client_id)
    planned = clients.rotate_secret(issued.client_id, end_tokens=False)
    after_plan = stored(issued.client_id)

    assert not clients.verify_secret(after_plan, issued.client_secret)
    assert not clients.verify_secret(after_plan, leaked)
    assert clients.verify_secret(after_plan, planned)
    assert (after_leak.token_generation, after_plan.token_generation) == (1, 1)
    assert actions(issued.client_id) == [
        "client.created",
        "client.secret_rotated",
        "client.secret_rotated",
    ]


def test_a_revoked_client_stays_revoked():
    partner = new_partner()
    issued = clients.create_client("partner", scopes=SCOPES, partner_id=partner.id)

    clients.revoke(issued.client_id)
    revoked_at = stored(issued.client_id).revoked_at
    clients.revoke(issued.client_id)  # again: nothing changes

    assert revoked_at is not None and stored(issued.client_id).revoked_at == revoked_at
    with pytest.raises(InputError):
        clients.rotate_secret(issued.client_id)
    with pytest.raises(NotFound):
        clients.revoke(unique("nobody"))
    assert actions(issued.client_id) == ["client.created", "client.revoked"]
