"""The ``partner-api`` command line. Every command takes ``--json`` and then
prints exactly one JSON object on stdout."""

from __future__ import annotations

import json
import os
import shlex
import sys
import uuid
from pathlib import Path

import click

from config.settings import Settings
from tenants import db


def _emit(as_json: bool, data: dict, text: str) -> None:
    click.echo(json.dumps(data, default=str) if as_json else text)


def _settings() -> Settings:
    settings = Settings.from_env()
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    return settings


def _prepare_database(settings: Settings) -> None:
    from tenants.migrate import upgrade

    upgrade(settings.database_url)
    db.configure(settings.database_url)


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


@click.group()
def main() -> None:
    """Partner device registration service."""


@main.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@json_option
def db_upgrade(as_json: bool) -> None:
    """Apply every migration (safe to run again)."""
    settings = _settings()
    _prepare_database(settings)
    _emit(
        as_json,
        {"status": "ok", "database": _redacted(settings.database_url)},
        f"database at {_redacted(settings.database_url)} is up to date",
    )


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.group("partners")
def partners_group() -> None:
    """Partners (resellers, OEMs)."""


@partners_group.command("create")
@click.option("--name", required=True)
@json_option
def partners_create(name: str, as_json: bool) -> None:
    from tenants.access.organisations import create_partner

    _prepare_database(_settings())
    partner = create_partner(name)
    _emit(as_json, {"id": str(partner.id), "name": partner.name}, f"partner {partner.id}")


@main.group("tenants")
def tenants_group() -> None:
    """Customer tenants."""


@tenants_group.command("create")
@click.option("--name", required=True)
@click.option("--domain")
@json_option
def tenants_create(name: str, domain: str | None, as_json: bool) -> None:
    from tenants.access.organisations import create_tenant

    _prepare_database(_settings())
    tenant = create_tenant(name, domain)
    _emit(
        as_json,
        {"id": str(tenant.id), "name": tenant.name, "domain": tenant.domain},
        f"tenant {tenant.id}",
    )


