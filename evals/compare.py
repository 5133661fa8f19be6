"""Result-set comparison for the eval suite: execution accuracy, the way Genie's benchmarks judge.

Two results match when their values match, whatever the columns are called or in which order
they come: each gold column is matched to an agent column by content. Row order counts only when
the gold query ends in ORDER BY with a LIMIT (a top-N: the order is the answer); otherwise rows
compare as multisets (duplicates count). Numbers compare with a relative tolerance of 1e-6 (ints
and floats alike), NULL equals NULL (NaN is NULL), dates and midnight timestamps equal their ISO
strings.

Verdicts:
- GOOD: the status and chart kind are the expected ones and, for `ok`, the result matches one
  gold result strictly (same number of columns).
- NEEDS_REVIEW: the result matches only relaxed — it holds every gold column plus extra ones
  (reason RESULT_EXTRA_COLUMNS). Extra columns may be helpful context or noise: a person decides.
  A gold query listing the extra columns as another accepted answer turns it into GOOD.
- BAD: anything else, with reasons RESULT_MISSING_ROWS, RESULT_EXTRA_ROWS,
  RESULT_MISSING_COLUMNS, SINGLE_CELL_DIFFERENCE, ROW_ORDER, EMPTY_RESULT, WRONG_STATUS,
  WRONG_CHART, SQL_REJECTED or ERROR.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp

REL_TOL = 1e-6
ABS_TOL = 1e-9  # so that 0.0 and 1e-12 (float noise around zero) still compare equal

Row = tuple[Any, ...]


@dataclass
class Comparison:
    """How one agent result compares with one gold result."""

    strict: bool
    relaxed: bool
    reasons: list[str] = field(default_factory=list)


def normalise(value: Any) -> Any:
    """One canonical form per value: numbers → float, dates → ISO text, NaN → None."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, datetime):
        if value.time() == datetime.min.time() and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float | Decimal):
        number = float(value)
        return None if math.isnan(number) else number
    if isinstance(value, list | tuple):
        return repr([normalise(v) for v in value])
    return str(value)


def _key(value: Any) -> tuple[int, Any]:
    """A total order over normalised values of mixed types (None first)."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, float(value))
    if isinstance(value, float):
        return (1, value)
    return (2, str(value))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL) or (math.isinf(a) and a == b)
    return a == b


def _same_rows(a: Sequence[Row], b: Sequence[Row], ordered: bool) -> bool:
    """Rows equal pairwise (after sorting both when order does not count)."""
    if len(a) != len(b):
        return False
    if not ordered:
        a = sorted(a, key=lambda row: [_key(v) for v in row])
        b = sorted(b, key=lambda row: [_key(v) for v in row])
    return all(
        len(x) == len(y) and all(_same(u, v) for u, v in zip(x, y, strict=True))
        for x, y in zip(a, b, strict=True)
    )


def _column(rows: Sequence[Row], index: int) -> list[tuple[Any]]:
    return [(row[index],) for row in rows]


def is_ordered(sql: str) -> bool:
    """True when the query's outermost statement ends in ORDER BY … LIMIT: order is the answer."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    return (
        isinstance(tree, exp.Query)
        and bool(tree.args.get("order"))
        and bool(tree.args.get("limit"))
    )


def _mappings(
    gold: Sequence[Row], agent: Sequence[Row], width_gold: int, width_agent: int
) -> list[list[int]]:
    """Injective maps gold column → agent column whose value multisets agree, every one."""
    candidates = [
        [k for k in range(width_agent) if _same_rows(_column(gold, j), _column(agent, k), False)]
        for j in range(width_gold)
    ]
    found: list[list[int]] = []

    def extend(prefix: list[int]) -> None:
        if len(found) >= 64:  # identical columns multiply the maps; a few suffice
            return
        j = len(prefix)
        if j == width_gold:
            found.append(prefix)
            return
        for k in candidates[j]:
            if k not in prefix:
                extend([*prefix, k])

    extend([])
    return found


def compare_results(
    gold_rows: Sequence[Sequence[Any]],
    agent_rows: Sequence[Sequence[Any]],
    *,
    ordered: bool = False,
    gold_width: int | None = None,
    agent_width: int | None = None,
) -> Comparison:
    """Compare two result sets by value; widths are needed only when a result has no rows."""
    gold = [tuple(normalise(v) for v in row) for row in gold_rows]
    agent = [tuple(normalise(v) for v in row) for row in agent_rows]
    width_gold = gold_width if gold_width is not None else (len(gold[0]) if gold else 0)
    width_agent = agent_width if agent_width is not None else (len(agent[0]) if agent else 0)
    if not agent and gold:
        return Comparison(False, False, ["EMPTY_RESULT"])
    for mapping in _mappings(gold, agent, width_gold, width_agent):
        projected = [tuple(row[k] for k in mapping) for row in agent]
        if _same_rows(gold, projected, ordered):
            strict = width_agent == width_gold
            return Comparison(strict, True, [] if strict else ["RESULT_EXTRA_COLUMNS"])
    return Comparison(False, False, _diagnose(gold, agent, width_gold, width_agent, ordered))


def _diagnose(
    gold: list[Row], agent: list[Row], width_gold: int, width_agent: int, ordered: bool
) -> list[str]:
    """Why two results differ: a best-effort column map, then row and cell differences."""
    reasons: list[str] = []
    kept: list[int] = []  # gold columns that found a partner
    mapping: list[int] = []  # their agent columns
    for j in range(width_gold):  # greedy: the agent column sharing most values with gold's j
        gold_values = Counter(_rounded(row[j]) for row in gold)
        best, overlap = -1, 0
        for k in range(width_agent):
            if k in mapping:
                continue
            shared = sum((gold_values & Counter(_rounded(row[k]) for row in agent)).values())
            if shared > overlap or (best < 0 and _kind(gold, j) == _kind(agent, k)):
                best, overlap = k, shared
        if best < 0:
            if "RESULT_MISSING_COLUMNS" not in reasons:
                reasons.append("RESULT_MISSING_COLUMNS")
            continue
        kept.append(j)
        mapping.append(best)
    gold = [tuple(row[j] for j in kept) for row in gold]
    projected = [tuple(row[k] for k in mapping) for row in agent]
    gold_keys = Counter(tuple(_rounded(v) for v in row) for row in gold)
    agent_keys = Counter(tuple(_rounded(v) for v in row) for row in projected)
    missing, extra = gold_keys - agent_keys, agent_keys - gold_keys
    if not missing and not extra:
        if ordered and not _same_rows(gold, projected, True):
            reasons.append("ROW_ORDER")
        return reasons or ["SINGLE_CELL_DIFFERENCE"]  # equal after rounding: a tolerance miss
    if sum(missing.values()) == 1 and sum(extra.values()) == 1:
        (a,), (b,) = missing, extra
        if sum(x != y for x, y in zip(a, b, strict=True)) == 1:
            return [*reasons, "SINGLE_CELL_DIFFERENCE"]
    if missing:
        reasons.append("RESULT_MISSING_ROWS")
    if extra:
        reasons.append("RESULT_EXTRA_ROWS")
    return reasons


def _kind(rows: list[Row], index: int) -> int:
    """The type family of a column (its first non-NULL value), so differing values still pair."""
    return next((_key(row[index])[0] for row in rows if row[index] is not None), 0)


def _rounded(value: Any) -> Any:
    """A hashable stand-in for tolerant equality (diagnosis only: 6 significant digits)."""
    if isinstance(value, float) and math.isfinite(value) and value != 0:
        return float(f"{value:.6g}")
    return value
