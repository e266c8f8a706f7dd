"""Marking texts people read for translation.

The domain has no language of its own: it marks its texts with ``N_`` (they
go into the gettext catalogue; ``make translations``) and keeps them in
English; partner_api/i18n.py translates them where a request's language is
known.
"""


def N_(text: str) -> str:  # noqa: N802 -- gettext's conventional marker name
    return text
