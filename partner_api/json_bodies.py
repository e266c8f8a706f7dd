"""The one way request bodies are read as JSON.

Python's parser accepts two things the service cannot use: nesting deep
enough to exhaust the interpreter's recursion limit (100,000 ``[`` is a
RecursionError, not a ValueError), and strings holding lone UTF-16
surrogates (``"\\ud800"``), which no UTF-8 database column can store. Both
are refused here, as a ``json.JSONDecodeError`` saying what is wrong, for
every reader of a request body: Flask's ``request.get_json`` (through the
app's JSON provider) and the webargs parser behind ``@blp.arguments``. Each
turns it into a 400 problem.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask.json.provider import DefaultJSONProvider
from webargs.core import missing
from webargs.flaskparser import FlaskParser, abort, is_json_request

# Far deeper than any body the API takes (a device order is 3 levels).
MAX_DEPTH = 32


class UnusableJson(json.JSONDecodeError):
    """Valid JSON syntax the service refuses (too deep, lone surrogates)."""


def loads(data: str | bytes | bytearray) -> Any:
    """``json.loads``, refusing over-deep nesting and lone surrogates."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise _unusable(
            data, f"The JSON is nested too deeply; at most {MAX_DEPTH} levels are accepted."
        ) from None
    problem = _find_problem(value, strings=_may_hold_lone_surrogates(data))
    if problem:
        raise _unusable(data, problem)
    return value


def _unusable(data: str | bytes | bytearray, message: str) -> UnusableJson:
    # webargs reads an empty ``doc`` as "no body": keep it non-empty.
    doc = data if isinstance(data, str) else bytes(data[:200]).decode("utf-8", "replace")
    return UnusableJson(message, doc or " ", 0)


# In ASCII text a lone surrogate can only come from an escape of one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


def _may_hold_lone_surrogates(data: str | bytes | bytearray) -> bool:
    if not data.isascii():
        return True
    if isinstance(data, str):
        return _SURROGATE_ESCAPE.search(data) is not None
    return _SURROGATE_ESCAPE_BYTES.search(data) is not None


def _find_problem(value: Any, *, strings: bool = True) -> str | None:
    """What is wrong with a parsed document, walked without recursion; its
    strings are looked at only when ``strings`` (the text may hold a lone
    surrogate), which for a large order is most of the walk."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _has_lone_surrogate(item):
                return (
                    "The JSON holds a lone UTF-16 surrogate escape (such as \\ud800) that is "
                    "not part of a pair; send the text as valid Unicode."
                )
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                return f"The JSON is nested too deeply; at most {MAX_DEPTH} levels are accepted."
            children = item.items() if isinstance(item, dict) else ((None, v) for v in item)
            for key, child in children:
                if key is not None and strings:
                    stack.append((key, depth))
                if strings or isinstance(child, dict | list):
                    stack.append((child, depth + 1))
    return None


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class JsonProvider(DefaultJSONProvider):
    """The app's JSON provider: ``request.get_json`` parses with ``loads`` above."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)


class ArgumentsParser(FlaskParser):
    """The webargs parser behind ``@blp.arguments``, parsing with ``loads`` above."""

    def _raw_load_json(self, req) -> Any:
        if not is_json_request(req):
            return missing
        data = req.get_data(cache=True)
        if not data:
            return missing
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _unusable(data, f"The body is not UTF-8: {exc.reason}.") from exc
        return loads(text)

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        reason = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
        abort(400, exc=error, messages={"json": [f"The body is not usable JSON: {reason}"]})


def describe(failure: BaseException) -> str:
    """What a person reads about a body that could not be parsed: the
    parser's reason, found along the exception chain (``request.get_json``
    wraps it in a BadRequest)."""
    error: BaseException | None = failure
    while error is not None and not isinstance(error, ValueError):
        error = error.__cause__ or error.__context__
    if isinstance(error, UnusableJson):
        return error.msg
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} (line {error.lineno}, column {error.colno}). Check quotes and commas."
    return "Check quotes and commas."
