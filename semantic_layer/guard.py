"""Fail-closed SQL guard: only one read-only SELECT over the semantic layer's tables ever runs.

`check_sql` parses the query with sqlglot and rejects it unless every node of the tree, CTEs and
subqueries included, is something the guard knows to be safe. What it returns is not the input
string but the checked tree rendered again: tables fully qualified, columns qualified, stars
expanded to the allowed columns only, comments dropped, a LIMIT imposed. That rendering is parsed
and checked a second time in the target dialect, because transpiling can itself produce new SQL
(sqlglot renders a `date_diff` unit taken from a string literal unquoted for Databricks, and moves
the LIMIT into a subquery when it emulates DISTINCT ON). Result columns keep their aliases;
unaliased expressions get sqlglot's names (`_col_0`), so callers should alias what they compute.

Rules (`GuardRejection.rule`), in the order they are checked; functions and other syntax are
checked in one walk of the tree, so the first offending node decides between those two:

- `characters`: control, invisible format (zero-width, bidi override) or line-separator
  characters anywhere.
- `parse_error`: sqlglot cannot parse the text (fullwidth semicolons, homoglyph keywords,
  `EXPORT DATABASE`, which sqlglot does not know, all end here).
- `single_statement`: not exactly one statement; a comment after a final `;` counts as one.
- `no_dml`: DML, DDL or a command anywhere in the tree (INSERT … DELETE in a CTE, COPY, ATTACH,
  INSTALL, LOAD, PRAGMA, SET, CALL, USE, DESCRIBE, SHOW, SELECT … INTO, …).
- `select_only`: the root is not a SELECT or a UNION / INTERSECT / EXCEPT of them.
- `table_functions`: a function, LATERAL or an empty name in FROM (read_csv, glob, query,
  unnest, …).
- `file_paths`: a table name that is a path or URL (`FROM '/etc/passwd'`, Databricks
  ``csv.`/tmp/x` ``).
- `allowed_tables`: a table that is neither one of `allowed` nor a CTE in scope.
- `allowed_functions`: a function not on the allow-list below.
- `unsupported_syntax`: any other construct the guard does not list as safe (WITH RECURSIVE,
  parameters, lambdas, PIVOT, time travel, TABLESAMPLE, LIMIT … PERCENT, FETCH …), or a
  rendering for the target dialect that sqlglot cannot produce or that reads other tables or
  loses the outer LIMIT.
- `allowed_columns`: a column that is not one of its table's allowed columns, or is ambiguous.
- `limit`: a LIMIT that is not a plain non-negative integer.

LIMIT: added when absent; an existing LIMIT above `row_limit` is lowered to it. In both cases
`limit_added` is True, because in both cases a result of exactly `limit` rows may be cut short of
what the query asked for; a LIMIT at or under `row_limit` is kept and `limit_added` is False.

Function decisions: aggregates, arithmetic, date, string, conditional and window functions an
analyst needs are allowed (see `ALLOWED_FUNCTIONS`). `current_date` and `current_timestamp` are
allowed (relative-date questions); `current_database`, `current_schema`, `current_user`,
`version` are not (they tell an attacker about the environment and answer no sales question).
`unnest(array)` in the select list is allowed (forecast arrays); in FROM it is a table function.
`list_avg` / `list_sum` are DuckDB-only and pass to Databricks unchanged (use `list_max`,
`array_length`, which sqlglot translates). Everything else, in particular getenv,
current_setting, duckdb_*, pg_*, read_*, glob, query, query_table, system, is rejected by not
being listed.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, OptimizeError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope

from salesgenie.errors import SalesgenieError, first_line

DEFAULT_CATALOG = "prd_sales"
DEFAULT_SCHEMA = "gold"

# Statements and statement parts that write, configure or reach outside the query.
STATEMENT_TYPES: tuple[type[exp.Expr], ...] = (
    exp.DML,  # Insert, Update, Delete, Merge, Copy
    exp.DDL,  # Create
    exp.Alter,
    exp.Analyze,
    exp.Attach,
    exp.Cache,
    exp.Command,  # LOAD, CALL, VACUUM, … — whatever sqlglot cannot parse in detail
    exp.Comment,
    exp.Commit,
    exp.Describe,
    exp.Detach,
    exp.Drop,
    exp.Export,
    exp.Grant,
    exp.Install,
    exp.Into,  # SELECT … INTO creates a table
    exp.Kill,
    exp.LoadData,
    exp.Pragma,
    exp.Refresh,
    exp.Revoke,
    exp.Rollback,
    exp.Set,
    exp.Show,
    exp.Summarize,
    exp.Transaction,
    exp.TruncateTable,
    exp.Uncache,
    exp.Use,
)

# Non-function nodes a read-only analytic query is made of; anything else is unsupported_syntax.
STRUCTURE_TYPES: tuple[type[exp.Expr], ...] = (
    exp.Select,
    exp.Union,
    exp.Intersect,
    exp.Except,
    exp.With,
    exp.CTE,
    exp.Subquery,
    exp.From,
    exp.Join,
    exp.Table,
    exp.TableAlias,
    exp.Values,
    exp.Tuple,
    exp.Column,
    exp.Identifier,
    exp.Star,
    exp.Alias,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Var,
    exp.DataType,
    exp.DataTypeParam,
    exp.Interval,
    exp.Where,
    exp.Group,
    exp.Having,
    exp.Qualify,
    exp.Order,
    exp.Ordered,
    exp.Limit,
    exp.Offset,
    exp.Distinct,
    exp.Window,
    exp.WindowSpec,
    exp.Filter,
    exp.IgnoreNulls,
    exp.RespectNulls,
    exp.WithinGroup,
    exp.Bracket,
    exp.Slice,
    exp.Paren,
    exp.Not,
    exp.Neg,
    exp.Between,
    exp.In,
    exp.Is,
    exp.Any,
    exp.All,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.IntDiv,
    exp.Mod,
    exp.DPipe,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.NullSafeEQ,
    exp.NullSafeNEQ,
    exp.Like,
    exp.ILike,
    exp.Escape,
)

ALLOWED_FUNCTIONS: frozenset[type[exp.Func]] = frozenset(
    {
        # aggregates
        exp.Count,
        exp.CountIf,
        exp.Sum,
        exp.Avg,
        exp.Min,
        exp.Max,
        exp.Median,
        exp.Quantile,
        exp.PercentileCont,
        exp.PercentileDisc,
        exp.Stddev,
        exp.StddevSamp,
        exp.StddevPop,
        exp.Variance,
        exp.VariancePop,
        exp.AnyValue,
        exp.First,
        exp.Last,
        exp.GroupConcat,  # string_agg, listagg
        exp.ArrayAgg,  # list, array_agg, collect_list
        exp.ArgMax,
        exp.ArgMin,
        exp.Corr,
        exp.Mode,
        exp.LogicalAnd,
        exp.LogicalOr,
        # math
        exp.Abs,
        exp.Round,
        exp.Floor,
        exp.Ceil,
        exp.Greatest,
        exp.Least,
        exp.Coalesce,  # also ifnull
        exp.Nullif,
        exp.Ln,
        exp.Log,
        exp.Exp,
        exp.Pow,
        exp.Sqrt,
        exp.Sign,
        # dates and times
        exp.DateTrunc,
        exp.TimestampTrunc,  # DuckDB's date_trunc
        exp.Extract,
        exp.Year,
        exp.Month,
        exp.Week,
        exp.WeekOfYear,
        exp.Quarter,
        exp.Day,
        exp.DayOfWeek,
        exp.DayOfWeekIso,
        exp.DayOfYear,
        exp.Dayname,
        exp.Monthname,
        exp.TimeToStr,  # strftime, date_format
        exp.StrToTime,  # strptime, to_timestamp
        exp.TimeStrToTime,  # how sqlglot reads Databricks' date_format argument
        exp.DateFromParts,  # make_date
        exp.CurrentDate,
        exp.CurrentTimestamp,
        exp.DateAdd,
        exp.TimestampAdd,  # how sqlglot reads Databricks' rendering of date_add
        exp.DateSub,
        exp.DateDiff,
        exp.LastDay,
        exp.TsOrDsToDate,  # to_date; Databricks' datediff reads its arguments through it
        exp.Cast,
        exp.TryCast,
        # strings
        exp.Lower,
        exp.Upper,
        exp.Trim,
        exp.Concat,
        exp.ConcatWs,
        exp.Contains,
        exp.StartsWith,
        exp.EndsWith,
        exp.Replace,
        exp.Substring,
        exp.Length,
        exp.RegexpLike,  # regexp_matches
        exp.RegexpReplace,
        exp.RegexpExtract,
        exp.Left,
        exp.Right,
        exp.SplitPart,
        exp.Pad,
        exp.StrPosition,
        # conditions
        exp.Case,
        exp.If,
        exp.And,
        exp.Or,
        exp.Exists,
        # windows
        exp.RowNumber,
        exp.Rank,
        exp.DenseRank,
        exp.PercentRank,
        exp.CumeDist,
        exp.Lag,
        exp.Lead,
        exp.Ntile,
        exp.FirstValue,
        exp.LastValue,
        exp.NthValue,
        # arrays (the forecast / actual columns of the evaluation output)
        exp.Array,
        exp.ArrayMin,
        exp.ArrayMax,
        exp.ArraySize,
        exp.Explode,  # unnest(...) in the select list
    }
)

# Functions sqlglot does not model, by lowercase name.
ALLOWED_ANONYMOUS: frozenset[str] = frozenset({"date_part", "list_avg", "list_sum", "now"})

# Databricks reads files through `format.`path``; a schema of that name is a file read.
FILE_FORMATS = frozenset(
    {"avro", "binaryfile", "csv", "delta", "iceberg", "jdbc", "json", "orc", "parquet", "text"}
)
PATH_CHARS = re.compile(r"[/\\.:]")
ALLOWED_CONTROL = frozenset("\t\n\r")


class _QuietCommandFallback(logging.Filter):
    """sqlglot warns on stderr when it parses e.g. LOAD as a bare command; the guard rejects it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Falling back to parsing as a 'Command'" not in record.getMessage()


