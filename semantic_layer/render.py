"""Three views of the one semantic model: an LLM prompt, the offline parser's vocabulary and the
web page's "connected tables and suggested questions". Deriving all three from the same model
keeps the parser, the prompt and the page from drifting apart.

None of them reads the warehouse: what they show of the data is the model's sample values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from semantic_layer.model import Column, Dimension, SemanticModel, TimeDimension, normalise


def llm_context(model: SemanticModel) -> str:
    """Compact text for an LLM prompt: tables, columns, metrics, filters, joins, instructions
    and the verified queries as worked examples."""
    lines = [f"Semantic model {model.name}: {model.description}", ""]
    lines.append("Tables (query them by these three-part names only):")
    for table in model.tables:
        lines += ["", f"{table.qualified_name}: {table.description}"]
        if table.synonyms:
            lines.append(f"  Also called: {', '.join(table.synonyms)}")
        if table.primary_key:
            lines.append(f"  Primary key: {', '.join(table.primary_key.columns)}")
        lines.append("  Columns:")
        lines += [f"  - {_column_line(column)}" for column in table.columns]
        if table.metrics:
            lines.append("  Metrics:")
            lines += [f"  - {m.name} = {m.expr}: {_described(m)}" for m in table.metrics]
        if table.filters:
            lines.append("  Filters:")
            lines += [f"  - {f.name}: WHERE {f.expr}: {_described(f)}" for f in table.filters]
    if model.relationships:
        lines += ["", "Joins:"]
        for rel in model.relationships:
            on = " AND ".join(
                f"{rel.left_table}.{p.left_column} = {rel.right_table}.{p.right_column}"
                for p in rel.relationship_columns
            )
            kind = rel.relationship_type.replace("_", " ")
            lines.append(f"- {on} ({kind}, {rel.join_type.replace('_', ' ')} join)")
    if model.custom_instructions:
        lines += ["", "Instructions:", model.custom_instructions.strip()]
    if model.verified_queries:
        lines += ["", "Verified examples:"]
        for query in model.verified_queries:
            lines += ["", f"Question: {query.question}", query.sql.strip()]
    return "\n".join(lines) + "\n"


def _column_line(column: Column) -> str:
    kind = {TimeDimension: ", time dimension", Dimension: ""}.get(type(column), ", fact")
    text = f"{column.name} ({column.data_type}{kind}): {_described(column)}"
    if column.sample_values:
        label = "Values (all)" if getattr(column, "is_enum", False) else "Sample values"
        text += f" {label}: {', '.join(column.sample_values)}."
    return text


def _described(item: Any) -> str:
    text = item.description.strip()
    return f"{text} Synonyms: {', '.join(item.synonyms)}." if item.synonyms else text


@dataclass(frozen=True)
class Ref:
    """A column, metric or filter of one table (table = lower-case catalog.schema.table)."""

    table: str
    name: str


@dataclass(frozen=True)
class Vocabulary:
    """What the offline parser matches words against. Terms are normalised (lower case, `_` as
    space); a term may name several things (timeseries_id is in every table), hence tuples."""

    tables: dict[str, tuple[str, ...]]  # term → catalog.schema.table
    columns: dict[str, tuple[Ref, ...]]
    values: dict[Ref, tuple[str, ...]]  # sample values (all values for the enums)
    enums: frozenset[Ref]  # columns whose values are complete
    metrics: dict[str, tuple[Ref, ...]]
    filters: dict[str, tuple[Ref, ...]]


def parser_vocabulary(model: SemanticModel) -> Vocabulary:
    """Names and synonyms → tables, columns, metrics and filters; sample values per column."""
    tables: dict[str, tuple[str, ...]] = {}
    columns: dict[str, tuple[Ref, ...]] = {}
    metrics: dict[str, tuple[Ref, ...]] = {}
    filters: dict[str, tuple[Ref, ...]] = {}
    values: dict[Ref, tuple[str, ...]] = {}
    enums = set()
    for table in model.tables:
        fqn = table.qualified_name
        for term in _terms(table):
            _add(tables, term, fqn)
        for column in table.columns:
            ref = Ref(fqn, column.name)
            for term in _terms(column):
                _add(columns, term, ref)
            if column.sample_values:
                values[ref] = tuple(column.sample_values)
            if isinstance(column, Dimension) and column.is_enum:
                enums.add(ref)
        for index, items in ((metrics, table.metrics), (filters, table.filters)):
            for item in items:
                for term in _terms(item):
                    _add(index, term, Ref(fqn, item.name))
    return Vocabulary(tables, columns, values, frozenset(enums), metrics, filters)


def _terms(item: Any) -> list[str]:
    return list(dict.fromkeys(normalise(t) for t in (item.name, *item.synonyms)))


def _add(index: dict[str, tuple[Any, ...]], term: str, target: Any) -> None:
    if target not in index.get(term, ()):
        index[term] = (*index.get(term, ()), target)


def space_summary(model: SemanticModel) -> dict[str, Any]:
    """The web page's and the Genie API's view of the space: what it covers, what to ask."""
    return {
        "title": model.name,
        "description": model.description,
        "tables": [{"name": t.qualified_name, "description": t.description} for t in model.tables],
        "suggested_questions": [
            q.question for q in model.verified_queries if q.use_as_onboarding_question
        ],
    }