@tenants_group.command("group-tags")
@click.argument("tenant_id", type=click.UUID)
@click.option("--any", "accept_any", is_flag=True, help="Accept any group tag (the default).")
@click.option(
    "--managed-desktop", is_flag=True, help="Accept only the Microsoft Managed Desktop tags."
)
@click.option("--allow", "allowed", multiple=True, help="Accept only this tag (repeatable).")
@json_option
def tenants_group_tags(
    tenant_id, accept_any: bool, managed_desktop: bool, allowed: tuple[str, ...], as_json: bool
) -> None:
    """Show or set which group tags a tenant's orders may carry."""
    from tenants.errors import NotFound
    from tenants.ingest import group_tags
    from tenants.models import Tenant

    chosen = sum((accept_any, managed_desktop, bool(allowed)))
    if chosen > 1:
        raise click.UsageError("give one of --any, --managed-desktop or --allow")
    _prepare_database(_settings())
    try:
        with db.transaction() as session:
            if managed_desktop:
                group_tags.set_allowed_tags(session, tenant_id, group_tags.MANAGED_DESKTOP_TAGS)
            elif accept_any or allowed:
                group_tags.set_allowed_tags(session, tenant_id, allowed)
            elif session.get(Tenant, tenant_id) is None:
                raise NotFound("There is no tenant with this ID.")
            policy = group_tags.policy_for(session, tenant_id)
    except (NotFound, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    _emit(
        as_json,
        {"tenant_id": str(tenant_id), "allowed_group_tags": list(policy.allowed) or None},
        "any group tag" if not policy.allowed else "only: " + ", ".join(policy.allowed),
    )


@main.group("clients")
def clients_group() -> None:
    """API clients (OAuth client credentials)."""


@clients_group.command("create")
@click.option("--partner", "partner_id", type=click.UUID, help="A partner's client")
@click.option("--tenant", "tenant_id", type=click.UUID, help="A customer tenant's client")
@click.option("--support", is_flag=True, help="A support engineer's client")
@click.option("--supplier", "supplier_id", help="A supplier (OEM feed) client, by supplier ID")
@click.option("--scope", "scopes", multiple=True, help="Limit the scopes (default: all)")
@click.option("--name", help="A label for the client")
@json_option
def clients_create(partner_id, tenant_id, support, supplier_id, scopes, name, as_json) -> None:
    """Create a client; its secret is shown once, here."""
    from partner_api.auth.principals import SCOPES_BY_KIND
    from tenants.access.clients import create_client

    chosen = [
        k
        for k, v in (
            ("partner", partner_id),
            ("tenant", tenant_id),
            ("support", support),
            ("supplier", supplier_id),
        )
        if v
    ]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --partner, --tenant, --support, --supplier")
    kind = chosen[0]
    allowed = SCOPES_BY_KIND[kind]
    unknown = [s for s in scopes if s not in allowed]
    if unknown:
        raise click.UsageError(f"scopes {unknown} are not for a {kind}; choose from {allowed}")
    _prepare_database(_settings())
    issued = create_client(
        kind,
        scopes=tuple(scopes) or allowed,
        partner_id=partner_id,
        tenant_id=tenant_id,
        supplier_id=supplier_id,
        name=name,
    )
    data = {
        "client_id": issued.client_id,
        "client_secret": issued.client_secret,
        "principal_kind": kind,
        "scope": issued.scopes,
    }
    _emit(
        as_json,
        data,
        f"client_id={issued.client_id}\nclient_secret={issued.client_secret}\n"
        "(the secret is shown only now)",
    )


@clients_group.command("rotate-secret")
@click.argument("client_id")
@click.option(
    "--keep-tokens",
    is_flag=True,
    help="Let tokens minted with the old secret live until they expire (a planned rotation "
    "where nothing leaked). By default they stop working at once.",
)
@json_option
def clients_rotate_secret(client_id: str, keep_tokens: bool, as_json: bool) -> None:
    """Give a client a new secret; the old one, and the tokens minted with it,
    stop working at once."""
    from tenants.access.clients import rotate_secret

    _prepare_database(_settings())
    secret = rotate_secret(client_id, end_tokens=not keep_tokens)
    _emit(
        as_json,
        {"client_id": client_id, "client_secret": secret, "tokens_ended": not keep_tokens},
        f"client_id={client_id}\nclient_secret={secret}\n(the secret is shown only now)",
    )


@clients_group.command("revoke")
@click.argument("client_id")
@json_option
def clients_revoke(client_id: str, as_json: bool) -> None:
    """Revoke a client: no new tokens, and its tokens stop working at once."""
    from tenants.access.clients import revoke

    _prepare_database(_settings())
    revoke(client_id)
    _emit(as_json, {"client_id": client_id, "status": "revoked"}, f"{client_id} revoked")


@main.group("users")
def users_group() -> None:
    """People who sign in to the portal."""


@users_group.command("create")
@click.option("--email", required=True, help="The address the person signs in with")
@click.option("--partner", "partner_id", type=click.UUID, help="Someone at a partner")
@click.option("--tenant", "tenant_id", type=click.UUID, help="A customer administrator")
@click.option("--support", is_flag=True, help="A support engineer")
@click.option("--name", help="The person's name, shown in the portal")
@click.option(
    "--password",
    envvar="PORTAL_USER_PASSWORD",
    help="At least 12 characters (default: generated and shown once)",
)
@json_option
def users_create(email, partner_id, tenant_id, support, name, password, as_json) -> None:
    """Create a portal user."""
    from tenants.access.portal_users import create_user
    from tenants.errors import DomainError

    chosen = [
        k for k, v in (("partner", partner_id), ("tenant", tenant_id), ("support", support)) if v
    ]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --partner, --tenant, --support")
    _prepare_database(_settings())
    try:
        user, password = create_user(
            chosen[0],
            email,
            password=password,
            name=name,
            partner_id=partner_id,
            tenant_id=tenant_id,
        )
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    _emit(
        as_json,
        {
            "id": str(user.id),
            "email": user.email,
            "principal_kind": chosen[0],
            "password": password,
        },
        f"portal user {user.email} ({chosen[0]})\npassword={password}\n"
        "(the password is shown only now)",
    )


@users_group.command("set-password")
@click.option("--email", required=True, help="The address the person signs in with")
@click.option(
    "--password",
    envvar="PORTAL_USER_PASSWORD",
    help="At least 12 characters (default: generated and shown once)",
)
@json_option
def users_set_password(email: str, password: str | None, as_json: bool) -> None:
    """Give a portal user a new password; every session signed in before ends at once."""
    from tenants.access.portal_users import normalize_email, set_password
    from tenants.errors import DomainError

    _prepare_database(_settings())
    try:
        password = set_password(email, password)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    email = normalize_email(email)
    _emit(
        as_json,
        {"email": email, "password": password},
        f"portal user {email}\npassword={password}\n(the password is shown only now; "
        "every session of this user has ended)",
    )


@users_group.command("sign-out")
@click.option("--email", required=True, help="The address the person signs in with")
@json_option
def users_sign_out(email: str, as_json: bool) -> None:
    """Sign a portal user out everywhere: every session ends at once."""
    from tenants.access.portal_users import normalize_email, sign_out_everywhere
    from tenants.errors import DomainError

    _prepare_database(_settings())
    try:
        ended = sign_out_everywhere(email)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    email = normalize_email(email)
    _emit(
        as_json,
        {"email": email, "sessions_ended": ended},
        f"portal user {email} signed out everywhere ({ended} sessions ended)",
    )


def service_options(command):
    """The options of a command that calls a running service as an API client."""
    for option in reversed(
        (
            click.option(
                "--base-url",
                envvar="PARTNER_API_URL",
                default="http://127.0.0.1:8000",
                show_default=True,
            ),
            click.option("--client-id", envvar="PARTNER_API_CLIENT_ID", required=True),
            click.option("--client-secret", envvar="PARTNER_API_CLIENT_SECRET", required=True),
            click.option(
                "--retries",
                default=5,
                show_default=True,
                type=click.IntRange(0, 20),
                help="Retries of connection failures, 429, 502, 503 and 504 "
                "(honouring Retry-After).",
            ),
        )
    ):
        command = option(command)
    return command


def list_options(command):
    """How much of a list a listing command reads; it reads by cursor."""
    command = click.option(
        "--limit", type=click.IntRange(min=1), help="Stop after this many (default: all)."
    )(command)
    return click.option(
        "--page-size",
        default=100,
        show_default=True,
        type=click.IntRange(1, 100),
        help="Items per request; each next page follows the cursor of the one before.",
    )(command)


@main.group("orders")
def orders_group() -> None:
    """Orders, as a partner (or, for lists, a customer), against a running service."""


@orders_group.command("submit")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--customer", required=True, help="The customer's tenant ID")
@click.option("--order-id", help="Your order reference (default: the file name)")
@click.option("--purchase-id")
@click.option("--group-tag")
@click.option("--wait", is_flag=True, help="Follow the order until every row is final.")
@service_options
@json_option
def orders_submit(
    file,
    customer,
    order_id,
    purchase_id,
    group_tag,
    wait,
    base_url,
    client_id,
    client_secret,
    retries,
    as_json,
) -> None:
    """Upload a CSV file of devices for a customer. With --wait: a progress bar,
    a summary by outcome, and the failed rows written next to FILE. Exits 1
    when some rows failed. Safe to run again after a failure: the same file,
    customer and fields replay the order already accepted, never a second one."""
    from partner_api.client_cli import submit_command

    code = submit_command(
        file,
        customer,
        order_id,
        purchase_id,
        group_tag,
        wait,
        base_url,
        client_id,
        client_secret,
        as_json,
        retries=retries,
    )
    sys.exit(code)


def _list(name: str, path: str, params: dict, service, page_size, limit, as_json) -> None:
    from partner_api.client_cli import list_command

    count = list_command(
        service, name, path, {**params, "page_size": str(page_size)}, limit=limit, as_json=as_json
    )
    if not as_json:
        click.echo(f"{count:,} {name}", err=True)


def _service(base_url, client_id, client_secret, retries):
    from partner_api.client_cli import Service

    return Service(base_url, client_id, client_secret, retries=retries)


@orders_group.command("list")
@list_options
@service_options
@json_option
def orders_list(page_size, limit, base_url, client_id, client_secret, retries, as_json) -> None:
    """Every order, newest first: a partner's own, or, with a customer's
    client, every order for the customer. Tab-separated, or --json."""
    service = _service(base_url, client_id, client_secret, retries)
    _list("orders", f"/v1/{service.audience}/orders", {}, service, page_size, limit, as_json)


@orders_group.command("rows")
@click.argument("order", type=click.UUID)
@click.option("--state", help="Only the rows in this state (e.g. registration_failed)")
@click.option("--error-code", help="Only the rows that failed with this error code")
@click.option("--serial-number")
@list_options
@service_options
@json_option
def orders_rows(
    order,
    state,
    error_code,
    serial_number,
    page_size,
    limit,
    base_url,
    client_id,
    client_secret,
    retries,
    as_json,
) -> None:
    """An order's rows with their outcomes, in submission order."""
    service = _service(base_url, client_id, client_secret, retries)
    _list(
        "registrations",
        f"/v1/{service.audience}/orders/{order}/registrations",
        {"state": state, "error_code": error_code, "serial_number": serial_number},
        service,
        page_size,
        limit,
        as_json,
    )


@main.group("devices")
def devices_group() -> None:
    """A customer's devices, against a running service."""


@devices_group.command("list")
@click.option("--state")
@click.option("--error-code")
@click.option("--serial-number")
@click.option("--order-id", help="Only the devices of this order reference")
@click.option("--search", "q", help="Free text: serial number, model, order, user ...")
@click.option("--sort", help="A column; a leading '-' sorts descending (default: -created_at)")
@list_options
@service_options
@json_option
def devices_list(
    state,
    error_code,
    serial_number,
    order_id,
    q,
    sort,
    page_size,
    limit,
    base_url,
    client_id,
    client_secret,
    retries,
    as_json,
) -> None:
    """The customer's devices (a customer's client), newest first unless --sort says otherwise."""
    service = _service(base_url, client_id, client_secret, retries)
    if service.audience != "customer":
        raise click.ClickException("devices are listed with a customer's client (customer:read)")
    filters = {
        "state": state,
        "error_code": error_code,
        "serial_number": serial_number,
        "order_id": order_id,
        "q": q,
        "sort": sort,
    }
    _list("devices", "/v1/customer/devices", filters, service, page_size, limit, as_json)


@main.group("keys")
def keys_group() -> None:
    """JWT signing keys."""


@keys_group.command("rotate")
@click.option(
    "--grace",
    type=int,
    default=None,
    help="Seconds the old key still verifies (default: the token lifetime).",
)
@json_option
def keys_rotate(grace: int | None, as_json: bool) -> None:
    """Sign new tokens with a new key; the old key verifies until its tokens expire."""
    from partner_api.auth.keys import rotate

    settings = _settings()
    grace = settings.token_lifetime_seconds + 60 if grace is None else grace
    retired, current = rotate(settings.jwt_private_key_file, grace_seconds=grace)
    _emit(
        as_json,
        {"retired_kid": retired, "kid": current, "retired_verifies_for_seconds": grace},
        f"new signing key {current}; {retired} still verifies for {grace} s",
    )


@main.command()
@click.option("--burst", is_flag=True, help="Exit once the queues are empty.")
@json_option
def worker(burst: bool, as_json: bool) -> None:
    """Run an RQ worker (every queue: maintenance and webhooks first, then the
    registration lanes round-robin; with the scheduler)."""
    from jobs.worker import run

    settings = _settings()
    db.configure(settings.database_url)
    if as_json:
        click.echo(json.dumps({"status": "starting", "pid": os.getpid(), "burst": burst}))
    run(settings, burst=burst)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers", "api_workers", default=2, show_default=True, type=int, help="API processes"
)
@json_option
def serve(host: str, port: int, api_workers: int, as_json: bool) -> None:
    """Run the API (gunicorn, config/gunicorn.py) and one RQ worker, and
    supervise them (see partner_api/supervisor.py); on the embedded default
    also the embedded Redis. Ctrl-C or SIGTERM stops everything cleanly."""
    from config.logging import configure_logging
    from jobs import embedded_redis
    from jobs.connection import redis_url
    from partner_api.supervisor import Supervisor

    settings = _settings()
    configure_logging(settings.log_level)
    _prepare_database(settings)
    started_redis = settings.uses_embedded_redis and not embedded_redis._responds(
        embedded_redis.socket_path(settings.instance_path)
    )
    url = redis_url(settings)
    env = dict(os.environ, INSTANCE_PATH=str(settings.instance_path))
    supervisor = Supervisor(
        api_command=[
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "python:config.gunicorn",
            "--bind",
            f"{host}:{port}",
            "--workers",
            str(api_workers),
            "partner_api.app:create_app()",
        ],
        worker_command=[sys.executable, "-m", "partner_api.cli", "worker"],
        env=env,
    )
    try:
        supervisor.start()
        base = f"http://{host}:{port}"
        _emit(
            as_json,
            {
                "status": "serving",
                "url": base,
                "docs": f"{base}/docs",
                "redis": "embedded" if settings.uses_embedded_redis else "configured",
                "pid": os.getpid(),
                "api_pid": supervisor.api.pid,
                "worker_pid": supervisor.worker.pid,
            },
            f"partner-api listening on {base}  (docs: {base}/docs, health: {base}/healthz)\n"
            f"worker pid {supervisor.worker.pid}; redis {url}; press Ctrl+C to stop",
        )
        code = supervisor.supervise()
    finally:
        # Only here, in the parent, once every child has ended.
        if started_redis:
            embedded_redis.stop(settings.instance_path)
    sys.exit(code)


