"""The store's statement allowlist (storage/sql_guard.py), its Host check and its token file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from deploy.store import StoreSettings, allowed_host_names, host_allowed
from storage.factory import WarehouseSettings, schema_statements
from storage.sql_guard import RefusedStatement, check_execute, check_query
from storage.store_token import ensure_token_file, read_token_file


def test_the_whole_schema_passes() -> None:
    statements = schema_statements(WarehouseSettings(database="tallystream", clickhouse_url=None))
    assert len(statements) > 20
    for statement in statements:
        check_execute(statement)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT tenant_id, sum(cost_usd) AS c FROM db.events FINAL WHERE tenant_id = {t:String} GROUP BY tenant_id",
        "WITH toStartOfDay(ts) AS d SELECT d, count() AS n FROM db.events WHERE event_id IN {ids:Array(UUID)} GROUP BY d",
        "SELECT 'file(''/etc/passwd'')' AS text_not_code, arrayJoin([1, 2]) AS x",
        "SELECT 1 AS x;",
    ],
)
def test_the_roles_queries_pass(sql: str) -> None:
    check_query(sql)


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT * FROM file('/etc/passwd', 'LineAsString')", "file()"),
        ("SELECT * FROM FILE ('/etc/passwd')", "FILE()"),
        ("SELECT file('/etc/passwd') AS f", "file()"),
        ("SELECT * FROM db.t, url('http://x/', CSV)", "url()"),
        ("SELECT * FROM remoteSecure('h', db.t)", "remoteSecure()"),
        ("SELECT * FROM s3Cluster('c', 'http://x')", "s3Cluster()"),
        ("SELECT * FROM python(x)", "python()"),
        ("SELECT * FROM newSource('x')", "newSource()"),  # refused when the engine lists it at start
        ("SELECT 1 INTO OUTFILE '/tmp/x'", "INTO"),
        ("SELECT 1 FORMAT CSV", "FORMAT"),
        ("SELECT 1 SETTINGS readonly = 0", "SETTINGS"),
        ("SELECT * FROM system.users", "SYSTEM"),
        ("SELECT * FROM information_schema.tables", "information_schema"),
        ("SELECT 1; SELECT 2", "one statement"),
        ("SELECT 1 -- ' \n, file('/etc/passwd')", "comments"),
        ("SELECT 1 /* ' */, file('/etc/passwd')", "comments"),
        ("SELECT 1 # '\n, file('/etc/passwd')", "comments"),
        ("SELECT `file`('/etc/passwd')", "unexpected character"),
        ("SELECT \"file\"('/etc/passwd')", "unexpected character"),
        ("SELECT $$x$$", "unexpected character"),
        ("SELECT 'unterminated", "unexpected character"),
        ("DESCRIBE TABLE db.t", "only SELECT"),
        ("INSERT INTO db.t SELECT 1", "INTO"),
        ("", "empty"),
        ("SELECT " + "1," * 600_000 + "1", "longer than"),
    ],
)
def test_queries_reaching_outside_are_refused(sql: str, reason: str) -> None:
    with pytest.raises(RefusedStatement, match=reason.replace("(", r"\(").replace(")", r"\)")):
        check_query(sql, {"newsource"})


# Placeholders of every type the roles write, and legitimate literals in a type.
ROLE_PLACEHOLDERS = (
    "{t:String}",
    "{ids:Array(UUID)}",
    "{names:Array(String)}",
    "{since:DateTime}",
    "{since:DateTime64(3)}",
    "{limit:UInt32}",
    "{ t : String }",
    "{at:DateTime64(3, 'UTC')}",
    "{e:Enum8('a' = 1, 'b' = -2)}",
    "{m:Map(String, Nullable(UInt8))}",
)


@pytest.mark.parametrize("placeholder", ROLE_PLACEHOLDERS)
def test_placeholders_of_the_roles_shapes_pass(placeholder: str) -> None:
    check_query(f"SELECT {placeholder} AS v FROM db.events WHERE tenant_id = {{t:String}}")


# Placeholders whose type would let the engine end them elsewhere than this guard, or make a name.
PLACEHOLDER_EXPLOITS = (
    "SELECT {x:Enum8('}'=1)} AS a, file('/tmp/rev/secret.txt') AS b, {z:Enum8('{y:Enum8(', 'q')} AS c",
    "SELECT {x:Enum8('}'=1)} AS a INTO OUTFILE '/tmp/x' AND STDOUT --'",
    "SELECT {x:Enum8('}'=1)} AS a, 1 AS b --'",
    "SELECT count() AS n FROM {d:Identifier}.{t:Identifier}",
    "SELECT count() AS n FROM db.{t:identifier}",
    "SELECT count() AS n FROM {t: Identifier }",
    "SELECT {x:Enum8('{'=1)} AS a, {y:Enum8('}'=1)} AS b",
    "SELECT {x:Array({y:String})} AS a",
    "SELECT {x:Enum8('\\'}'=1)} AS a, file('/etc/passwd') AS b --'",
    "SELECT {x:Enum8('a\\'=1)} AS a",
    "SELECT {x:Enum8('a''}'=1)} AS a, file('/etc/passwd') AS b --'",
    "SELECT {x:Enum8(\u2018}\u2019=1)} AS a",
    "SELECT {x:String/* } */} AS a",
    "SELECT {x:String--}\n} AS a",
    "SELECT {x:String#}\n} AS a",
    "SELECT {x:Enum8('a'=1)--} AS a",
    "SELECT {x:Enum8('a\n}'=1)} AS a",
    "SELECT {x:String\u00a0} AS a",
    "SELECT {`x`:String} AS a",
    "SELECT {x:String",
)


@pytest.mark.parametrize("sql", PLACEHOLDER_EXPLOITS)
def test_placeholders_outside_the_strict_grammar_are_refused(sql: str) -> None:
    with pytest.raises(RefusedStatement, match="placeholder|unexpected character"):
        check_query(sql)


def test_non_ascii_outside_strings_is_refused() -> None:
    # the engine reads a non-ASCII byte as part of a name; this guard must not read it as a space
    with pytest.raises(RefusedStatement, match="unexpected character"):
        check_query("SELECT fi\u00a0le('/etc/passwd') AS a")
    check_query("SELECT 'caf\u00e9 \u2018quoted\u2019' AS a")


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE db.events",
        "DROP VIEW IF EXISTS db.v SYNC, file('/x')",
        "TRUNCATE TABLE db.events",
        "ALTER TABLE db.events DELETE WHERE 1",
        "ALTER TABLE db.events DROP COLUMN x",
        "CREATE TABLE IF NOT EXISTS db.f (a String) ENGINE = File(CSV, '/etc/passwd')",
        "CREATE TABLE IF NOT EXISTS db.f (a String) ENGINE = MergeTree ORDER BY a ENGINE = URL('x')",
        "CREATE TABLE IF NOT EXISTS db.f AS file('/etc/passwd')",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS db.v TO db.t AS SELECT * FROM file('/etc/passwd')",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS db.v ENGINE = Log AS SELECT 1",
        "CREATE DATABASE IF NOT EXISTS x ENGINE = MySQL('h', 'd', 'u', 'p')",
        "CREATE DICTIONARY db.d (a UInt8) PRIMARY KEY a SOURCE(FILE(path '/etc/passwd'))",
        "SYSTEM SHUTDOWN",
        "SELECT 1",
        "CREATE TABLE IF NOT EXISTS db.t (a UInt8) ENGINE = MergeTree ORDER BY a; DROP TABLE db.x",
        "CREATE TABLE IF NOT EXISTS t (a UInt8) ENGINE = MergeTree ORDER BY a",
    ],
)
def test_execute_refuses_anything_but_the_schema_shapes(sql: str) -> None:
    with pytest.raises(RefusedStatement):
        check_execute(sql)


def test_host_check_accepts_the_bound_loopback_names_only() -> None:
    names = allowed_host_names(StoreSettings(host="127.0.0.1", port=8123))
    assert host_allowed("127.0.0.1:8123", names, 8123)
    assert host_allowed("LOCALHOST:8123", names, 8123)
    for host in ("evil.test:8123", "127.0.0.1:8124", "127.0.0.1", "", "127.0.0.1:8123@evil", "[::1]:8123"):
        assert not host_allowed(host, names, 8123), host
    v6 = allowed_host_names(StoreSettings(host="::1", port=8123))
    assert host_allowed("[::1]:8123", v6, 8123)
    configured = allowed_host_names(StoreSettings(host="0.0.0.0", port=8123, allowed_hosts="store.internal, 10.0.0.5"))
    assert host_allowed("store.internal:8123", configured, 8123) and host_allowed("10.0.0.5:8123", configured, 8123)
    assert not host_allowed("127.0.0.1:8123", configured, 8123)


def test_a_non_loopback_bind_needs_allowed_hosts() -> None:
    with pytest.raises(ValueError, match="TALLY_STORE_ALLOWED_HOSTS"):
        allowed_host_names(StoreSettings(host="0.0.0.0", port=8123))


def test_the_token_file_is_made_once_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "chdb" / "store.token"
    token = ensure_token_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(token) >= 32 and ensure_token_file(path) == token == read_token_file(path)
    path.chmod(0o644)
    assert ensure_token_file(path) == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_weak_token_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.token"
    path.write_text("short\n")
    os.chmod(path, 0o600)
    with pytest.raises(ValueError, match="at least 16"):
        read_token_file(path)