logging.getLogger("sqlglot").addFilter(_QuietCommandFallback())


class GuardRejection(SalesgenieError):
    """The guard refused a query; `rule` says which check failed, the message says on what."""

    def __init__(self, rule: str, detail: str) -> None:
        self.rule = rule
        self.detail = detail
        super().__init__(f"rejected ({rule}): {detail}")


@dataclass(frozen=True)
class GuardedQuery:
    """The query that may run, as rendered for the target dialect, and what the guard did to it."""

    sql: str
    limit: int
    limit_added: bool  # True when the guard added or lowered the LIMIT: `limit` rows may be cut
    tables: frozenset[str]  # fully-qualified, lowercase


def check_sql(
    sql: str,
    allowed: Mapping[str, Collection[str]],
    *,
    dialect: str = "duckdb",
    read_dialect: str = "duckdb",
    row_limit: int = 10_000,
) -> GuardedQuery:
    """Check `sql` (written in `read_dialect`) and render it for `dialect`, or raise.

    `allowed` maps fully-qualified table names ("prd_sales.gold.sales_overall") to their
    columns; one- and two-part names in the query resolve to catalog prd_sales, schema gold.
    Accepted queries are remembered (the check is pure): a server answering the same questions
    again pays for parsing them once.
    """
    key = tuple((table, tuple(columns)) for table, columns in allowed.items())  # keeps order
    return _check_cached(sql, key, dialect, read_dialect, row_limit)


