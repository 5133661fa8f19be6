"""Load a user's own CSV or Parquet file into one source table, checked against the contract.

Everything is checked before anything is replaced, so a bad file never touches the warehouse:
the file must hold every contract column (matched case-insensitively, in any order), every value
must cast to its column's type, and a dimension's key must be present and unique. Extra columns
are ignored, so a wider ERP export loads as it is. Empty cells load as NULL; prep decides what to
do with them. CSV files need a header row; the delimiter (comma, semicolon, tab or pipe) is the
one that makes the header name the most contract columns. Error messages count rows from 1 at
the first data row (the header is not a row).
"""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.contract import PRIMARY_KEYS, SILVER, SOURCE_TABLES
from pipeline.warehouse import replace_tables
from salesgenie.errors import SalesgenieError

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
DELIMITERS = (",", ";", "\t", "|")
RAW_NAME = "_salesgenie_load"
RAW = f"temp.main.{RAW_NAME}"
TYPE_HINTS = {"DATE": " (expected YYYY-MM-DD)", "INTEGER": " (expected a whole number)"}


def load_table(con: duckdb.DuckDBPyConnection, table: str, file: Path) -> int:
    """Replace prd_sales.silver.<table> with the file's rows; returns how many were loaded."""
    if table not in SOURCE_TABLES:
        raise SalesgenieError(
            f"unknown table '{table}' (expected one of {', '.join(SOURCE_TABLES)})"
        )
    file = Path(file)
    columns = SOURCE_TABLES[table]
    reader = _reader(file, columns)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {RAW_NAME} AS SELECT * FROM {reader}")
    except duckdb.Error as exc:
        raise SalesgenieError(f"{file.name}: cannot read: {_reason(exc)}") from None
    try:
        names = _match_columns(con, file, columns)
        _check_values(con, file, columns, names)
        if table in PRIMARY_KEYS:
            _check_key(con, file, names[PRIMARY_KEYS[table]], PRIMARY_KEYS[table])
        select = ", ".join(
            f'CAST({_ident(names[col])} AS {sql_type}) AS "{col}"'
            for col, sql_type in columns.items()
        )
        # Arrow-backed columns: a 10 M-row file stays compact on its way to replace_tables.
        result = con.sql(f"SELECT {select} FROM {RAW}").to_arrow_table()
        frame = result.to_pandas(types_mapper=pd.ArrowDtype)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {RAW}")
    if frame.empty:
        raise SalesgenieError(f"{file.name}: no data rows; the table was left as it was")
    replace_tables(con, SILVER, {table: frame}, {table: columns})
    return len(frame)


def _reader(file: Path, columns: dict[str, str]) -> str:
    """The DuckDB table function that reads the file: strict CSV, all text, or Parquet."""
    if not file.exists():
        raise SalesgenieError(f"{file}: no such file")
    if not file.is_file():
        raise SalesgenieError(f"{file}: not a file")
    kind = FORMATS.get(file.suffix.lower())
    if kind is None:
        raise SalesgenieError(
            f"{file.name}: unsupported file type '{file.suffix}' (expected .csv or .parquet)"
        )
    path = _literal(str(file))
    if kind == "parquet":
        return f"read_parquet({path})"
    header, delimiter = _csv_header(file, columns)
    # Explicit columns and no sniffing: a ragged row or a stray quote is an error, never a guess.
    names = ", ".join(f"{_literal(name)}: 'VARCHAR'" for name in header)
    return (
        f"read_csv({path}, auto_detect = false, header = true, delim = {_literal(delimiter)}, "
        f"quote = '\"', escape = '\"', strict_mode = true, columns = {{{names}}})"
    )


def _csv_header(file: Path, columns: dict[str, str]) -> tuple[list[str], str]:
    """The header's column names and the delimiter under which they name most contract columns."""
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            first = handle.readline()
    except UnicodeDecodeError:
        raise SalesgenieError(f"{file.name}: not UTF-8 text") from None
    except OSError as exc:
        raise SalesgenieError(f"{file}: cannot read: {exc.strerror}") from None
    if not first.strip():
        raise SalesgenieError(f"{file.name}: empty file (a header row is required)")
    candidates = [next(csv.reader([first], delimiter=d)) for d in DELIMITERS]
    scores = [
        (sum(_norm(name) in columns for name in fields), len(fields)) for fields in candidates
    ]
    best = max(range(len(DELIMITERS)), key=scores.__getitem__)
    header = [name.strip() or f"column{i + 1}" for i, name in enumerate(candidates[best])]
    normed = [_norm(name) for name in header]
    duplicates = sorted({name for name, norm in zip(header, normed, strict=True)
                         if normed.count(norm) > 1})
    if duplicates:
        raise SalesgenieError(f"{file.name}: duplicate column '{duplicates[0]}' in the header")
    return header, DELIMITERS[best]


