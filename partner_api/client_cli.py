"""``partner-api orders submit``: a partner's command line for a remote service;
``orders list``, ``orders rows`` and ``devices list``: the lists, read page
after page by cursor.

Signs in with client credentials (Authlib's OAuth2Session, which fetches a new
token when the one it holds expires during a long ``--wait``), uploads the CSV
file, and with ``--wait`` follows the order to the end with a progress bar,
prints a summary by outcome, and writes the failed rows next to the input
file, ready to fix and submit again.

Safe to retry: the Idempotency-Key is derived from what is sent (the file's
content, the customer and the order's fields), so running the same command
again after a network failure replays the order the service already accepted
instead of making a second one. Transient failures (connection errors, 429
and 503 with their Retry-After, 502, 504) are retried with backoff, POSTs
included, since each carries that key.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

POLL_SECONDS = 0.5
DEFAULT_RETRIES = 5
# Derived keys are versioned, so a change to what goes into them never
# replays an order made by an older release with different content.
_KEY_PREFIX = "partner-api-cli-v1-"


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


class Unreachable(click.ClickException):
    """The service could not be reached, or the connection broke, after every retry."""

    def __init__(self, base_url: str, error: requests.RequestException) -> None:
        super().__init__(
            f"no answer from {base_url} after retrying ({error}). Run the same command again: "
            "an order the service already accepted is answered again, never made twice."
        )


def retry_policy(retries: int) -> Retry:
    """Retries of transient failures, for every method: a POST is safe to repeat
    because it carries the order's Idempotency-Key (or asks for a token)."""
    return Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        allowed_methods=None,
        status_forcelist=(429, 502, 503, 504),
        respect_retry_after_header=True,
        backoff_factor=0.5,
        backoff_max=30,
        raise_on_status=False,
    )


def idempotency_key(path: Path, customer: str, fields: dict[str, str | None]) -> str:
    """The same key for the same file, customer and order fields, so a re-run
    replays; any change to what is sent makes a new key."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    identity = json.dumps(
        {"file_sha256": digest.hexdigest(), "customer": customer, **fields}, sort_keys=True
    )
    return _KEY_PREFIX + hashlib.sha256(identity.encode()).hexdigest()


class Service:
    def __init__(
        self, base_url: str, client_id: str, client_secret: str, retries: int = DEFAULT_RETRIES
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = OAuth2Session(
            client_id,
            client_secret,
            token_endpoint=f"{self.base_url}/oauth/token",
            grant_type="client_credentials",
        )
        adapter = HTTPAdapter(max_retries=retry_policy(retries))
        self.http.mount("http://", adapter)
        self.http.mount("https://", adapter)
        try:
            self.http.fetch_token(timeout=30)
        except OAuthError as exc:
            raise click.ClickException(
                f"sign-in refused: {exc.description or exc.error} ({exc.error})"
            ) from exc
        except requests.RequestException as exc:
            raise Unreachable(self.base_url, exc) from exc

    def _call(self, method: str, path: str, **kwargs) -> requests.Response:
        try:
            return self.http.request(method, f"{self.base_url}{path}", **kwargs)
        except OAuthError as exc:  # fetching a fresh token failed
            raise click.ClickException(
                f"sign-in refused: {exc.description or exc.error} ({exc.error})"
            ) from exc
        except requests.RequestException as exc:
            raise Unreachable(self.base_url, exc) from exc

    def submit(self, path: Path, customer: str, fields: dict, idempotency_key: str) -> dict:
        with path.open("rb") as handle:
            response = self._call(
                "POST",
                f"/v1/partner/customers/{customer}/orders",
                files={"file": (path.name, handle, "text/csv")},
                data={k: v for k, v in fields.items() if v},
                headers={"Idempotency-Key": idempotency_key},
                timeout=900,
            )
        if response.status_code != 202:
            raise ServiceError(response)
        return response.json()

    def order(self, order_id: str) -> dict:
        response = self._call("GET", f"/v1/partner/orders/{order_id}", timeout=30)
        if response.status_code != 200:
            raise ServiceError(response)
        return response.json()

    @property
    def audience(self) -> str:
        """Whose paths this client reads: ``customer`` for a customer's client
        (its token's scopes say so), else ``partner``."""
        scopes = str(self.http.token.get("scope") or "").split()
        return "customer" if "customer:read" in scopes else "partner"

    def walk(self, path: str, params: dict[str, str]) -> Iterator[dict]:
        """Every item of the list at ``path`` (its filters in ``params``), page
        after page: each next page is read with the cursor the page before
        named (``next_cursor``, as in its ``Link: rel="next"``), never by page
        number, so a list of any length is read to its end, each row once."""
        query = dict(params)
        while True:
            response = self._call("GET", path, params=query, timeout=60)
            if response.status_code != 200:
                raise ServiceError(response)
            yield from response.json()
            cursor = json.loads(response.headers.get("X-Pagination") or "{}").get("next_cursor")
            if cursor is None:
                return
            query = {**params, "cursor": cursor}

    def failures(self, order_id: str, target: Path) -> None:
        path = f"/v1/partner/orders/{order_id}/failures.csv"
        with self._call("GET", path, stream=True, timeout=300) as response:
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
    retries: int = DEFAULT_RETRIES,
) -> int:
    service = Service(base_url, client_id, client_secret, retries=retries)
    fields = {"order_id": order_id or file.stem, "purchase_id": purchase_id, "group_tag": group_tag}
    key = idempotency_key(file, customer, fields)
    order = service.submit(file, customer, fields, idempotency_key=key)
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


# The columns ``list_command`` prints in text for each kind of list.
LIST_COLUMNS = {
    "orders": ("id", "order_id", "status", "row_count", "created_at", "completed_at"),
    "registrations": ("line", "serial_number", "state", "error_code", "message"),
    "devices": ("id", "serial_number", "manufacturer", "model", "state", "order_id"),
}


def list_command(
    service: Service,
    name: str,
    path: str,
    params: dict[str, str | None],
    *,
    limit: int | None,
    as_json: bool,
    echo: Callable[[str], None] = click.echo,
) -> int:
    """Print every item of a list (at most ``limit``) as it arrives, page
    after page by cursor: text, one tab-separated line per item under a header
    line, or one JSON object ``{name: [...], "count": n}`` written as it goes,
    so that memory stays flat however long the list."""
    items = service.walk(path, {k: v for k, v in params.items() if v is not None})
    columns = LIST_COLUMNS[name]
    echo(f'{{"{name}": [' if as_json else "\t".join(columns))
    count = 0
    for item in items:
        if limit is not None and count >= limit:
            break
        if as_json:
            echo(("," if count else "") + json.dumps(item))
        else:
            echo("\t".join("" if item.get(c) is None else str(item[c]) for c in columns))
        count += 1
    if as_json:
        echo(f'], "count": {count}}}')
    return count
