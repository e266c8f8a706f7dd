"""``partner-api orders submit``: a partner's command line for a remote service.

Signs in with client credentials, uploads the CSV file (streamed, with an
Idempotency-Key so a retried command never makes a second order), and with
``--wait`` follows the order to the end with a progress bar, prints a summary
by outcome, and writes the failed rows next to the input file, ready to fix
and submit again.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

import click
import requests

POLL_SECONDS = 0.5


class ServiceError(click.ClickException):
    """An error answer from the service, shown as its problem detail."""

    def __init__(self, response: requests.Response) -> None:
        try:
            body = response.json()
            detail = body.get("detail") or body.get("error_description")
            text = f"{detail} ({body.get('code')}, request ID {body.get('request_id')})"
        except ValueError:
            text = response.text[:500]
        super().__init__(f"{response.status_code}: {text}")


class Service:
    def __init__(self, base_url: str, client_id: str, client_secret: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()
        response = self.http.post(
            f"{self.base_url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, client_secret),
            timeout=30,
        )
        if response.status_code != 200:
            raise ServiceError(response)
        self.http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def submit(self, path: Path, customer: str, fields: dict, idempotency_key: str) -> dict:
        with path.open("rb") as handle:
            response = self.http.post(
                f"{self.base_url}/v1/partner/customers/{customer}/orders",
                files={"file": (path.name, handle, "text/csv")},
                data={k: v for k, v in fields.items() if v},
                headers={"Idempotency-Key": idempotency_key},
                timeout=900,
            )
        if response.status_code != 202:
            raise ServiceError(response)
        return response.json()

    def order(self, order_id: str) -> dict:
        response = self.http.get(f"{self.base_url}/v1/partner/orders/{order_id}", timeout=30)
        if response.status_code != 200:
            raise ServiceError(response)
        return response.json()

    def failures(self, order_id: str, target: Path) -> None:
        url = f"{self.base_url}/v1/partner/orders/{order_id}/failures.csv"
        with self.http.get(url, stream=True, timeout=300) as response:
            if response.status_code != 200:
                raise ServiceError(response)
            with target.open("wb") as out:
                for block in response.iter_content(1 << 16):
                    out.write(block)


def _pending(order: dict) -> int:
    return order["counts"]["by_state"].get("registration_pending", 0)


def _follow(service: Service, order: dict, show_progress: bool) -> dict:
    total = order["row_count"]
    if not show_progress:
        while not order["completed_at"]:
            time.sleep(POLL_SECONDS)
            order = service.order(order["id"])
        return order
    with click.progressbar(length=total, label="Registering", file=sys.stderr) as bar:
        done = 0
        while True:
            finished = total - _pending(order)
            bar.update(finished - done)
            done = finished
            if order["completed_at"]:
                return order
            time.sleep(POLL_SECONDS)
            order = service.order(order["id"])


def summary_lines(order: dict) -> list[str]:
    counts = order["counts"]
    rows = [("state", state, n) for state, n in sorted(counts["by_state"].items())]
    rows += [("error", code, n) for code, n in sorted(counts["by_error_code"].items())]
    width = max(len(name) for _, name, _ in rows) if rows else 10
    lines = [f"Order {order['order_id'] or order['id']}: {order['status']}"]
    lines += [f"  {kind:<6} {name:<{width}}  {n:>8,}" for kind, name, n in rows]
    return lines


def submit_command(
    file: Path,
    customer: str,
    order_id: str | None,
    purchase_id: str | None,
    group_tag: str | None,
    wait: bool,
    base_url: str,
    client_id: str,
    client_secret: str,
    as_json: bool,
) -> int:
    service = Service(base_url, client_id, client_secret)
    fields = {"order_id": order_id or file.stem, "purchase_id": purchase_id, "group_tag": group_tag}
    order = service.submit(file, customer, fields, idempotency_key=str(uuid.uuid4()))
    result: dict[str, object] = {"order": order, "failures_file": None}
    if not wait:
        accepted = (
            f"Order {order['id']} accepted ({order['row_count']:,} rows); follow it at "
            f"{base_url}/v1/partner/orders/{order['id']}"
        )
        click.echo(json.dumps(result) if as_json else accepted)
        return 0
    order = _follow(service, order, show_progress=not as_json)
    result["order"] = order
    failed = order["counts"]["by_state"].get("registration_failed", 0)
    if failed:
        target = file.with_name(f"{file.stem}.failures.csv")
        service.failures(order["id"], target)
        result["failures_file"] = str(target)
    if as_json:
        click.echo(json.dumps(result))
    else:
        click.echo("\n".join(summary_lines(order)))
        if result["failures_file"]:
            click.echo(
                f"{failed:,} rows failed; they are in {result['failures_file']} with the reason "
                "for each. Fix them and submit that file again."
            )
    return 1 if failed else 0
