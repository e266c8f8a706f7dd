"""Marking texts people read for translation, and messages built from them.

The domain has no language of its own: it marks its texts with ``N_`` (they
go into the gettext catalogue; ``make translations``) and keeps them in
English; partner_api/i18n.py translates them where a request's language is
known.

A message about one row (why it failed, which field, which line, how many
bytes) is a ``Message``: its English template (the catalogue's message id)
and named parameters, which may be messages themselves (the hash decoder's
detail inside a hash error). It is stored as JSON (``as_json``) beside the
English text, and rendered again in the reader's language (``render``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

#: A message id for a parameter shown with its first letter in upper case
#: (a clause that starts a sentence). Not a text: never translated.
CAPITALIZED = "{capitalized}"


def N_(text: str) -> str:  # noqa: N802 -- gettext's conventional marker name
    return text


class Message(str):
    """A message as its English text (a ``str``, for everything that reads it
    so), carrying the template (``id``) and parameters it was made from.

    Parameters: text (a value from the row, shown as given), whole numbers
    (shown with the language's digit grouping) and messages.
    """

    id: str
    params: Mapping[str, str | int | Message]

    def __new__(cls, id: str, **params: str | int | Message) -> Message:  # noqa: A002
        self = super().__new__(cls, _render(id, params, _english, _english_number))
        self.id = id
        self.params = params
        return self

    def __reduce__(self):  # pickled as what it is made of
        return Message.from_json, (self.as_json(),)

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "params": {
                name: value.as_json() if isinstance(value, Message) else value
                for name, value in self.params.items()
            },
        }

    @classmethod
    def from_json(cls, data: Mapping) -> Message:
        return cls(
            data["id"],
            **{
                name: cls.from_json(value) if isinstance(value, dict) else value
                for name, value in data.get("params", {}).items()
            },
        )


def capitalized(message: Message | str) -> Message:
    """``message`` with its first letter in upper case, in every language."""
    return Message(CAPITALIZED, capitalized=message)


def joined(parts: list[Message]) -> Message:
    """Several clauses as one, separated by semicolons."""
    result = parts[0]
    for part in parts[1:]:
        result = Message(N_("{first}; {then}"), first=result, then=part)
    return result


def render(
    message: Message | Mapping,
    translate: Callable[[str], str],
    number: Callable[[int], str],
) -> str:
    """A message (or its stored JSON) in a language: ``translate`` turns a
    template into the language's, ``number`` writes a whole number."""
    if isinstance(message, Message):
        return _render(message.id, message.params, translate, number)
    return _render(message["id"], message.get("params", {}), translate, number)


def _render(template: str, params: Mapping, translate, number) -> str:
    values = {}
    for name, value in params.items():
        if isinstance(value, Message):
            values[name] = _render(value.id, value.params, translate, number)
        elif isinstance(value, dict):  # a message, as stored
            values[name] = _render(value["id"], value.get("params", {}), translate, number)
        elif isinstance(value, int) and not isinstance(value, bool):
            values[name] = number(value)
        else:
            values[name] = value
    if template == CAPITALIZED:
        text = str(values["capitalized"])
        return text[:1].upper() + text[1:]
    return translate(template).format(**values) if values else translate(template)


def _english(template: str) -> str:
    return template


def _english_number(value: int) -> str:
    return f"{value:,}"
