"""The answer every interface returns, and its JSON shape (DESIGN.md's `--json` contract)."""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

Status = Literal["ok", "clarification", "unanswerable", "rejected", "error"]

EXIT_CODES: dict[str, int] = {
    "ok": 0,
    "clarification": 2,
    "unanswerable": 2,
    "rejected": 2,
    "error": 1,
}


class Answer(BaseModel):
    """One reply: what was asked, what ran, what came back."""

    status: Status
    question: str | None = None
    answer: str | None = None
    sql: str | None = None
    columns: list[str] = Field(default_factory=list)
    column_types: list[str] = Field(default_factory=list)  # extra: the warehouse's type names
    rows: list[list[Any]] = Field(default_factory=list)
    chart: str | None = None
    backend: str | None = None
    elapsed_ms: float = 0.0
    error: str | None = None
    # Extra to the contract (DESIGN keys above stay as they are):
    truncated: bool = False  # the row limit cut the result
    assumptions: list[str] = Field(default_factory=list)  # e.g. "latest actual week: 2025-08-25"
    candidates: list[str] = Field(default_factory=list)  # clarification: what it hesitates between
    suggestions: list[str] = Field(default_factory=list)  # unanswerable: what can be asked instead
    usage: dict[str, Any] = Field(default_factory=dict)  # LLM tokens, latency, repairs

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def to_json(self) -> str:
        """Exactly one JSON object; dates as ISO strings, NaN as null."""
        payload = self.model_dump()
        payload["rows"] = [[_json_value(v) for v in row] for row in self.rows]
        return json.dumps(payload, ensure_ascii=False)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value
