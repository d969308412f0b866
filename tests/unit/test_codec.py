from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from storage.base import encode_json_each_row
from storage.codec import decode_json_compact


def test_decodes_exact_decimals_big_integers_and_datetimes() -> None:
    payload = b"""{"meta": [{"name": "c", "type": "Decimal(38, 12)"}, {"name": "n", "type": "UInt64"},
    {"name": "t", "type": "DateTime64(3, 'UTC')"}, {"name": "s", "type": "LowCardinality(String)"},
    {"name": "f", "type": "Float64"}],
    "data": [["0.000000000001", "18446744073709551615", "2026-11-21T10:00:00.123Z", "x", 1.5]], "rows": 1}"""
    assert decode_json_compact(payload) == [
        {
            "c": Decimal("0.000000000001"),
            "n": 18446744073709551615,
            "t": datetime(2026, 11, 21, 10, 0, 0, 123000, tzinfo=UTC),
            "s": "x",
            "f": 1.5,
        }
    ]


def test_empty_result_is_no_rows() -> None:
    assert decode_json_compact(b"") == []


def test_rows_encode_decimals_as_exact_strings() -> None:
    body = encode_json_each_row([{"a": Decimal("0.100000000001"), "b": 1}, {"a": Decimal(0), "b": 2}])
    assert body == b'{"a":"0.100000000001","b":1}\n{"a":"0","b":2}'
