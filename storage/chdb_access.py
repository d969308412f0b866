"""The embedded engine's own fence, for the engine `tallystream-store` serves to other processes.

chDB runs as ClickHouse's `default` user, which by default holds every grant: `file()`, `url()`,
`remote()`, `s3()` and the other sources, `DROP`, `SYSTEM` ... chDB takes a ClickHouse config file
(`config-file=` in its connection string) whose `users_config` replaces that user: here it holds only
what the roles need on tallystream's database (read, insert, create the schema, add columns, replace
a view), so the engine itself answers ACCESS_DENIED to `file('/etc/passwd')`, `url(...)`,
`remote(...)`, `s3(...)`, `INSERT INTO FUNCTION file(...)`, `CREATE TABLE ... ENGINE = File(...)`,
and to any other database. Introspection and experimental `eval` stay off and cannot be `SET` on.

Not covered by grants in chDB 26.9 (checked): the scalar `file(path)` function and
`SELECT ... INTO OUTFILE`; the store refuses those before the engine (storage/sql_guard.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final
from xml.sax.saxutils import escape

from schemas.ddl import check_identifier

ACCESS_DIR: Final = "engine-access"
"""Folder under the data folder holding the config the engine is started with (rewritten each start)."""

ROLE_GRANTS: Final = (
    "SELECT, INSERT, CREATE DATABASE, CREATE TABLE, CREATE VIEW, ALTER ADD COLUMN, DROP VIEW,"
    " ALTER MATERIALIZE COLUMN, ALTER MODIFY COLUMN, ALTER DROP COLUMN, ALTER RENAME COLUMN"  # the store's own upgrades
)
"""What the worker and views roles do over the wire: queries, inserts, the schema of schemas/."""

_PINNED_SETTINGS: Final = {
    "allow_introspection_functions": 0,
    "allow_experimental_eval_table_function": 0,
    "allow_ddl": 1,
    "readonly": 0,
}
"""Settings fixed by a constraint: a query cannot SET them otherwise."""


def render_users_xml(database: str) -> str:
    """The users config: the `default` user with the roles' grants on `database` only."""
    db = check_identifier(database)
    values = "".join(f"<{name}>{value}</{name}>" for name, value in _PINNED_SETTINGS.items())
    constraints = "".join(f"<{name}><const/></{name}>" for name in _PINNED_SETTINGS)
    return (
        "<clickhouse>\n"
        f"  <profiles><default>{values}<constraints>{constraints}</constraints></default></profiles>\n"
        "  <users><default>\n"
        "    <password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks>\n"
        "    <profile>default</profile><quota>default</quota>\n"
        f"    <grants><query>GRANT {ROLE_GRANTS} ON {db}.*</query></grants>\n"
        "  </default></users>\n"
        "  <quotas><default/></quotas>\n"
        "</clickhouse>\n"
    )


def write_engine_config(data_path: Path, database: str) -> Path:
    """Write the engine's config under `data_path`; return the path to pass as `config-file`."""
    folder = data_path / ACCESS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    users = folder / "users.xml"
    users.write_text(render_users_xml(database))
    config = folder / "config.xml"
    config.write_text(f"<clickhouse>\n  <users_config>{escape(str(users.resolve()))}</users_config>\n</clickhouse>\n")
    return config.resolve()
