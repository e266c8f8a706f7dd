"""Checks a running service as a person and a partner would meet it: the
health check, the API docs and document, the portal's sign-in page and its
static files, and one order end to end through the partner command line, seen
by the customer in the API and the portal. Run by tools/check-wheel:

    python tools/check_served.py BASE_URL DEMO_JSON

DEMO_JSON is what `partner-api demo --json` printed for this service.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

BASE, DEMO = sys.argv[1].rstrip("/"), json.loads(Path(sys.argv[2]).read_text())
http = requests.Session()


def check(condition: object, what: str) -> None:
    if not condition:
        sys.exit(f"check_served: FAILED: {what}")
    print(f"check_served: ok: {what}")


def get(path: str, **kwargs) -> requests.Response:
    return http.get(BASE + path, timeout=30, **kwargs)


def wait_for_service(seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if get("/healthz").status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    sys.exit(f"check_served: FAILED: no answer from {BASE}/healthz in {seconds:.0f} s")


def submit_one_order(workdir: Path) -> dict:
    """The partner's command line, as the README shows it, with --wait."""
    file = workdir / "check-order.csv"
    with file.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Manufacturer", "Model", "Serial Number", "Hardware Hash"])
        writer.writerow(
            [
                "Contoso",
                "Surface Laptop 7",
                DEMO["serial_number"],
                DEMO["order"]["devices"][0]["hardware_hash"],
            ]
        )
    env = dict(
        os.environ,
        PARTNER_API_URL=BASE,
        PARTNER_API_CLIENT_ID=DEMO["partner_client"]["client_id"],
        PARTNER_API_CLIENT_SECRET=DEMO["partner_client"]["client_secret"],
    )
    done = subprocess.run(
        [
            "partner-api",
            "orders",
            "submit",
            str(file),
            "--customer",
            DEMO["tenant_id"],
            "--wait",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    failure = f" (exit {done.returncode}: {done.stderr[-500:]})" if done.returncode else ""
    check(done.returncode == 0, "partner-api orders submit --wait exits 0" + failure)
    return json.loads(done.stdout)["order"]


def portal_devices_page(email: str, password: str) -> str:
    portal = requests.Session()
    page = portal.get(BASE + "/portal/sign-in", timeout=30).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    check(token, "the sign-in form carries a CSRF token")
    answer = portal.post(
        BASE + "/portal/sign-in",
        data={"csrf_token": token.group(1), "email": email, "password": password},
        timeout=30,
    )
    check(answer.status_code == 200 and "Sign out" in answer.text, f"{email} signs in")
    return portal.get(BASE + "/portal/devices", timeout=30).text


def main() -> None:
    wait_for_service()
    check(get("/healthz").status_code == 200, "/healthz answers 200")

    docs = get("/docs")
    check(docs.status_code == 200 and "swagger" in docs.text.lower(), "/docs serves Swagger UI")
    check(
        get("/docs/assets/swagger-ui-bundle.js").status_code == 200,
        "Swagger UI's assets are served from the package",
    )
    spec = get("/openapi.json")
    check(
        spec.status_code == 200
        and "/v1/partner/customers/{tenant_id}/orders" in spec.json()["paths"],
        "/openapi.json documents the partner's order route",
    )

    sign_in = get("/portal/sign-in")
    check(
        sign_in.status_code == 200 and 'name="password"' in sign_in.text, "/portal/sign-in renders"
    )
    stylesheets = re.findall(r'(?:href|src)="(/portal/static/[^"?]+)', sign_in.text)
    check(stylesheets, "the portal links its static files")
    check(
        all(get(path).status_code == 200 for path in stylesheets),
        "the portal's static files are served",
    )

    with tempfile.TemporaryDirectory() as workdir:
        order = submit_one_order(Path(workdir))
    by_state = order["counts"]["by_state"]
    check(
        order["completed_at"] and by_state.get("ready_for_user") == 1,
        f"the order completed with its device ready for the user ({by_state})",
    )

    token = http.post(
        BASE + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(DEMO["tenant_client"]["client_id"], DEMO["tenant_client"]["client_secret"]),
        timeout=30,
    ).json()["access_token"]
    devices = get(
        "/v1/customer/devices",
        params={"serial_number": DEMO["serial_number"]},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    check(len(devices) == 1, "the customer's API lists the registered device")

    customer = next(u for u in DEMO["portal"]["users"] if u["email"].startswith("tenant@"))
    page = portal_devices_page(customer["email"], customer["password"])
    check(DEMO["serial_number"] in page, "the customer's portal lists the registered device")


if __name__ == "__main__":
    main()
