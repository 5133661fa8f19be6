"""The semantic model checked against a live DuckDB warehouse, and its sample values refreshed.

The model is only as good as its agreement with the tables: a renamed column or a retyped one
must fail here, naming it, before an agent writes SQL against a description that lies.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify

from salesgenie import settings
from salesgenie.errors import SalesgenieError
from semantic_layer.model import (
    Column,
    Dimension,
    SemanticModel,
    Table,
    VerifiedQuery,
    save_semantic_model,
    type_family,
)

SAMPLE_CAP = 25  # sample values kept per column (enums keep every value)


@dataclass(frozen=True)
class Problem:
    """One disagreement between the model and the warehouse: what, and why."""

    where: str  # a table, table.column, "<table> metric <name>", "verified query <name>"
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@contextmanager
def connect_read_only(path: Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse file attached read-only as catalog prd_sales, whatever its file name."""
    path = Path(path or settings.warehouse_path())
    if str(path) == "databricks":
        raise SalesgenieError("the semantic commands check a DuckDB warehouse, not databricks")
    if not path.is_file():
        raise SalesgenieError(
            f"warehouse {path} not found: run `salesgenie demo` or set SALESGENIE_WAREHOUSE"
        )
    con = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    try:
        quoted = str(path).replace("'", "''")
        try:
            con.execute(f"ATTACH '{quoted}' AS {settings.CATALOG} (READ_ONLY)")
        except duckdb.Error as exc:
            raise SalesgenieError(f"cannot open warehouse {path} read-only: {exc}") from None
        # The SQL run here comes from a YAML file: it may read the warehouse, nothing else.
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        yield con
    finally:
        con.close()


def validate(model: SemanticModel, con: duckdb.DuckDBPyConnection) -> list[Problem]:
    """Every table, column, metric, filter and verified query of `model`, tried on `con`."""
    problems: list[Problem] = []
    for table in model.tables:
        if _table_exists(con, table):
            problems += _table_problems(con, table)
        else:
            problems.append(Problem(table.qualified_name, "table does not exist"))
    for query in model.verified_queries:
        problems += _query_problems(con, model, query)
    return problems


def refresh(
    model: SemanticModel, con: duckdb.DuckDBPyConnection, path: Path | None = None
) -> SemanticModel:
    """A copy of `model` whose text dimensions carry the data's values (sorted, at most
    SAMPLE_CAP unless the dimension is an enum), saved to `path` when given.

    Identifiers (unique and *_id columns) get none: a list of ids teaches nothing that their
    description's example does not, and would churn with every run.
    """
    refreshed = model.model_copy(deep=True)
    for table in refreshed.tables:
        for dimension in table.dimensions:
            identifier = dimension.unique or dimension.name.endswith("_id")
            if type_family(dimension.data_type) == "text" and not identifier:
                dimension.sample_values = _distinct_values(con, table, dimension)
    if path is not None:
        save_semantic_model(refreshed, Path(path))
    return refreshed


def _table_exists(con: duckdb.DuckDBPyConnection, table: Table) -> bool:
    base = table.base_table
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE lower(table_catalog) = lower(?) AND lower(table_schema) = lower(?) "
        "AND lower(table_name) = lower(?)",
        [base.database, base.schema_, base.table],
    ).fetchone()
    return bool(row and row[0])


def _table_problems(con: duckdb.DuckDBPyConnection, table: Table) -> list[Problem]:
    problems = []
    source = table.qualified_name
    for column in table.columns:
        where = f"{source}.{column.name}"
        found = _result_type(con, f"SELECT {column.expr} FROM {source}")
        if isinstance(found, Problem):
            problems.append(Problem(where, f"expr {column.expr!r} fails: {found.reason}"))
        elif type_family(found) != type_family(column.data_type):
            problems.append(
                Problem(where, f"declared {column.data_type} but {column.expr!r} is {found}")
            )
        elif isinstance(column, Dimension) and column.is_enum:
            problems += _enum_problems(con, table, column)
    for metric in table.metrics:
        where = f"{source} metric {metric.name}"
        found = _result_type(con, f"SELECT {metric.expr} FROM {source}")
        if isinstance(found, Problem):
            problems.append(Problem(where, f"expr {metric.expr!r} fails: {found.reason}"))
        elif type_family(found) != "number":
            problems.append(Problem(where, f"expr {metric.expr!r} is {found}, not a number"))
    for filter_ in table.filters:
        where = f"{source} filter {filter_.name}"
        found = _result_type(con, f"SELECT ({filter_.expr}) FROM {source}")
        if isinstance(found, Problem):
            problems.append(Problem(where, f"expr {filter_.expr!r} fails: {found.reason}"))
        elif type_family(found) != "boolean":
            problems.append(Problem(where, f"expr {filter_.expr!r} is {found}, not a condition"))
    return problems


