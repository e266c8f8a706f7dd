"""The portal in English, Swedish and Dutch (SPEC section 12): every page
reads in the person's language, with no English text of the catalogue left
over; the choice is the person's, kept across sign-ins and browsers; before
signing in, the browser's language or the switcher's cookie."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
import requests

from partner_api.i18n import TRANSLATIONS
from tests.factories import device, unique
from tests.http import fill_rule
from tests.portal.conftest import csrf_token, signed_in_session
from tests.portal.test_portal_http import _portal_routes

TRANSLATED = ("sv", "nl")


def _english_left_over(language: str) -> list[str]:
    """The catalogue's English texts that read differently in ``language``
    (longer than 3 characters; placeholders and markup aside: the literal
    text between them)."""
    from babel.messages.pofile import read_po

    with open(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po", "rb") as po:
        catalogue = read_po(po, locale=language)
    texts = set()
    for message in catalogue:
        if not message.id or message.string == message.id:
            continue
        for piece in re.split(r"%\(\w+\)s|<[^>]+>", message.id):
            piece = piece.strip(" .:;,()·…")
            if len(piece) > 3 and piece not in message.string:
                texts.add(piece)
    return sorted(texts, key=len, reverse=True)


class _Reader(HTMLParser):
    """What a person reads on a page: its text and the attributes shown as
    text (titles, placeholders, labels, confirmations), without codes."""

    SHOWN = ("title", "placeholder", "aria-label", "data-confirm", "alt")

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        # Codes, scripts and styles are never translated.
        if tag in ("code", "script", "style"):
            self._skip += 1
        self.parts.extend(value for name, value in attrs if name in self.SHOWN and value)

    def handle_endtag(self, tag):
        if tag in ("code", "script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def _read(page: str) -> str:
    reader = _Reader()
    reader.feed(page)
    return "\n".join(reader.parts)


def _untranslated(page: str, english: list[str]) -> list[str]:
    text = _read(page)
    # A whole word or phrase: "Model" is not in "Modell", "accepted" not in "order.accepted".
    return [e for e in english if re.search(rf"(?<![\w.\-]){re.escape(e)}(?![\w\-])(?!\.\w)", text)]


def _choose(http: requests.Session, base_url: str, language: str) -> requests.Response:
    page = http.get(f"{base_url}/portal/sign-in", timeout=30)
    return http.post(
        f"{base_url}/portal/language",
        data={"csrf_token": csrf_token(page.text), "language": language},
        timeout=30,
    )


@pytest.fixture
def organisation(world, people, run_worker, base_url):
    """One organisation's objects, and its people of every kind."""
    a = world.organisation_with_a_device(run_worker)
    api = world.api
    hook = api.post(
        "/v1/customer/webhooks", token=a.tenant.token, json={"url": "http://127.0.0.1:9/hooks"}
    ).json()
    delivery = api.post(f"/v1/customer/webhooks/{hook['id']}/ping", token=a.tenant.token).json()
    # A device the customer registered itself ("Your organisation" registered it).
    api.post(
        "/v1/customer/orders",
        token=a.tenant.token,
        json={"order_id": unique("OWN"), "devices": [device(unique("OWN-SN"))]},
    )
    run_worker()
    bulk_action = api.post(
        "/v1/customer/devices/bulk-deregister",
        token=a.tenant.token,
        json={"ids": ["00000000-0000-4000-8000-000000000000"]},
    ).json()
    return {
        "ids": {
            "tenant_id": str(a.tenant.id),
            "order_id": a.order["id"],
            "device_id": a.row["id"],
            "relationship_id": a.relationship_id,
            "webhook_id": hook["id"],
            "delivery_id": delivery["id"],
            "bulk_action_id": bulk_action["id"],
        },
        "people": {
            "tenant": people("tenant", a.tenant),
            "partner": people("partner", a.partner),
            "support": people("support"),
        },
        # Support's lookups, with something to show.
        "lookups": [
            f"/portal/requests?request_id={a.order['request_id']}",
            f"/portal/device-history?serial_number={a.serial}",
        ],
    }


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_portal_page_reads_in_the_language(app, base_url, organisation, language):
    english = _english_left_over(language)
    assert "Register devices" in english
    pages: list[tuple[str, str]] = [("anonymous", "/portal/sign-in")]
    for method, rule, endpoint in _portal_routes(app):
        if method != "GET":
            continue
        path, _ = fill_rule(rule, organisation["ids"])
        for kind in app.view_functions[endpoint].portal_kinds:
            pages.append((kind, path))
    pages += [("support", path) for path in organisation["lookups"]]

    sessions = {"anonymous": requests.Session()}
    for kind, person in organisation["people"].items():
        sessions[kind] = signed_in_session(base_url, person)
    for http in sessions.values():
        _choose(http, base_url, language)

    read = 0
    for kind, path in pages:
        response = sessions[kind].get(base_url + path, timeout=30)
        # The webhook is the customer's: its partner gets the (translated) 404 page.
        assert response.status_code in (200, 404), f"{path} as {kind}: {response.status_code}"
        assert response.headers["Content-Language"] == language
        if not response.headers["Content-Type"].startswith("text/html"):
            continue
        if "<html" in response.text:
            assert f'<html lang="{language}"' in response.text, path
        # People's names are data ("Support Person"), not texts.
        left = _untranslated(response.text.replace(f"{kind.title()} Person", ""), english)
        assert not left, f"{path} as {kind} in {language}: English left {left}"
        read += response.status_code == 200
    assert read >= 20