def _match_columns(
    con: duckdb.DuckDBPyConnection, file: Path, columns: dict[str, str]
) -> dict[str, str]:
    """Map every contract column to the file's column of that name (case and spaces ignored)."""
    present = con.sql(f"SELECT * FROM {RAW} LIMIT 0").columns
    by_norm: dict[str, str] = {}
    for name in present:
        if _norm(name) in by_norm and _norm(name) in columns:
            raise SalesgenieError(
                f"{file.name}: columns '{by_norm[_norm(name)]}' and '{name}' both match "
                f"'{_norm(name)}'"
            )
        by_norm.setdefault(_norm(name), name)
    missing = [col for col in columns if col not in by_norm]
    if missing:
        noun = "column" if len(missing) == 1 else "columns"
        raise SalesgenieError(
            f"{file.name}: missing {noun} {', '.join(repr(c) for c in missing)} "
            f"(expected {', '.join(columns)})"
        )
    return {col: by_norm[col] for col in columns}


def _check_values(
    con: duckdb.DuckDBPyConnection, file: Path, columns: dict[str, str], names: dict[str, str]
) -> None:
    """Fail on the first value that does not cast to its column's type, naming its row."""
    checks = []
    for col, sql_type in columns.items():
        if sql_type == "VARCHAR":
            continue
        value = _ident(names[col])
        bad = f"{value} IS NOT NULL AND TRY_CAST({value} AS {sql_type}) IS NULL"
        if sql_type == "INTEGER":  # DuckDB rounds '1.5' to 2: refuse fractions instead
            bad = f"({bad}) OR TRY_CAST({value} AS DOUBLE) <> TRY_CAST({value} AS {sql_type})"
        checks.append((col, sql_type, f"arg_min({value}::VARCHAR, rowid) FILTER ({bad})",
                       f"min(rowid) FILTER ({bad})"))
    if not checks:
        return
    aggregates = ", ".join(f"{value}, {row}" for _, _, value, row in checks)
    (found,) = _rows(con, f"SELECT {aggregates} FROM {RAW}")
    for i, (col, sql_type, _, _) in enumerate(checks):
        value, row = found[2 * i], found[2 * i + 1]
        if row is not None:
            raise SalesgenieError(
                f"{file.name}: column '{col}' must be {sql_type}{TYPE_HINTS.get(sql_type, '')}: "
                f"{value!r} (row {row + 1})"
            )


def _check_key(con: duckdb.DuckDBPyConnection, file: Path, name: str, key: str) -> None:
    """A dimension's key identifies one row: present on every row and never repeated."""
    column = _ident(name)
    ((empty,),) = _rows(con, f"SELECT min(rowid) FROM {RAW} WHERE {column} IS NULL")
    if empty is not None:
        raise SalesgenieError(f"{file.name}: empty {key} (row {empty + 1})")
    duplicates = _rows(
        con,
        f"SELECT {column}::VARCHAR, min(rowid), max(rowid) FROM {RAW} GROUP BY {column} "
        f"HAVING count(*) > 1 ORDER BY min(rowid) LIMIT 1",
    )
    if duplicates:
        value, first, last = duplicates[0]
        raise SalesgenieError(
            f"{file.name}: duplicate {key} {value!r} (rows {first + 1} and {last + 1})"
        )


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    """Every row, read to the end: DuckDB 2 refuses new work while a result is half read."""
    return con.sql(sql).fetchall()


def _reason(exc: duckdb.Error) -> str:
    """DuckDB's explanation on one line: its headline and its last word before the fixes it
    suggests (the CSV reader puts the line number first and what was wrong last)."""
    lines = []
    for line in str(exc).splitlines():
        if line.startswith(("Possible", "LINE ")):
            break
        if line.strip():
            lines.append(line.strip())
    if not lines:
        return type(exc).__name__
    first, last = lines[0].split(" Error: ", 1)[-1], lines[-1]
    return first if len(lines) == 1 else f"{first}: {last}"


def _norm(name: str) -> str:
    return name.strip().lower()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