@main.command()
@click.option("--base-url", default="http://127.0.0.1:8000", show_default=True)
@json_option
def demo(base_url: str, as_json: bool) -> None:
    """Create a demo partner, tenant, active relationship and clients, and
    print ready-to-paste curl commands for one order."""
    from partner_api.auth.principals import SCOPES_BY_KIND
    from tenants.access import organisations
    from tenants.access.clients import create_client
    from tenants.access.portal_users import demo_user
    from tenants.ingest.hardware_hash import build_hardware_hash

    settings = _settings()
    _prepare_database(settings)
    partner = organisations.find_partner("Demo Partner") or organisations.create_partner(
        "Demo Partner"
    )
    tenant = organisations.find_tenant("Demo Customer") or organisations.create_tenant(
        "Demo Customer", "demo.example"
    )
    organisations.activate_relationship(partner.id, tenant.id)
    partner_client = create_client(
        "partner", scopes=SCOPES_BY_KIND["partner"], partner_id=partner.id, name="demo"
    )
    tenant_client = create_client(
        "tenant", scopes=SCOPES_BY_KIND["tenant"], tenant_id=tenant.id, name="demo"
    )
    support_client = create_client("support", scopes=SCOPES_BY_KIND["support"], name="demo")
    portal_logins = {
        kind: demo_user(kind, f"{kind}@demo.example", partner_id=partner.id, tenant_id=tenant.id)
        for kind in ("tenant", "partner", "support")
    }
    serial = f"DEMO-{uuid.uuid4().hex[:10].upper()}"
    hardware_hash = build_hardware_hash("Contoso", "Surface Laptop 7", serial)
    order = {
        "order_id": "DEMO-ORDER-1",
        "purchase_id": "PO-1001",
        "devices": [{"hardware_hash": hardware_hash}],
    }
    # A real hash is about 4,000 characters: the body goes in a file so the
    # commands below stay short enough to read.
    order_file = settings.instance_path / "demo-order.json"
    order_file.write_text(json.dumps(order))
    data = {
        "base_url": base_url,
        "partner_id": str(partner.id),
        "tenant_id": str(tenant.id),
        "partner_client": {
            "client_id": partner_client.client_id,
            "client_secret": partner_client.client_secret,
        },
        "tenant_client": {
            "client_id": tenant_client.client_id,
            "client_secret": tenant_client.client_secret,
        },
        "support_client": {
            "client_id": support_client.client_id,
            "client_secret": support_client.client_secret,
        },
        "portal": {
            "url": f"{base_url}/portal/",
            "users": [{"email": e, "password": p} for e, p in portal_logins.values()],
        },
        "serial_number": serial,
        "order": order,
        "order_file": str(order_file),
    }
    token = (
        "curl -s -u {id}:{secret} -d grant_type=client_credentials "
        "$BASE/oauth/token | python3 -c 'import json,sys; "
        'print(json.load(sys.stdin)["access_token"])\''
    )
    pick = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"{key}\"])'"
    text = "\n".join(
        [
            "# Demo partner, customer, active relationship and clients are ready.",
            "# Paste these into a shell while `partner-api serve` runs:",
            f"BASE={base_url}",
            "PARTNER_TOKEN=$("
            + token.format(id=partner_client.client_id, secret=partner_client.client_secret)
            + ")",
            "CUSTOMER_TOKEN=$("
            + token.format(id=tenant_client.client_id, secret=tenant_client.client_secret)
            + ")",
            "SUPPORT_TOKEN=$("
            + token.format(id=support_client.client_id, secret=support_client.client_secret)
            + ")",
            "# 1. submit an order of one device (202 Accepted)",
            'ORDER=$(curl -s -X POST -H "Authorization: Bearer $PARTNER_TOKEN" '
            "-H 'Content-Type: application/json' "
            f"-d @{shlex.quote(str(order_file))} $BASE/v1/partner/customers/{tenant.id}/orders)",
            'echo "$ORDER"; ORDER_ID=$(echo "$ORDER" | ' + pick.format(key="id") + ")",
            'REQUEST_ID=$(echo "$ORDER" | ' + pick.format(key="request_id") + ")",
            "# 2. poll the order until its status is completed",
            'sleep 2; curl -s -H "Authorization: Bearer $PARTNER_TOKEN" '
            "$BASE/v1/partner/orders/$ORDER_ID",
            'curl -s -H "Authorization: Bearer $PARTNER_TOKEN" '
            "$BASE/v1/partner/orders/$ORDER_ID/registrations",
            "# 3. the customer sees the device, ready_for_user",
            'curl -s -H "Authorization: Bearer $CUSTOMER_TOKEN" '
            f'"$BASE/v1/customer/devices?serial_number={serial}"',
            "# 4. support traces the request",
            'curl -s -H "Authorization: Bearer $SUPPORT_TOKEN" '
            "$BASE/v1/support/requests/$REQUEST_ID",
            "",
            f"# The portal: {base_url}/portal/ — sign in as",
            *(
                f"#   {label}: {portal_logins[kind][0]}  password {portal_logins[kind][1]}"
                for kind, label in (
                    ("tenant", "customer"),
                    ("partner", "partner "),
                    ("support", "support "),
                )
            ),
        ]
    )
    _emit(as_json, data, text)


if __name__ == "__main__":
    main()
