"""Arrow schemas derived from the DDL's column declarations; batches built, conformed and framed."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from schemas.arrow import TABLE_SCHEMAS, arrow_schema, arrow_table, arrow_type, conform, split_arguments
from schemas.ddl import EVENTS_COLUMNS
from schemas.rollups import ROLLUP_COLUMNS
from storage.arrow_batches import (
    UnknownArrowTable,
    from_ipc_stream,
    insert_select_sql,
    prepare_batch,
    table_schema,
    to_ipc_stream,
)


@pytest.mark.parametrize(
    ("ch_type", "expected"),
    [
        ("LowCardinality(String)", pa.string()),
        ("UUID", pa.string()),
        ("DateTime64(3, 'UTC')", pa.timestamp("ms", "UTC")),
        ("DateTime('UTC')", pa.timestamp("s", "UTC")),
        ("Decimal(38, 12)", pa.decimal128(38, 12)),
        ("Decimal(76, 20)", pa.decimal256(76, 20)),
        ("UInt64", pa.uint64()),
        ("Int8", pa.int8()),
        ("Array(UInt64)", pa.list_(pa.field("item", pa.uint64(), nullable=False))),
        ("Array(Nullable(String))", pa.list_(pa.field("item", pa.string(), nullable=True))),
        (
            "Map(LowCardinality(String), Float64)",
            pa.map_(pa.string(), pa.field("value", pa.float64(), nullable=False)),
        ),
    ],
)
def test_clickhouse_types_map_to_the_arrow_types_the_arrow_format_reads(ch_type: str, expected: pa.DataType) -> None:
    assert arrow_type(ch_type) == expected


@pytest.mark.parametrize("ch_type", ["Enum8('a' = 1)", "DateTime64(3, 'UTC'); DROP", "Decimal(x, 2)", "Tuple(String)"])
def test_unsupported_types_are_named(ch_type: str) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        arrow_type(ch_type)


def test_arguments_split_at_the_top_level_only() -> None:
    assert split_arguments("LowCardinality(String), Map(String, Array(UInt8))") == [
        "LowCardinality(String)",
        "Map(String, Array(UInt8))",
    ]


def test_the_table_schemas_follow_the_ddl_declarations_column_for_column() -> None:
    for table, columns in (("events", EVENTS_COLUMNS), ("rollups", ROLLUP_COLUMNS)):
        schema = TABLE_SCHEMAS[table]
        assert schema.names == [name for name, _ in columns]
        assert [f.type for f in schema] == [arrow_type(t) for _, t in columns]
        assert not any(f.nullable for f in schema)  # no Nullable column in either table
    events = TABLE_SCHEMAS["events"]
    assert events.field("cost_usd").type == pa.decimal128(38, 12)
    assert events.field("ts").type == pa.timestamp("ms", "UTC")
    assert events.field("properties").type == pa.map_(pa.string(), pa.field("value", pa.string(), nullable=False))


SMALL = arrow_schema(
    (
        ("name", "LowCardinality(String)"),
        ("cost", "Decimal(38, 12)"),
        ("at", "DateTime64(3, 'UTC')"),
        ("tags", "Map(String, String)"),
        ("buckets", "Array(UInt64)"),
    )
)
AT = datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=UTC)


def test_a_batch_is_built_from_column_lists_with_exact_values() -> None:
    batch = arrow_table(
        SMALL,
        {
            "buckets": [[1, 2**64 - 1]],
            "name": ["Zoë 🚀"],
            "cost": [Decimal("12345678901234567890123456.000000000001")],
            "at": [AT],
            "tags": [{"k": "v"}],
        },
    )
    assert batch.schema == SMALL
    assert batch.to_pylist() == [
        {
            "name": "Zoë 🚀",
            "cost": Decimal("12345678901234567890123456.000000000001"),
            "at": AT,
            "tags": [("k", "v")],
            "buckets": [1, 2**64 - 1],
        }
    ]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"name": ["a"]}, "missing"),
        ({"name": ["a"], "cost": [1], "at": [AT], "tags": [{}], "buckets": [[]], "x": [1]}, "unexpected"),
        ({"name": [None], "cost": [Decimal(1)], "at": [AT], "tags": [{}], "buckets": [[]]}, "name holds nulls"),
        ({"name": ["a"], "cost": [Decimal(1)], "at": [AT], "tags": [{}], "buckets": [[-1]]}, "buckets"),
        ({"name": ["a"], "cost": [Decimal("0.1234567890123")], "at": [AT], "tags": [{}], "buckets": [[]]}, "cost"),
        ({"name": ["a"], "cost": [Decimal(1)], "at": [AT], "tags": [{"k": None}], "buckets": [[]]}, "tags"),
    ],
)
def test_a_column_that_does_not_fit_is_named(columns: dict[str, list[object]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        arrow_table(SMALL, columns)


def test_conform_orders_and_casts_without_loss_and_refuses_lossy_casts() -> None:
    loose = pa.table(
        {
            "buckets": pa.array([[3]], pa.list_(pa.int64())),
            "tags": pa.array([[("k", "v")]], pa.map_(pa.large_string(), pa.large_string())),
            "at": pa.array([AT], pa.timestamp("us", "UTC")),
            "cost": pa.array([Decimal("1.5")], pa.decimal128(10, 2)),
            "name": pa.array(["a"], pa.large_string()),
        }
    )
    fitted = conform(loose, SMALL)
    assert fitted.schema == SMALL
    assert fitted.to_pylist()[0]["buckets"] == [3] and fitted.to_pylist()[0]["cost"] == Decimal("1.5")
    lossy = loose.set_column(0, "buckets", pa.array([[-3]], pa.list_(pa.int64())))
    with pytest.raises(ValueError, match="buckets"):
        conform(lossy, SMALL)
    with pytest.raises(ValueError, match="duplicate"):
        conform(pa.table([pa.array([1]), pa.array([2])], names=["name", "name"]), SMALL)


def test_only_the_arrow_tables_of_a_database_take_batches() -> None:
    assert table_schema("db.events") is TABLE_SCHEMAS["events"]
    assert table_schema("db.rollups") is TABLE_SCHEMAS["rollups"]
    with pytest.raises(UnknownArrowTable, match="alert_events"):
        table_schema("db.alert_events")
    for bad in ("events", "a.b.c", "db.ev ents", "db.`events`"):
        with pytest.raises(ValueError):
            table_schema(bad)
    with pytest.raises(TypeError):
        prepare_batch("db.events", [{"tenant_id": "x"}])  # type: ignore[arg-type]


def test_the_insert_names_its_columns() -> None:
    sql = insert_select_sql("db.rollups", ["tenant_id", "events"], "batch")
    assert sql == "INSERT INTO db.rollups (tenant_id, events) SELECT tenant_id, events FROM Python(batch)"
    with pytest.raises(ValueError):
        insert_select_sql("db.rollups", ["events) SELECT 1 --"], "batch")


def test_ipc_stream_round_trip_and_malformed_streams() -> None:
    batch = arrow_table(
        SMALL, {"name": ["a"], "cost": [Decimal("2.000000000001")], "at": [AT], "tags": [{}], "buckets": [[]]}
    )
    assert from_ipc_stream(to_ipc_stream(batch)).equals(batch)
    body = to_ipc_stream(batch)
    for bad in (b"", b"not arrow at all", body[: len(body) // 2], body[:8] + b"\xff" * 64):
        with pytest.raises(ValueError, match="Arrow IPC stream"):
            from_ipc_stream(bad)