def _result_type(con: duckdb.DuckDBPyConnection, select: str) -> str | Problem:
    """The type of a one-column SELECT, from binding it only (DESCRIBE runs no rows)."""
    try:
        return str(con.execute(f"DESCRIBE {select}").fetchall()[0][1])
    except duckdb.Error as exc:
        return Problem(select, _one_line(exc))


def _enum_problems(con: duckdb.DuckDBPyConnection, table: Table, column: Column) -> list[Problem]:
    """An enum promises its sample values are every value: the parser relies on it."""
    extra = [v for v in _distinct_values(con, table, column) if v not in column.sample_values]
    if not extra:
        return []
    return [
        Problem(
            f"{table.qualified_name}.{column.name}",
            f"is_enum, but the data also holds {', '.join(map(repr, extra))}",
        )
    ]


def _distinct_values(con: duckdb.DuckDBPyConnection, table: Table, column: Column) -> list[str]:
    limit = "" if isinstance(column, Dimension) and column.is_enum else f" LIMIT {SAMPLE_CAP}"
    sql = (
        f"SELECT DISTINCT CAST({column.expr} AS VARCHAR) AS v FROM {table.qualified_name} "
        f"WHERE {column.expr} IS NOT NULL ORDER BY v{limit}"
    )
    try:
        return [row[0] for row in con.execute(sql).fetchall()]
    except duckdb.Error as exc:
        raise SalesgenieError(
            f"cannot read values of {table.qualified_name}.{column.name}: {_one_line(exc)}; "
            "run `salesgenie semantic validate`"
        ) from None


def _query_problems(
    con: duckdb.DuckDBPyConnection, model: SemanticModel, query: VerifiedQuery
) -> list[Problem]:
    """A verified query must stay inside the model (or the guard would refuse it) and run."""
    where = f"verified query {query.name}"
    outside = _outside_model(model, query.sql)
    if outside:
        return [Problem(where, outside)]
    try:
        con.execute(query.sql).fetchall()
    except duckdb.Error as exc:
        return [Problem(where, f"fails: {_one_line(exc)}")]
    return []


def _outside_model(model: SemanticModel, sql: str) -> str | None:
    """Why `sql` reaches beyond the model's tables and columns, or None when it does not."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except SqlglotError as exc:
        return f"is not SQL: {_one_line(exc)}"
    if not isinstance(tree, exp.Query):
        return "is not a SELECT"
    allowed = model.allowed_columns()
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        name = ".".join(p for p in (table.catalog, table.db, table.name) if p).lower()
        if name not in allowed and not (name in ctes and not table.db):
            return f"uses table {name}, which is not in the semantic model"
    schema: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
    for table in model.tables:
        base = table.base_table
        types = {c.expr.lower(): c.data_type for c in table.columns}
        schema.setdefault(base.database, {}).setdefault(base.schema_, {})[base.table] = {
            column: types.get(column, "UNKNOWN") for column in table.allowed_columns()
        }
    try:
        qualify(tree, schema=schema, dialect="duckdb", validate_qualify_columns=True)
    except SqlglotError as exc:
        return f"uses a column the semantic model does not expose ({_one_line(exc)})"
    return None


def _one_line(exc: Exception) -> str:
    """The error on one line, without DuckDB's echo of the statement ("LINE 1: … ^^^")."""
    return re.split(r"\s+LINE \d+:", " ".join(str(exc).split()))[0]