@functools.lru_cache(maxsize=4096)
def _check_cached(
    sql: str,
    allowed: tuple[tuple[str, tuple[str, ...]], ...],
    dialect: str,
    read_dialect: str,
    row_limit: int,
) -> GuardedQuery:
    schema = _schema(dict(allowed))
    query, tables = _check(sql, read_dialect, schema)
    limit, limit_added = _cap_limit(query, row_limit)
    try:
        rendered = query.sql(
            dialect=dialect, pretty=True, comments=False, unsupported_level=ErrorLevel.RAISE
        )
    except sqlglot.errors.SqlglotError as exc:
        raise GuardRejection(
            "unsupported_syntax", f"cannot render for {dialect}: {first_line(exc)}"
        ) from None
    try:
        again, again_tables = _check(rendered, dialect, schema)
        again_limit = _cap_limit(again, row_limit)
    except GuardRejection as exc:
        raise GuardRejection(exc.rule, f"{exc.detail} (in the {dialect} rendering)") from None
    if again_tables != tables:
        raise GuardRejection("unsupported_syntax", f"the {dialect} rendering reads other tables")
    if again_limit != (limit, False):
        raise GuardRejection(
            "unsupported_syntax", f"the {dialect} rendering does not keep LIMIT {limit} outermost"
        )
    return GuardedQuery(sql=rendered, limit=limit, limit_added=limit_added, tables=tables)


