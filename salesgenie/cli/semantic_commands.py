"""`salesgenie semantic …`: the semantic layer against the live warehouse."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from salesgenie import settings
from salesgenie.cli._app import (
    console,
    semantic_app,
)
from salesgenie.errors import SalesgenieError

SemanticModelPath = Annotated[
    Path | None,
    typer.Option("--model", help="Semantic model YAML; default: the packaged one.", metavar="PATH"),
]


@semantic_app.command("validate")
def semantic_validate(model: SemanticModelPath = None) -> None:
    """Check every table, column, metric, filter and verified query against the warehouse."""
    from semantic_layer.model import DEFAULT_PATH, load_semantic_model
    from semantic_layer.validate import connect_read_only, validate

    path = model or DEFAULT_PATH
    semantic = load_semantic_model(path)
    with connect_read_only() as con:
        problems = validate(semantic, con)
    for problem in problems:
        console.print(escape(str(problem)), highlight=False, soft_wrap=True)
    if problems:
        raise SalesgenieError(
            f"semantic model {path}: {len(problems)} problem(s) against {settings.warehouse_path()}"
        )
    console.print(
        f"semantic model OK: {len(semantic.tables)} tables, {semantic.column_count()} columns, "
        f"{len(semantic.verified_queries)} verified queries",
        highlight=False,
    )


@semantic_app.command("refresh")
def semantic_refresh(model: SemanticModelPath = None) -> None:
    """Rewrite the model's sample values (brands, sales orgs, models, products) from the data."""
    from semantic_layer.model import DEFAULT_PATH, load_semantic_model
    from semantic_layer.validate import connect_read_only, refresh

    path = model or DEFAULT_PATH
    semantic = load_semantic_model(path)
    with connect_read_only() as con:
        refreshed = refresh(semantic, con, path)
    changed = [
        f"{table.name}.{new.name}"
        for table, new_table in zip(semantic.tables, refreshed.tables, strict=True)
        for old, new in zip(table.dimensions, new_table.dimensions, strict=True)
        if old.sample_values != new.sample_values
    ]
    console.print(
        f"refreshed {path}: {len(changed)} column(s) with new sample values"
        + (f" ({', '.join(changed)})" if changed else ""),
        highlight=False,
        soft_wrap=True,
    )
