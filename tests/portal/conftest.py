"""The portal's test stack: the app on a real port (tests/conftest.py), people
signed in through the real sign-in form, and Debian's Chromium driven by
Playwright (installed by tools/install-chromium, which `make test` runs)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tenants.access.portal_users import create_user
from tests.factories import unique
from tests.processes import start_worker, stop_all

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# Where screenshots of the main pages go (`make screenshots` sets docs/screenshots).
SCREENSHOT_DIR = os.environ.get("SCREENSHOT_DIR")
PASSWORD = "correct horse battery staple"


@dataclass
class Person:
    email: str
    password: str
    kind: str


@pytest.fixture
def people(world):
    """Portal users for principals of the test world, created as the CLI does."""

    def make(kind: str, principal=None) -> Person:
        email = f"{unique(kind).lower()}@example.test"
        create_user(
            kind,
            email,
            password=PASSWORD,
            name=f"{kind.title()} Person",
            partner_id=principal.id if kind == "partner" else None,
            tenant_id=principal.id if kind == "tenant" else None,
        )
        return Person(email, PASSWORD, kind)

    return make


def signed_in_session(
    base_url: str, person: Person, http: requests.Session | None = None
) -> requests.Session:
    """A requests session signed in through the portal's form (for HTTP-level
    tests); ``http``: sign in this browser, with the cookies it already holds."""
    http = http or requests.Session()
    page = http.get(f"{base_url}/portal/sign-in", timeout=30)
    response = http.post(
        f"{base_url}/portal/sign-in",
        data={
            "csrf_token": csrf_token(page.text),
            "email": person.email,
            "password": person.password,
        },
        timeout=30,
    )
    assert response.status_code == 200 and "/portal/sign-in" not in response.url, response.text
    return http


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing: run tools/install-chromium")
        pytest.skip(f"{CHROMIUM} is missing: run tools/install-chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def open_portal(browser, base_url):
    """A new browser context (its own cookies), signed in as the person given."""
    contexts = []

    def open_as(person: Person, timezone_id: str | None = None):
        context = browser.new_context(
            base_url=base_url,
            viewport={"width": 1280, "height": 860},
            accept_downloads=True,
            timezone_id=timezone_id,
        )
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        page.goto("/portal/")
        page.get_by_label("Email address").fill(person.email)
        page.get_by_label("Password").fill(person.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/portal/(?!sign-in)"))
        return page

    yield open_as
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> None:
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOT_DIR) / f"{name}.png"), full_page=True)


@pytest.fixture
def worker_process(settings):
    """Starts a real worker process when called; stops it after the test."""
    started = []

    def start():
        started.append(start_worker(settings))

    yield start
    stop_all(started)