def _schema(allowed: Mapping[str, Collection[str]]) -> dict[str, dict[str, dict[str, dict]]]:
    """Nest `allowed` the way sqlglot's schema wants it; column types do not matter here."""
    schema: dict[str, dict[str, dict[str, dict]]] = {}
    for name, columns in allowed.items():
        catalog, db, table = name.lower().split(".")
        cols = {column.lower(): "UNKNOWN" for column in columns}
        schema.setdefault(catalog, {}).setdefault(db, {})[table] = cols
    return schema


def _check(sql: str, dialect: str, schema: dict) -> tuple[exp.Query, frozenset[str]]:
    """All rules but the LIMIT on one text; returns the qualified tree and the tables it reads."""
    _check_characters(sql)
    root = _parse_one(sql, dialect)
    _check_statements(root)
    if not isinstance(root, (exp.Select, exp.SetOperation)):
        raise GuardRejection("select_only", f"{_kind(root)} is not a SELECT query")
    root = normalize_identifiers(root, dialect=dialect)
    tables = _check_tables(root, schema)
    _check_nodes(root)
    return _qualify(root, dialect, schema), tables


def _check_characters(sql: str) -> None:
    for position, char in enumerate(sql):
        category = unicodedata.category(char)
        if category in ("Cf", "Zl", "Zp") or (category == "Cc" and char not in ALLOWED_CONTROL):
            name = unicodedata.name(char, "control character")
            raise GuardRejection(
                "characters", f"invisible character U+{ord(char):04X} ({name}) at {position}"
            )


def _parse_one(sql: str, dialect: str) -> exp.Expr:
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except Exception as exc:  # fail closed: whatever sqlglot cannot parse does not run
        raise GuardRejection("parse_error", first_line(exc)) from None
    if all(isinstance(s, exp.Semicolon) for s in statements):
        raise GuardRejection("single_statement", "no statement, only blanks or comments")
    if len(statements) != 1:
        raise GuardRejection(
            "single_statement", f"expected exactly one statement, found {len(statements)}"
        )
    return statements[0]


def _check_statements(root: exp.Expr) -> None:
    for node in root.walk():
        if isinstance(node, STATEMENT_TYPES):
            where = "" if node is root else " inside the query"
            raise GuardRejection(
                "no_dml", f"{_kind(node)}{where}: only read-only SELECT queries run"
            )
    if any(with_.args.get("recursive") for with_ in root.find_all(exp.With)):
        raise GuardRejection("unsupported_syntax", "WITH RECURSIVE")


def _check_tables(root: exp.Query, schema: dict) -> frozenset[str]:
    """Every table in every scope must be a CTE in scope or one of the allowed tables."""
    tables: set[str] = set()
    seen: set[int] = set()
    try:
        scopes = traverse_scope(root)
    except Exception as exc:  # fail closed: sources sqlglot cannot scope do not run
        raise GuardRejection("unsupported_syntax", first_line(exc)) from None
    for scope in scopes:
        for table in scope.tables:
            seen.add(id(table))
            if not _is_cte_reference(table, scope):
                tables.add(_resolve(table, schema))
    for node in root.walk():
        if isinstance(node, exp.UDTF) and isinstance(node.parent, (exp.From, exp.Join)):
            if not isinstance(node, exp.Values):
                raise GuardRejection("table_functions", f"{_source_name(node)} in FROM")
        elif isinstance(node, exp.Table) and id(node) not in seen:
            raise GuardRejection("allowed_tables", f"table {_snippet(node)} outside a FROM clause")
    return frozenset(tables)


def _is_cte_reference(table: exp.Table, scope: Scope) -> bool:
    return (
        isinstance(table.this, exp.Identifier)
        and not table.args.get("db")
        and not table.args.get("catalog")
        and table.name in scope.cte_sources
    )


def _resolve(table: exp.Table, schema: dict) -> str:
    """The fully-qualified name a table reads, once it is known to be neither file nor function."""
    if isinstance(table.this, exp.Func):
        raise GuardRejection("table_functions", f"{_source_name(table.this)} in FROM")
    if not isinstance(table.this, exp.Identifier):
        raise GuardRejection("allowed_tables", f"table {_snippet(table)} is not allowed")
    parts = [part.name for part in table.parts]
    written = ".".join(parts)
    if not table.name:
        raise GuardRejection("table_functions", f"table with an empty name {written!r}")
    if any(PATH_CHARS.search(part) or part.startswith("~") for part in parts) or (
        len(parts) == 2 and parts[0] in FILE_FORMATS
    ):
        raise GuardRejection("file_paths", f"{written!r} reads a file, not a table")
    full = ".".join([DEFAULT_CATALOG, DEFAULT_SCHEMA][: 3 - len(parts)] + parts)
    catalog, db, name = full.split(".")
    if name not in schema.get(catalog, {}).get(db, {}):
        known = ", ".join(
            f"{c}.{d}.{t}" for c, dbs in schema.items() for d, ts in dbs.items() for t in ts
        )
        raise GuardRejection("allowed_tables", f"table {written} is not allowed (allowed: {known})")
    return full


