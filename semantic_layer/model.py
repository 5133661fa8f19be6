"""The semantic model: one YAML in the spirit of Snowflake Cortex Analyst's spec, typed.

Every part that talks about the gold tables (the SQL guard, the offline parser, the LLM prompt,
the web page) reads this one model, so they all agree on which tables and columns exist and
what they mean. Names are the physical names: the SQL an agent writes runs unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import sqlglot
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)
from sqlglot import exp
from sqlglot.errors import ParseError

from salesgenie.errors import SalesgenieError

DEFAULT_PATH = Path(__file__).with_name("sales_forecast.yaml")
HEADER = (
    "# The semantic model of the forecast tables (Snowflake Cortex Analyst style); see\n"
    "# semantic_layer/README.md. `salesgenie semantic refresh` rewrites this file: edit the\n"
    "# descriptions here, but sample_values come from the data.\n"
)

# Loose type families: the warehouse may say DOUBLE where the model says FLOAT, never VARCHAR.
_FAMILIES = {
    "text": ["VARCHAR", "STRING", "TEXT", "CHAR"],
    "number": [
        "DOUBLE",
        "FLOAT",
        "REAL",
        "DECIMAL",
        "NUMERIC",
        "NUMBER",
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "INT",
        "BIGINT",
        "HUGEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "UHUGEINT",
    ],
    "date": ["DATE"],
    "timestamp": ["TIMESTAMP", "DATETIME"],
    "boolean": ["BOOLEAN", "BOOL"],
    "binary": ["BLOB", "BINARY", "BYTEA"],
}


def type_family(data_type: str) -> str | None:
    """'number', 'text', 'array<number>'… for a SQL type name; None when it is not one."""
    name = data_type.strip().upper()
    if name.endswith("[]"):
        inner = type_family(name[:-2])
        return f"array<{inner}>" if inner else None
    if name.startswith("ARRAY<") and name.endswith(">"):
        inner = type_family(name[6:-1])
        return f"array<{inner}>" if inner else None
    base = re.split(r"[\s(]", name, maxsplit=1)[0]
    return next((family for family, names in _FAMILIES.items() if base in names), None)


def normalise(term: str) -> str:
    """How names and synonyms compare: case, underscores and spacing do not matter."""
    return " ".join(term.lower().replace("_", " ").split())


class _Spec(BaseModel):
    # A misspelt key is an error, not a silently ignored field.
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class BaseTable(_Spec):
    database: str
    schema_: str = Field(alias="schema")
    table: str

    @property
    def qualified_name(self) -> str:
        """Lower-case catalog.schema.table, the key the guard and the warehouse use."""
        return f"{self.database}.{self.schema_}.{self.table}".lower()


class PrimaryKey(_Spec):
    columns: list[str] = Field(min_length=1)


class Column(_Spec):
    """What dimensions, time dimensions and facts share: a named SQL expression with a type."""

    name: str
    description: str = Field(min_length=1)
    synonyms: list[str] = []
    expr: str
    data_type: str
    sample_values: list[str] = []

    @model_validator(mode="after")
    def _checked(self) -> Column:
        if type_family(self.data_type) is None:
            raise ValueError(f"data_type {self.data_type!r} is not a SQL type this model knows")
        physical_columns(self.expr)  # an expr that is not SQL fails here, naming this column
        return self

    @property
    def physical_columns(self) -> frozenset[str]:
        return physical_columns(self.expr)


class Dimension(Column):
    unique: bool = False
    is_enum: bool = False  # sample_values are every value there is


class TimeDimension(Column):
    pass


class Fact(Column):
    pass


class Metric(_Spec):
    name: str
    description: str = Field(min_length=1)
    synonyms: list[str] = []
    expr: str


class Filter(Metric):
    pass


class Table(_Spec):
    name: str
    description: str = Field(min_length=1)
    synonyms: list[str] = []
    base_table: BaseTable
    primary_key: PrimaryKey | None = None
    dimensions: list[Dimension] = []
    time_dimensions: list[TimeDimension] = []
    facts: list[Fact] = []
    metrics: list[Metric] = []
    filters: list[Filter] = []

    @property
    def qualified_name(self) -> str:
        return self.base_table.qualified_name

    @property
    def columns(self) -> list[Column]:
        return [*self.dimensions, *self.time_dimensions, *self.facts]

    def column(self, term: str) -> Column | None:
        """The column called `term`, by name or synonym."""
        return _by_term(self.columns, term)

    def allowed_columns(self) -> frozenset[str]:
        return frozenset().union(*(c.physical_columns for c in self.columns))

    @model_validator(mode="after")
    def _consistent(self) -> Table:
        for kind, items in (
            ("column", self.columns),
            ("metric", self.metrics),
            ("filter", self.filters),
        ):
            _unique_names(items, kind)
        names = {c.name for c in self.columns}
        for key in self.primary_key.columns if self.primary_key else []:
            if key not in names:
                raise ValueError(f"primary_key column {key!r} is not a column of {self.name}")
        exposed = self.allowed_columns()
        for item in (*self.metrics, *self.filters):
            hidden = physical_columns(item.expr) - exposed
            if hidden:
                raise ValueError(
                    f"{item.name}: expr uses {', '.join(sorted(hidden))}, which no dimension, "
                    f"time dimension or fact of {self.name} exposes"
                )
        return self


class RelationshipColumn(_Spec):
    left_column: str
    right_column: str


class Relationship(_Spec):
    name: str
    left_table: str
    right_table: str
    relationship_columns: list[RelationshipColumn] = Field(min_length=1)
    join_type: Literal["left_outer", "inner"]
    relationship_type: Literal["many_to_one", "one_to_one"]


class VerifiedQuery(_Spec):
    name: str
    question: str
    sql: str
    verified_by: str
    verified_at: int  # Unix seconds, as Cortex Analyst records it
    use_as_onboarding_question: bool = False


class SemanticModel(_Spec):
    name: str
    description: str = Field(min_length=1)
    tables: list[Table] = Field(min_length=1)
    relationships: list[Relationship] = []
    verified_queries: list[VerifiedQuery] = []
    custom_instructions: str = ""
    _allowed: Mapping[str, frozenset[str]] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _consistent(self) -> SemanticModel:
        _unique_names(self.tables, "table")
        _unique_names(self.relationships, "relationship")
        _unique_names(self.verified_queries, "verified query")
        tables = {t.name: t for t in self.tables}
        for rel in self.relationships:
            for side, table_name in (("left", rel.left_table), ("right", rel.right_table)):
                if table_name not in tables:
                    raise ValueError(
                        f"relationship {rel.name}: unknown {side}_table {table_name!r}"
                    )
            for pair in rel.relationship_columns:
                for table_name, column in (
                    (rel.left_table, pair.left_column),
                    (rel.right_table, pair.right_column),
                ):
                    if column not in {c.name for c in tables[table_name].columns}:
                        raise ValueError(
                            f"relationship {rel.name}: {column!r} is not a column of {table_name}"
                        )
        return self

    def allowed_columns(self) -> Mapping[str, frozenset[str]]:
        """The guard's input: lower-case catalog.schema.table → the physical columns exposed.

        Computed once (every question asks for it, and columns come from parsing expressions).
        """
        if self._allowed is None:
            self._allowed = MappingProxyType(
                {t.qualified_name: t.allowed_columns() for t in self.tables}
            )
        return self._allowed

    def table(self, term: str) -> Table | None:
        """A table by logical name, physical name, catalog.schema.table or synonym."""
        for table in self.tables:
            if term.strip().lower() == table.qualified_name:
                return table
        return _by_term(self.tables, term)

    def columns_for(self, term: str) -> list[tuple[Table, Column]]:
        """Every column, in any table, called `term` by name or synonym (several tables share
        timeseries_id or model, so the caller picks by table)."""
        found = ((t, t.column(term)) for t in self.tables)
        return [(t, c) for t, c in found if c is not None]

    def metric(self, term: str) -> tuple[Table, Metric] | None:
        return _first(self.tables, "metrics", term)

    def filter(self, term: str) -> tuple[Table, Filter] | None:
        return _first(self.tables, "filters", term)

    def verified_query(self, name: str) -> VerifiedQuery | None:
        return next((q for q in self.verified_queries if q.name == name), None)

    def column_count(self) -> int:
        return sum(len(t.columns) for t in self.tables)


def physical_columns(expr: str) -> frozenset[str]:
    """The column names a SQL expression reads (lower case)."""
    try:
        tree = sqlglot.parse_one(expr, read="duckdb")
    except ParseError as exc:
        raise ValueError(f"expr {expr!r} is not SQL: {_one_line(exc)}") from None
    return frozenset(c.name.lower() for c in tree.find_all(exp.Column))


def load_semantic_model(path: Path | None = None) -> SemanticModel:
    """Read and check a semantic model YAML (default: the packaged one)."""
    path = Path(path or DEFAULT_PATH)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SalesgenieError(f"cannot read semantic model {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SalesgenieError(f"semantic model {path} is not YAML: {_one_line(exc)}") from None
    if not isinstance(raw, dict):
        raise SalesgenieError(f"semantic model {path}: expected a mapping at the top level")
    try:
        return SemanticModel.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        where = _location(raw, error["loc"]) or "top level"
        message = error["msg"].removeprefix("Value error, ")
        raise SalesgenieError(f"semantic model {path}: {where}: {message}{more}") from None


def save_semantic_model(model: SemanticModel, path: Path) -> None:
    """Write the model as readable YAML (block SQL, spec key order); write-then-rename, so a
    failure never leaves half a file."""
    data = model.model_dump(by_alias=True, exclude_defaults=True)
    text = HEADER + yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=_WIDTH
    )
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(text, encoding="utf-8")
    staging.replace(path)


_WIDTH = 72


class _Dumper(yaml.SafeDumper):
    """safe_dump, with multi-line strings (SQL, instructions) as literal blocks and long prose
    folded, so that neither needs quotes or escapes."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else ">" if len(value) > _WIDTH else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _location(raw: Any, loc: tuple[int | str, ...]) -> str:
    """A pydantic error location with list indexes replaced by the item's name:
    tables[sales_overall].dimensions[type].data_type."""
    parts: list[str] = []
    node = raw
    for key in loc:
        if isinstance(key, int):
            item = node[key] if isinstance(node, list) and key < len(node) else None
            label = item.get("name") if isinstance(item, dict) else None
            parts[-1:] = [f"{parts[-1] if parts else ''}[{label or key}]"]
            node = item
        else:
            parts.append(str(key))
            node = node.get(key) if isinstance(node, dict) else None
    return ".".join(parts)


def _unique_names(items: list[Any], kind: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item.name in seen:
            raise ValueError(f"{kind} name {item.name!r} appears twice")
        seen.add(item.name)


def _terms(item: Any) -> Iterator[str]:
    yield normalise(item.name)
    yield from (normalise(s) for s in item.synonyms)


def _by_term(items: list[Any], term: str) -> Any:
    """The item named `term`, else the first with it as a synonym."""
    wanted = normalise(term)
    exact = next((i for i in items if normalise(i.name) == wanted), None)
    return exact or next((i for i in items if wanted in _terms(i)), None)


def _first(tables: list[Table], attribute: str, term: str) -> Any:
    """(table, item) named `term`: a name in any table wins over a synonym."""
    pairs = [(t, item) for t in tables for item in getattr(t, attribute)]
    wanted = normalise(term)
    for matches in (lambda i: normalise(i.name) == wanted, lambda i: wanted in _terms(i)):
        found = next((pair for pair in pairs if matches(pair[1])), None)
        if found:
            return found
    return None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
