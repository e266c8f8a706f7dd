"""The gettext catalogues are complete: every text the code marks is in the
template, translated in Swedish and Dutch with the same placeholders, and
compiled into the .mo files the service reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from partner_api.i18n import LANGUAGES, TRANSLATIONS
from tenants import outcomes

ROOT = Path(__file__).resolve().parent.parent
TRANSLATED = [language for language in LANGUAGES if language != "en"]
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|\{(\w+)\}")


def _catalogue(language: str):
    with open(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po", "rb") as po:
        return read_po(po, locale=language)


def _marked_in_code() -> set[str]:
    """What `make translations` would extract from the code today."""
    found: set[str] = set()
    keywords = {"N_": None, "gettext": None, "_": None, "lazy_gettext": None}
    with open(ROOT / "babel.cfg") as config:
        method_map, options_map = parse_mapping_cfg(config)
    for _, _, message, _, _ in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _template() -> set[str]:
    with open(TRANSLATIONS / "messages.pot", "rb") as pot:
        return {m.id for m in read_po(pot) if m.id}


def _placeholders(text: str) -> set[str]:
    return {a or b for a, b in _PLACEHOLDER.findall(text)}


def test_the_template_holds_every_text_the_code_marks():
    missing = _marked_in_code() - _template()
    assert not missing, f"run `make translations` and translate: {sorted(missing)}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_text_is_translated_with_the_same_placeholders(language):
    catalogue = _catalogue(language)
    translated = {m.id: m.string for m in catalogue if m.id}
    untranslated = sorted(t for t in _template() if not translated.get(t))
    assert not untranslated, f"{language}: no translation for {untranslated}"
    wrong = {
        text: translated[text]
        for text in _template()
        if _placeholders(text) != _placeholders(translated[text])
    }
    assert not wrong, f"{language}: placeholders differ in {wrong}"
    assert not [m.id for m in catalogue if m.id and m.fuzzy], "fuzzy entries are not used"


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalogue_is_the_source(language):
    with open(TRANSLATIONS / language / "LC_MESSAGES" / "messages.mo", "rb") as mo:
        compiled = {m.id: m.string for m in read_mo(mo) if m.id}
    source = {m.id: m.string for m in _catalogue(language) if m.id}
    assert compiled == source, "run `make translations` to compile the .mo files"


def test_every_state_and_error_code_has_a_name_and_a_meaning():
    template = _template()
    for state in outcomes.STATES:
        assert outcomes.STATE_NAMES[state] in template
        assert outcomes.STATE_MEANINGS[state] in template
    for code in outcomes.ERROR_CODES:
        assert outcomes.ERROR_TITLES[code] in template
        assert outcomes.MESSAGES[code] in template


def test_glossary_terms_are_the_ones_used():
    sv, nl = _catalogue("sv"), _catalogue("nl")
    assert sv["Hardware hash not valid"].string == "Maskinvaruhashen är ogiltig"
    assert nl["Hardware hash not valid"].string == "Ongeldige hardwarehash"
    assert sv["Ready for user"].string == "Redo för användare"
    assert nl["Ready for user"].string == "Gereed voor gebruiker"
    assert nl["Deregistered"].string == "Registratie ongedaan gemaakt"
    for catalogue in (sv, nl):
        for message in catalogue:
            if message.id:
                assert "maskinvaru-hash" not in message.string.lower()
                assert "hardware-hash" not in message.string.lower()
