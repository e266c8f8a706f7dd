"""The API answers in the reader's language (SPEC section 12): chosen from
Accept-Language, said in Content-Language, never translating codes or states."""

from __future__ import annotations

import pytest
import requests

from partner_api.i18n import negotiate
from tests.http import assert_problem


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "en"),
        ("", "en"),
        ("sv", "sv"),
        ("SV-se", "sv"),
        ("nl-NL", "nl"),
        ("nl-BE", "nl"),
        ("nl_BE", "nl"),
        ("de-DE, fr;q=0.8", "en"),
        ("*", "en"),
        # The highest quality wins, a regional tag counting as its language.
        ("sv-SE, en;q=0.5", "sv"),
        ("en;q=0.2, nl-NL;q=0.9", "nl"),
        ("fr, sv;q=0.1", "sv"),
        ("sv;q=0, nl;q=0.3", "nl"),
    ],
)
def test_the_language_is_the_acceptable_one_of_highest_quality(header, language):
    assert negotiate(header) == language


def test_every_response_says_its_language_and_that_it_varies_by_it(api, world, base_url):
    partner = world.partner()
    for response, language in (
        (api.get("/healthz"), "en"),
        (
            api.get("/v1/partner/orders", token=partner.token, headers={"Accept-Language": "sv"}),
            "sv",
        ),
        (api.get("/v1/partner/orders", headers={"Accept-Language": "nl-BE"}), "nl"),
        (
            requests.get(f"{base_url}/no/such/page", headers={"Accept-Language": "de"}, timeout=10),
            "en",
        ),
    ):
        assert response.headers["Content-Language"] == language
        assert "Accept-Language" in response.headers["Vary"]


@pytest.mark.parametrize(
    ("language", "title", "detail"),
    [
        ("en", "Not found", "There is no order with this ID."),
        (
            "sv",
            "Hittades inte",
            "Det finns ingen order med det här ID:t.",
        ),
        ("nl", "Niet gevonden", "Er is geen order met deze id."),
    ],
)
def test_a_404_is_told_in_the_readers_language_with_the_same_code(
    api, world, language, title, detail
):
    partner = world.partner()
    response = api.get(
        "/v1/partner/orders/00000000-0000-4000-8000-000000000000",
        token=partner.token,
        headers={"Accept-Language": language},
    )
    body = assert_problem(response, 404, "not_found")
    assert (body["title"], body["detail"]) == (title, detail)
    assert body["type"] == "urn:partner-api:problem:not_found"


def test_a_validation_problem_is_translated_and_keeps_its_field_names(api, world):
    tenant = world.tenant()
    response = api.get(
        "/v1/customer/devices?state=gone", token=tenant.token, headers={"Accept-Language": "sv"}
    )
    body = assert_problem(response, 422, "validation_failed")
    assert body["title"] == "Innehållet kan inte behandlas"
    assert body["detail"].startswith("Begäran är inte giltig.")
    assert "state" in body["detail"]
    assert "state" in body["errors"]["query"]


def test_device_states_keep_their_values_and_read_in_the_readers_language(api, world, run_worker):
    organisation = world.organisation_with_a_device(run_worker)
    tenant = organisation.tenant
    meanings = {}
    for language in ("en", "sv", "nl"):
        [row] = api.get(
            "/v1/customer/devices", token=tenant.token, headers={"Accept-Language": language}
        ).json()
        assert row["state"] == "ready_for_user"
        assert row["registered_by"].startswith("Partner-")  # a name: never translated
        meanings[language] = row["state_meaning"]
    assert meanings == {
        "en": "Registered to your organisation and waiting for its user.",
        "sv": "Registrerad till din organisation och väntar på sin användare.",
        "nl": "Geregistreerd bij uw organisatie en wacht op de gebruiker.",
    }


def test_an_address_that_does_not_exist_is_told_in_dutch(base_url):
    response = requests.get(
        f"{base_url}/no/such/page", headers={"Accept-Language": "nl-BE"}, timeout=10
    )
    body = assert_problem(response, 404, "not_found")
    assert body["detail"] == "Er is niets op dit adres, of u mag het niet zien."
