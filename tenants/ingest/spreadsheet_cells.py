"""Cells that a spreadsheet program would run as formulas, made inert in every
CSV file the service writes, and given back as they were when such a file is
uploaded again.

A partner's values reach other people's spreadsheets: a customer downloads
the failed rows of an order a partner submitted. Excel, LibreOffice and
Google Sheets read a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return as a formula (``=HYPERLINK(...)`` sends data away,
``+cmd|' /C calc'!A0`` runs a program). OWASP's rule: put a single quote in
front, which the spreadsheet shows as text. Files are also written with every
cell in double quotes, so a reader that splits on another separator
(semicolons, in many locales) cannot cut a cell into a formula.

``neutralise`` also quotes a cell that already starts with quotes followed by
one of those characters, so that ``restore`` (remove one leading quote from
exactly such a cell) returns every value unchanged: "download, fix,
re-upload" registers the values the partner first sent.
"""

from __future__ import annotations

import re

# What makes a spreadsheet read a cell as a formula, at its start.
FORMULA_STARTS = "=+-@\t\r"

_NEEDS_QUOTE = re.compile(f"'*[{re.escape(FORMULA_STARTS)}]")
_QUOTE_WE_ADDED = re.compile(f"'+[{re.escape(FORMULA_STARTS)}]")


# The first characters of the cells ``neutralise`` may change (most start otherwise).
_FIRST = frozenset(FORMULA_STARTS + "'")


def neutralise(cell: str) -> str:
    """The cell as a spreadsheet will show it as text, never run it."""
    if not cell or cell[0] not in _FIRST:
        return cell
    return "'" + cell if _NEEDS_QUOTE.match(cell) else cell


def restore(cell: str) -> str:
    """The value ``neutralise`` was given: one leading quote fewer on a cell
    that starts with quotes and then a formula character; others unchanged."""
    return cell[1:] if _QUOTE_WE_ADDED.match(cell) else cell
