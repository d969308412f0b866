"""What SQL the store serves: the statement shapes the roles send, nothing else.

`tallystream-store` runs the embedded engine for local worker and views processes. Its engine
already runs without file, URL, remote or other source grants (storage/chdb_access.py); this is the
second fence, in the server, before a statement reaches the engine:

- `/v1/query` takes one `SELECT` (or `WITH ... SELECT`) statement;
- `/v1/execute` takes the schema statements of schemas/ (`CREATE DATABASE|TABLE|MATERIALIZED VIEW
  IF NOT EXISTS`, `ALTER TABLE ... ADD COLUMN IF NOT EXISTS`, `DROP VIEW IF EXISTS`), tables on
  MergeTree engines only;
- in both, no table function (`file(...)`, `url(...)`, `remote(...)`, `s3(...)`, `executable(...)` ...),
  no scalar `file(...)`, no `INTO OUTFILE` / `FROM INFILE`, no `SETTINGS`, no `system.` tables, no
  second statement, and none of the lexical forms the roles never write (comments, quoted
  identifiers, heredocs, non-ASCII outside strings), so this lexer and the engine's cannot disagree
  on where a string ends;
- placeholders `{name:Type}` in a strict grammar only (a literal inside a type holds no quote,
  backslash or brace, so a placeholder ends where the engine ends it), never of type `Identifier`
  (its value would be a name, e.g. `system.processes`); every value travels as a server-side
  parameter, never in the text.

Pure functions: `check_query(sql)` / `check_execute(sql)` raise `RefusedStatement` naming the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final


class RefusedStatement(ValueError):
    """A statement outside what the store serves."""


# Table functions of ClickHouse 26.9 (chDB 4.4); the store adds the engine's own list at start.
_TABLE_FUNCTION_NAMES: Final = (
    "SQLStandardValues arrowstream azureBlobStorage azureBlobStorageCluster bigquery cluster clusterAllReplicas "
    "cosn deltaLake deltaLakeAzure deltaLakeAzureCluster deltaLakeCluster deltaLakeLocal deltaLakeS3 "
    "deltaLakeS3Cluster dictionary eval executable file fileCluster filesystem format fuzzJSON fuzzQuery gcs "
    "generateRandom generateSeries generate_series hdfs hdfsCluster hudi hudiCluster iceberg icebergAzure "
    "icebergAzureCluster icebergCluster icebergHDFS icebergHDFSCluster icebergLocal icebergLocalCluster icebergS3 "
    "icebergS3Cluster input jdbc loop merge mergeTreeAnalyzeIndexes mergeTreeAnalyzeIndexesUUID "
    "mergeTreeCodecBlockCounts mergeTreeIndex mergeTreeProjection mergeTreeTextIndex mongodb mysql null numbers "
    "numbers_mt odbc oss paimon paimonAzure paimonAzureCluster paimonCluster paimonHDFS paimonHDFSCluster "
    "paimonLocal paimonS3 paimonS3Cluster postgresql primes prometheusQuery prometheusQueryRange python redis "
    "remote remoteSecure s3 s3Cluster sqlite timeSeriesData timeSeriesMetricFamilies timeSeriesMetrics "
    "timeSeriesSamples timeSeriesSelector timeSeriesTags url urlCluster values view viewExplain viewIfPermitted "
    "ytsaurus zeros zeros_mt"
)
TABLE_FUNCTIONS: Final = frozenset(name.lower() for name in _TABLE_FUNCTION_NAMES.split())
# Scalar functions that reach outside the engine (`file('/etc/passwd')` reads the file into a string).
OUTSIDE_FUNCTIONS: Final = frozenset({"file", "url", "executable", "dictget", "joinget", "getsetting"})
# Words the roles never use that open files, change settings or name another statement.
REFUSED_WORDS: Final = frozenset({"outfile", "infile", "settings", "function", "format", "into", "system"})
REFUSED_DATABASES: Final = frozenset({"system", "information_schema"})
MERGE_TREE_ENGINES: Final = frozenset(
    {"MergeTree", "ReplacingMergeTree", "SummingMergeTree", "AggregatingMergeTree", "CollapsingMergeTree"}
)
MAX_SQL_CHARS: Final = 1_000_000


@dataclass(frozen=True)
class Token:
    kind: str  # word, string, number, param, punct
    text: str


# A placeholder's type, in pieces both lexers read alike: names, integers (a `-` only right before a
# digit, so never `--`), `( ) , =`, and whole string literals holding no quote, backslash or brace, so a
# placeholder ends at the `}` the engine ends it at (`{x:Enum8('}'=1)}` would not).
_TYPE_PIECE: Final = r"[A-Za-z_][A-Za-z0-9_]*|-?[0-9]+|'[^'\\{}\r\n]*'(?!')|[(),=]|[ \t\r\n]+"
_PARAM: Final = re.compile(
    rf"\{{[ \t\r\n]*(?P<name>[A-Za-z_][A-Za-z0-9_]*)[ \t\r\n]*:(?P<type>(?:{_TYPE_PIECE})+)\}}", re.ASCII
)
_TYPE_WORD: Final = re.compile(r"'[^']*'|(?P<word>[A-Za-z_][A-Za-z0-9_]*)", re.ASCII)
REFUSED_PARAM_TYPES: Final = frozenset({"identifier"})
"""`{t:Identifier}` makes its value a name (`system.processes`), not data: the roles never use it."""

_LEXER: Final = re.compile(
    rf"""
    (?P<space>\s+)
    | (?P<string>'(?:[^'\\]|\\.|'')*')
    | (?P<param>{_PARAM.pattern})
    | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<comment>--|/\*|\#)
    | (?P<punct>[(),.;=<>!+\-*/%\[\]:?|&^~])
    """,
    re.VERBOSE | re.DOTALL | re.ASCII,
)


def check_placeholder(text: str) -> None:
    """Refuse a `{name:Type}` placeholder whose type is outside the strict grammar or names code."""
    match = _PARAM.fullmatch(text)
    if match is None:
        raise RefusedStatement(f"placeholder {text[:100]!r} is outside the served grammar")
    for piece in _TYPE_WORD.finditer(match["type"]):
        if (piece["word"] or "").lower() in REFUSED_PARAM_TYPES:
            raise RefusedStatement(f"placeholder type {piece['word']} is refused by the store")


def tokenize(sql: str) -> list[Token]:
    """The tokens of `sql`; anything outside the plain forms the roles write is refused."""
    if len(sql) > MAX_SQL_CHARS:
        raise RefusedStatement(f"statement longer than {MAX_SQL_CHARS} characters")
    tokens: list[Token] = []
    pos = 0
    while pos < len(sql):
        match = _LEXER.match(sql, pos)
        if match is None and sql[pos] == "{":
            check_placeholder(sql[pos : sql.find("}", pos) + 1 or len(sql)])
        if match is None:
            raise RefusedStatement(f"unexpected character {sql[pos]!r} at {pos} (quoted names, heredocs refused)")
        kind = match.lastgroup or ""
        if kind == "comment":
            raise RefusedStatement("comments are refused")
        if kind == "param":
            check_placeholder(match.group())
        if kind != "space":
            tokens.append(Token(kind, match.group()))
        pos = match.end()
    return tokens


def _code(tokens: Sequence[Token]) -> list[Token]:
    """Tokens that are SQL, not data: string literals dropped."""
    return [t for t in tokens if t.kind != "string"]


def _check_common(tokens: Sequence[Token], refused_functions: Iterable[str]) -> None:
    refused = {name.lower() for name in refused_functions} | TABLE_FUNCTIONS | OUTSIDE_FUNCTIONS
    code = _code(tokens)
    if not code:
        raise RefusedStatement("empty statement")
    semicolons = [i for i, t in enumerate(code) if t.text == ";"]
    if semicolons and semicolons != [len(code) - 1]:
        raise RefusedStatement("one statement per request")
    for i, token in enumerate(code):
        if token.kind != "word":
            continue
        word = token.text.lower()
        following = code[i + 1].text if i + 1 < len(code) else ""
        if following == "(" and word in refused:
            raise RefusedStatement(f"function {token.text}() is refused by the store")
        if word in REFUSED_WORDS:
            raise RefusedStatement(f"{token.text.upper()} is refused by the store")
        if following == "." and word in REFUSED_DATABASES:
            raise RefusedStatement(f"the {token.text} database is refused by the store")


def _words(tokens: Sequence[Token], n: int) -> list[str]:
    return [t.text.upper() for t in _code(tokens)[:n]]


def check_query(sql: str, refused_functions: Iterable[str] = ()) -> None:
    """Accept one SELECT statement (optionally with a WITH clause); raise RefusedStatement otherwise."""
    tokens = tokenize(sql)
    _check_common(tokens, refused_functions)
    if _words(tokens, 1)[0] not in {"SELECT", "WITH"}:
        raise RefusedStatement("only SELECT statements are served on /v1/query")


def _qualified_name(code: Sequence[Token], at: int) -> int:
    """Check `database.table` at `at` in `code`; return the index after it."""
    shape = [t.kind for t in code[at : at + 3]]
    if shape != ["word", "punct", "word"] or code[at + 1].text != ".":
        raise RefusedStatement("schema statements name their table as database.table")
    return at + 3


_SCHEMA_PREFIXES: Final = (
    ("CREATE", "DATABASE", "IF", "NOT", "EXISTS"),
    ("CREATE", "TABLE", "IF", "NOT", "EXISTS"),
    ("CREATE", "MATERIALIZED", "VIEW", "IF", "NOT", "EXISTS"),
    ("ALTER", "TABLE"),
    ("DROP", "VIEW", "IF", "EXISTS"),
)


def check_execute(sql: str, refused_functions: Iterable[str] = ()) -> None:
    """Accept the schema statements of schemas/; raise RefusedStatement otherwise."""
    tokens = tokenize(sql)
    code = _code(tokens)
    words = [t.text.upper() for t in code]
    prefix = next((p for p in _SCHEMA_PREFIXES if tuple(words[: len(p)]) == p), None)
    if prefix is None:
        raise RefusedStatement(
            "only CREATE DATABASE/TABLE/MATERIALIZED VIEW IF NOT EXISTS, ALTER TABLE ... ADD COLUMN IF NOT EXISTS "
            "and DROP VIEW IF EXISTS are served on /v1/execute"
        )
    if prefix[1] == "DATABASE":
        if len(code) != len(prefix) + 1 or code[-1].kind != "word":
            raise RefusedStatement("CREATE DATABASE takes a database name only")
        return
    after = _qualified_name(code, len(prefix))
    if prefix[0] == "ALTER" and words[after : after + 5] != ["ADD", "COLUMN", "IF", "NOT", "EXISTS"]:
        raise RefusedStatement("ALTER TABLE is served for ADD COLUMN IF NOT EXISTS only")
    if prefix[0] == "DROP" and after != len(code):
        raise RefusedStatement("DROP VIEW IF EXISTS takes a view name only")
    if prefix[1] == "MATERIALIZED":
        if words[after : after + 1] != ["TO"] or "ENGINE" in words:
            raise RefusedStatement("a materialized view writes TO a table of the schema")
        _qualified_name(code, after + 1)
    if prefix[1] == "TABLE" and prefix[0] == "CREATE":
        engines = [i for i, w in enumerate(words) if w == "ENGINE"]
        engine = code[engines[0] + 2].text if len(engines) == 1 and len(code) > engines[0] + 2 else ""
        if len(engines) != 1 or words[engines[0] + 1] != "=" or engine not in MERGE_TREE_ENGINES:
            raise RefusedStatement(f"tables use one of the engines {sorted(MERGE_TREE_ENGINES)}")
    # the schema's engines take their arguments as code: MergeTree family names are not functions here
    _check_common(tokens, refused_functions)
