"""Run one SQL query the safe way: the guard first, then the read-only warehouse."""

from __future__ import annotations

import time

from agent.answer import Answer
from salesgenie.warehouses import Warehouse, WarehouseError
from semantic_layer.guard import GuardRejection, check_sql
from semantic_layer.model import SemanticModel


def run_sql(
    sql: str, warehouse: Warehouse, model: SemanticModel, *, backend: str = "sql"
) -> Answer:
    """Guard, execute, package: rejected and failed queries become answers, not exceptions."""
    started = time.perf_counter()

    def elapsed() -> float:
        return round((time.perf_counter() - started) * 1000, 1)

    try:
        guarded = check_sql(sql, model.allowed_columns(), dialect=warehouse.dialect)
    except GuardRejection as exc:
        return Answer(
            status="rejected", sql=sql, backend=backend, error=str(exc), elapsed_ms=elapsed()
        )
    try:
        result = warehouse.execute(guarded.sql)
    except WarehouseError as exc:
        return Answer(
            status="error", sql=guarded.sql, backend=backend, error=str(exc), elapsed_ms=elapsed()
        )
    truncated = result.truncated or (guarded.limit_added and len(result.rows) >= guarded.limit)
    return Answer(
        status="ok",
        sql=guarded.sql,
        columns=result.columns,
        column_types=result.types,
        rows=[list(row) for row in result.rows],
        backend=backend,
        truncated=truncated,
        elapsed_ms=elapsed(),
    )
