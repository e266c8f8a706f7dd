"""Languages (SPEC section 12): English, Swedish and Dutch.

What people read is rendered in their language when it is answered: the
API's language comes from ``Accept-Language``, and every response says which
it used (``Content-Language``, ``Vary: Accept-Language``). Texts live in
gettext catalogues under ``partner_api/translations`` (``make translations``
extracts and compiles them; the terms are GLOSSARY.md's). Codes, state
values, field names, CSV column names and event types are never translated.

The domain (``tenants``) marks its texts with ``N_`` and stays free of any
language; they are translated here, where a request's language is known.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from http import HTTPStatus
from pathlib import Path

from babel.numbers import get_group_symbol
from flask import Flask, Response, g, has_request_context, request
from flask_babel import Babel, get_locale, get_translations, gettext
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from tenants import outcomes
from tenants.texts import N_, Message, render

ENGLISH = "en"
LANGUAGES = (ENGLISH, "sv", "nl")
LANGUAGE_NAMES = {"en": "English", "sv": "Svenska", "nl": "Nederlands"}
TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def negotiate(accept_language: str | None) -> str:
    """The language of an ``Accept-Language`` header: the acceptable one of
    highest quality, a regional variant counting as its language (``sv-SE``,
    ``nl-BE``), English when none is ours. (Werkzeug's ``best_match`` prefers
    an exact match of lower quality to a regional one of higher.)"""
    for value, quality in parse_accept_header(accept_language or "", LanguageAccept):
        if quality <= 0:
            continue
        language = value.replace("_", "-").split("-")[0].lower()
        if language in LANGUAGES:
            return language
        if language == "*":
            return ENGLISH
    return ENGLISH


def select_language() -> str:
    # A person's own choice (the portal sets it), else what the client asks.
    chosen = g.get("language")
    if chosen in LANGUAGES:
        return chosen
    return negotiate(request.headers.get("Accept-Language"))


def current_language() -> str:
    return str(get_locale() or ENGLISH) if has_request_context() else ENGLISH


def _say_the_language(response: Response) -> Response:
    response.headers["Content-Language"] = current_language()
    response.vary.add("Accept-Language")
    return response


def init_app(app: Flask) -> None:
    Babel(
        app,
        locale_selector=select_language,
        default_translation_directories=str(TRANSLATIONS),
    )
    app.after_request(_say_the_language)


# HTTP reason phrases as problem titles, in words a person reads.
_TITLES = {
    400: N_("Bad request"),
    401: N_("Unauthorized"),
    403: N_("Forbidden"),
    404: N_("Not found"),
    405: N_("Method not allowed"),
    406: N_("Not acceptable"),
    409: N_("Conflict"),
    412: N_("Precondition failed"),
    413: N_("Content too large"),
    415: N_("Unsupported media type"),
    422: N_("Unprocessable content"),
    428: N_("Precondition required"),
    429: N_("Too many requests"),
    500: N_("Internal server error"),
    502: N_("Bad gateway"),
    503: N_("Service unavailable"),
}


def problem_title(status: int) -> str:
    english = _TITLES.get(status)
    return gettext(english) if english else HTTPStatus(status).phrase


def state_name(state: str) -> str:
    return gettext(outcomes.STATE_NAMES[state])


def state_meaning(state: str) -> str:
    return gettext(outcomes.STATE_MEANINGS[state])


def error_title(error_code: str) -> str:
    return gettext(outcomes.ERROR_TITLES[error_code])


def row_message(row: object) -> str | None:
    """The message of a registration (an ORM row or a dict of its columns) in
    the reader's language."""
    if isinstance(row, Mapping):
        return message_text(row.get("message"), row.get("message_params"))
    return message_text(getattr(row, "message", None), getattr(row, "message_params", None))


def message_text(message: str | None, made: Message | Mapping | None = None) -> str | None:
    """A registration's message in the reader's language: rendered from how it
    was made (a ``Message``, or its stored JSON ``message_params``); a row
    stored before messages were kept so shows its stored English text."""
    if made is None:
        made = message if isinstance(message, Message) else None
    if made is None:
        return message
    return render(made, *_renderer())


# Each language's digit group separator (all three group by thousands);
# Babel's number formatting costs more than the rest of a message.
_GROUP_SYMBOL = {language: get_group_symbol(language) for language in LANGUAGES}


def _renderer() -> tuple[Callable[[str], str], Callable[[int], str]]:
    """The request's (translate, write a number), looked up once a request:
    a file of many thousand messages renders each in microseconds."""
    if not has_request_context():
        return str, "{:,}".format
    found = g.get("_message_renderer")
    if found is None:
        group = _GROUP_SYMBOL[current_language()]
        found = (get_translations().gettext, lambda n: f"{n:,}".replace(",", group))
        g._message_renderer = found
    return found