def _check_nodes(root: exp.Query) -> None:
    for node in root.walk():
        if isinstance(node, exp.Func):
            if isinstance(node, exp.Anonymous):
                allowed = node.name.lower() in ALLOWED_ANONYMOUS
            else:
                allowed = type(node) in ALLOWED_FUNCTIONS
            if not allowed:
                raise GuardRejection(
                    "allowed_functions", f"function {_function_name(node)}() is not allowed"
                )
        elif not isinstance(node, STRUCTURE_TYPES):
            raise GuardRejection("unsupported_syntax", f"{_kind(node)}: {_snippet(node)}")


def _qualify(root: exp.Query, dialect: str, schema: dict) -> exp.Query:
    """Qualify every column against the allowed columns (sqlglot's scope-aware resolution)."""
    try:
        return qualify(
            root,
            dialect=dialect,
            catalog=DEFAULT_CATALOG,
            db=DEFAULT_SCHEMA,
            schema=schema,
            validate_qualify_columns=True,
            identify=False,
        )
    except Exception as exc:  # fail closed: a query sqlglot cannot resolve does not run
        problem = _column_problem(str(exc), schema) if isinstance(exc, OptimizeError) else None
        if problem:
            raise GuardRejection("allowed_columns", problem) from None
        raise GuardRejection("unsupported_syntax", first_line(exc)) from None


def _column_problem(message: str, schema: dict) -> str | None:
    """sqlglot's column errors as one line naming the column; None for any other error."""
    if match := re.match(r"Column '(.*?)' could not be resolved( for table: '(.*?)')?", message):
        column, table = match.group(1), match.group(3)
        if table:
            return f"unknown column {table}.{column}"
        tables = [
            columns for dbs in schema.values() for ts in dbs.values() for columns in ts.values()
        ]
        if any(column in columns for columns in tables):  # sqlglot says the same if ambiguous
            return f"column {column} is ambiguous or not in its SELECT's tables: name its table"
        return f"unknown column {column}"
    if match := re.match(r"Unknown (?:output )?column: (\S+)", message):
        return f"unknown column {match.group(1)}"
    if match := re.match(r"Ambiguous column:? '?([^'\s]+)", message):
        return f"ambiguous column {match.group(1)}: name its table"
    if match := re.match(r"Cannot automatically join: (\S+)", message):
        return f"unknown join column {match.group(1)}"
    if match := re.match(r"Unknown table: (\S+)", message):
        return f"{match.group(1)} is not a table of the query"
    return None


def _cap_limit(query: exp.Query, row_limit: int) -> tuple[int, bool]:
    """Impose LIMIT `row_limit` unless a smaller plain one is there; True when imposed."""
    current = query.args.get("limit")
    if current is None:
        query.set("limit", exp.Limit(expression=exp.Literal.number(row_limit)))
        return row_limit, True
    value = current.expression if isinstance(current, exp.Limit) else None
    if not (
        isinstance(value, exp.Literal)
        and value.is_int
        and {k for k, v in current.args.items() if v} == {"expression"}
    ):
        raise GuardRejection("limit", f"{_snippet(current)}: use LIMIT with a plain number")
    if int(value.name) > row_limit:
        value.replace(exp.Literal.number(row_limit))
        return row_limit, True
    return int(value.name), False


def _kind(node: exp.Expr) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    kind = node.args.get("kind")
    return f"{node.key.upper()} {kind}".strip() if isinstance(kind, str) else node.key.upper()


def _function_name(node: exp.Func) -> str:
    return node.name.lower() if isinstance(node, exp.Anonymous) else node.sql_name().lower()


def _source_name(node: exp.Expr) -> str:
    return f"{_function_name(node)}()" if isinstance(node, exp.Func) else node.key.upper()


def _snippet(node: exp.Expr) -> str:
    return " ".join(node.sql(comments=False).split())[:80]
