"""Portal sessions live on the server: a cookie saved before signing out, a
password change or an administrator's "sign out everywhere" opens nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import requests

from tenants.access import portal_users
from tests.portal.conftest import Person, csrf_token, signed_in_session

NEW_PASSWORD = "a brand new passphrase"


def copy_of(http: requests.Session) -> requests.Session:
    """Another browser holding the same cookie (saved, or stolen)."""
    other = requests.Session()
    other.cookies.update(http.cookies)
    return other


def signed_in(http: requests.Session, base_url: str, page: str = "/portal/devices") -> bool:
    response = http.get(base_url + page, allow_redirects=False, timeout=30)
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 200


def post_form(http: requests.Session, base_url: str, path: str, **fields) -> requests.Response:
    token = csrf_token(http.get(f"{base_url}/portal/password", timeout=30).text)
    return http.post(
        base_url + path, data={"csrf_token": token, **fields}, allow_redirects=False, timeout=30
    )


def cli(*args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "partner_api.cli", "users", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_cookie_saved_before_signing_out_opens_nothing(world, people, base_url):
    http = signed_in_session(base_url, people("tenant", world.tenant()))
    saved = copy_of(http)
    assert signed_in(saved, base_url)

    response = post_form(http, base_url, "/portal/sign-out")
    assert response.status_code == 302

    assert not signed_in(saved, base_url)
    assert not signed_in(http, base_url)


def test_signing_out_one_browser_leaves_the_others_signed_in(world, people, base_url):
    person = people("tenant", world.tenant())
    laptop, phone = signed_in_session(base_url, person), signed_in_session(base_url, person)

    post_form(laptop, base_url, "/portal/sign-out")

    assert not signed_in(laptop, base_url)
    assert signed_in(phone, base_url)


def test_a_new_password_signs_out_every_other_browser(world, people, base_url):
    person = people("partner", world.partner())
    here, elsewhere = signed_in_session(base_url, person), signed_in_session(base_url, person)
    saved = copy_of(here)

    wrong = post_form(
        here,
        base_url,
        "/portal/password",
        current_password="a wrong guess!",
        new_password=NEW_PASSWORD,
        repeat_password=NEW_PASSWORD,
    )
    assert wrong.status_code == 422 and "The current password is not right" in wrong.text
    assert signed_in(elsewhere, base_url, "/portal/customers")

    changed = post_form(
        here,
        base_url,
        "/portal/password",
        current_password=person.password,
        new_password=NEW_PASSWORD,
        repeat_password=NEW_PASSWORD,
    )
    assert changed.status_code == 302

    assert signed_in(here, base_url, "/portal/customers")
    assert not signed_in(elsewhere, base_url, "/portal/customers")
    # The cookie this browser had before the change is no good either.
    assert not signed_in(saved, base_url, "/portal/customers")
    signed_in_session(base_url, Person(person.email, NEW_PASSWORD, person.kind))


def test_an_administrator_signs_a_user_out_everywhere(world, people, base_url):
    person = people("tenant", world.tenant())
    browsers = [signed_in_session(base_url, person) for _ in range(2)]

    answer = cli("sign-out", "--email", f" {person.email.upper()} ")

    assert answer == {"email": person.email, "sessions_ended": 2}
    assert not any(signed_in(http, base_url) for http in browsers)
    # Signing in again works: the account is not locked, only its sessions ended.
    assert signed_in(signed_in_session(base_url, person), base_url)


def test_an_administrator_sets_a_new_password_and_old_sessions_end(world, people, base_url):
    person = people("tenant", world.tenant())
    browser = signed_in_session(base_url, person)

    answer = cli("set-password", "--email", person.email)

    assert not signed_in(browser, base_url)
    assert portal_users.check_password(person.email, person.password) is None
    assert signed_in(
        signed_in_session(base_url, Person(person.email, answer["password"], "tenant")), base_url
    )


def test_a_session_ends_on_the_server_when_it_expires(world, people):
    person = people("tenant", world.tenant())
    user = portal_users.find_by_email(person.email)
    lasting = portal_users.start_session(user.id, timedelta(hours=1))
    expired = portal_users.start_session(user.id, timedelta(seconds=-1))

    assert portal_users.session_user(lasting).id == user.id
    assert portal_users.session_user(expired) is None
    assert portal_users.session_user("not a session") is None
