"""The contract as an integrator meets it: a Python client generated from the
served /openapi.json with openapi-python-client runs the partner's flow
(relationship request, approval, dry run, order, polling, rows) against the
running app. A document that drifts from what the service does, loses
``dry_run`` or ``Idempotency-Key``, or names its operations after paths,
breaks this test."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.factories import device

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "generated_partner_api_client"


@pytest.fixture(scope="module")
def client_package(openapi_spec, tmp_path_factory):
    """The client generated from the served document, imported."""
    folder = tmp_path_factory.mktemp("generated")
    (folder / "openapi.json").write_text(json.dumps(openapi_spec))
    (folder / "config.yaml").write_text("post_hooks: []\n")  # no formatter: faster
    done = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(folder / "openapi.json"),
            "--config",
            str(folder / "config.yaml"),
            "--meta",
            "none",
            "--output-path",
            str(folder / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def _module(package, name: str):
    return importlib.import_module(f"{package.__name__}.{name}")


def test_every_operation_has_a_readable_unique_operation_id(openapi_spec):
    ids = [
        operation.get("operationId")
        for item in openapi_spec["paths"].values()
        for method, operation in item.items()
        if method != "parameters"
    ]
    assert None not in ids
    assert len(set(ids)) == len(ids)
    assert {"partnerSubmitOrder", "partnerListOrderRegistrations", "customerSubmitOrder"} <= set(
        ids
    )
    assert all("_" not in i and "{" not in i for i in ids)


def test_order_submission_documents_dry_run_idempotency_key_and_location(openapi_spec):
    for path in ("/v1/partner/customers/{tenant_id}/orders", "/v1/customer/orders"):
        operation = openapi_spec["paths"][path]["post"]
        parameters = {(p["in"], p["name"]) for p in operation["parameters"]}
        assert {("query", "dry_run"), ("header", "Idempotency-Key")} <= parameters, path
        assert "Location" in operation["responses"]["202"]["headers"], path


def test_the_partner_flow_through_the_generated_client(client_package, base_url, world, run_worker):
    api_partner = "api.partner."
    models = _module(client_package, "models")
    partner, tenant = world.partner(), world.tenant()
    as_partner = client_package.AuthenticatedClient(base_url=base_url, token=partner.token)
    as_customer = client_package.AuthenticatedClient(base_url=base_url, token=tenant.token)

    requested = _module(client_package, api_partner + "partner_request_relationship").sync_detailed(
        tenant_id=tenant.id, client=as_partner
    )
    assert requested.status_code == 201, requested.content
    approved = _module(client_package, "api.customer.customer_approve_relationship").sync(
        relationship_id=requested.parsed.id, client=as_customer
    )
    assert approved.status == models.RelationshipStatus.ACTIVE

    submit = _module(client_package, api_partner + "partner_submit_order")
    body = models.OrderCreate.from_dict(
        {"order_id": "PO-GEN-1", "devices": [device(), {"hardware_hash": "not-a-hash"}]}
    )
    preview = submit.sync_detailed(tenant_id=tenant.id, client=as_partner, body=body, dry_run=True)
    assert preview.status_code == 200, preview.content
    assert isinstance(preview.parsed, models.DryRun)
    assert sorted(v.verdict.value for v in preview.parsed.rows) == ["accepted", "rejected"]

    key = str(uuid.uuid4())
    accepted = submit.sync_detailed(
        tenant_id=tenant.id, client=as_partner, body=body, idempotency_key=key
    )
    assert accepted.status_code == 202, accepted.content
    order = accepted.parsed
    assert isinstance(order, models.Order)
    assert accepted.headers["Location"].endswith(f"/v1/partner/orders/{order.id}")
    replayed = submit.sync_detailed(
        tenant_id=tenant.id, client=as_partner, body=body, idempotency_key=key
    )
    assert replayed.parsed.id == order.id
    assert replayed.headers["Idempotent-Replayed"] == "true"

    get_order = _module(client_package, api_partner + "partner_get_order")
    deadline = time.monotonic() + 60
    while order.completed_at is None and time.monotonic() < deadline:
        run_worker()
        order = get_order.sync(order_id=order.id, client=as_partner)
    assert order.status == models.OrderStatus.COMPLETED_WITH_ERRORS

    rows = _module(client_package, api_partner + "partner_list_order_registrations").sync(
        order_id=order.id, client=as_partner
    )
    assert sorted(str(r.state.value) for r in rows) == ["ready_for_user", "registration_failed"]
    assert {r.error_code for r in rows} == {None, models.ErrorCode.HARDWARE_HASH_INVALID}


def test_one_error_code_type_for_every_row_schema(client_package):
    models_folder = Path(client_package.__file__).parent / "models"
    names = {p.stem for p in models_folder.glob("*.py")}
    assert "error_code" in names
    # No copies of the codes per schema and per null (registration_error_code_type_1, ...).
    assert not [n for n in names if "error_code_type" in n], names
    for row_schema in ("registration", "device", "support_registration"):
        source = (models_folder / f"{row_schema}.py").read_text()
        assert "from ..models.error_code import ErrorCode" in source, row_schema