def test_the_language_is_the_persons_across_sign_ins_and_browsers(world, people, base_url):
    person = people("tenant", world.tenant())
    # Before signing in: the browser's language.
    stranger = requests.Session()
    page = stranger.get(
        f"{base_url}/portal/sign-in", headers={"Accept-Language": "nl-BE,en;q=0.5"}, timeout=30
    )
    assert '<html lang="nl"' in page.text and "Aanmelden" in page.text
    assert page.headers["Content-Language"] == "nl"

    http = signed_in_session(base_url, person)
    assert '<html lang="en"' in http.get(f"{base_url}/portal/devices", timeout=30).text
    switched = _choose(http, base_url, "sv")
    assert switched.status_code == 200 and '<html lang="sv"' in switched.text
    # The switcher shows each language in its own name; the chosen one marked.
    assert 'lang="nl"' in switched.text and ">Nederlands</button>" in switched.text
    assert re.search(r'aria-current="true" data-testid="language-sv">Svenska<', switched.text)

    # Signed out and in again, in another browser that asks for English.
    signed_out = http.post(
        f"{base_url}/portal/sign-out", data={"csrf_token": csrf_token(switched.text)}, timeout=30
    )
    assert "Du är utloggad." in signed_out.text
    elsewhere = signed_in_session(base_url, person)
    devices = elsewhere.get(
        f"{base_url}/portal/devices", headers={"Accept-Language": "en"}, timeout=30
    )
    assert '<html lang="sv"' in devices.text and "<h1>Enheter</h1>" in devices.text
    assert devices.headers["Content-Language"] == "sv"

    # The switcher leads back to the page it was on.
    page = elsewhere.get(f"{base_url}/portal/orders", timeout=30)
    assert 'name="next" value="/portal/orders?"' in page.text

    # Back to English, for every browser.
    _choose(elsewhere, base_url, "en")
    again = http.get(f"{base_url}/portal/devices", timeout=30)
    assert (
        "<h1>Devices</h1>"
        in signed_in_session(base_url, person).get(f"{base_url}/portal/devices", timeout=30).text
    )
    assert again.status_code == 200


def test_a_choice_before_signing_in_becomes_the_persons(world, people, base_url):
    person = people("partner", world.partner())
    http = requests.Session()
    _choose(http, base_url, "nl")
    signed_in_session(base_url, person, http)
    assert '<html lang="nl"' in http.get(f"{base_url}/portal/orders", timeout=30).text
    # Another browser, no cookie: still Dutch.
    elsewhere = signed_in_session(base_url, person)
    assert '<html lang="nl"' in elsewhere.get(f"{base_url}/portal/orders", timeout=30).text


def test_dates_and_numbers_follow_the_language(world, people, base_url, api, run_worker):
    a = world.organisation_with_a_device(run_worker)
    http = signed_in_session(base_url, people("tenant", a.tenant))
    shown, limits = {}, {}
    for language in ("en", "sv", "nl"):
        _choose(http, base_url, language)
        page = http.get(f"{base_url}/portal/orders/{a.order['id']}", timeout=30).text
        shown[language] = re.search(r'<time datetime="[^"]+" title="UTC">([^<]+)</time>', page)[1]
        register = http.get(f"{base_url}/portal/register", timeout=30).text
        limits[language] = re.search(r"(\d[\d,.\xa0]*\d) (?:rows|rader|rijen)", register)[1]
    # The order limit (100000 by default), grouped as each language groups digits.
    assert limits == {"en": "100,000", "sv": "100\xa0000", "nl": "100.000"}
    # "Dec 1, 2026 05:59 UTC", "1 dec. 2026 05:59 UTC", "1 dec 2026 05:59 UTC"
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4} \d\d:\d\d UTC", shown["en"])
    assert re.fullmatch(r"\d{1,2} [a-zé]{3,4}\. \d{4} \d\d:\d\d UTC", shown["sv"])
    assert re.fullmatch(r"\d{1,2} [a-z]{3,4} \d{4} \d\d:\d\d UTC", shown["nl"])
