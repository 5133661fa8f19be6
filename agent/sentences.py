"""The short answer sentence for an offline plan: the numbers, their unit and their period,
written from the rows the query returned (never from the question), so it cannot disagree
with the table shown beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from agent.spec import QuerySpec

MEASURE_LABELS = {
    "sales": "Units per week",
    "forecast_units": "Forecast units per week",
    "actual_sales": "Actual units",
    "forecast_sales": "Forecast units",
    "avg_weekly_actual_sales": "Average actual units per week",
    "avg_weekly_forecast_sales": "Average forecast units per week",
    "series_count": "Series",
    "product_count": "Products",
    "brand_count": "Brands",
    "sales_org_count": "Sales orgs",
    "model_count": "Models",
    "mean_smape": "Mean backtest SMAPE (0 perfect, 2 worst)",
}
_UNITS = {
    "actual_sales": "actual units",
    "forecast_sales": "forecast units",
    "avg_weekly_actual_sales": "actual units per week on average",
    "avg_weekly_forecast_sales": "forecast units per week on average",
    "series_count": "series",
    "product_count": "products",
    "brand_count": "brands",
    "sales_org_count": "sales orgs",
    "model_count": "models",
    "mean_smape": "mean SMAPE",
}


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.0f}"
    return f"{int(value):,}" if isinstance(value, int | float) else str(value)


def _day(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _period(spec: QuerySpec) -> str:
    return f", {spec.time_range.label}" if spec.time_range else ""


def describe(spec: Any, columns: list[str], rows: Sequence[Sequence[Any]]) -> str:
    """One or two sentences for `rows` (as returned for `spec`); '' for a spec not ours."""
    if not isinstance(spec, QuerySpec):
        return ""
    who = spec.entity_label
    if not rows:
        return f"No rows for {who}{_period(spec)}."
    data = [dict(zip(columns, row, strict=False)) for row in rows]
    writer = _WRITERS.get(spec.kind, _generic)
    return writer(spec, data, who)


def _series(spec: QuerySpec, data: list[dict], who: str) -> str:
    value = "forecast_units" if spec.kind == "forecast" else "sales"
    train = [r for r in data if r.get("type", "predict") == "train"]
    predict = [r for r in data if r.get("type", "predict") == "predict"]
    unit = "week" if spec.grain == "week" else spec.grain
    parts = []
    if train:
        total = sum(r[value] or 0 for r in train)
        parts.append(
            f"{len(train)} actual {unit}s {_day(train[0]['date'])} … {_day(train[-1]['date'])} "
            f"({_num(total)} units)"
        )
    if predict:
        dates = sorted({r["date"] for r in predict})
        total = sum(r[value] or 0 for r in predict)
        span = f"{_day(dates[0])} … {_day(dates[-1])}"
        parts.append(f"a forecast of {_num(total)} units over {span}")
    return f"{who}: {', then '.join(parts)}."


def _total(spec: QuerySpec, data: list[dict], who: str) -> str:
    row = data[0]
    values = [f"{_num(row[m])} {_UNITS.get(m, m)}" for m in spec.measures if m in row]
    return f"{who}{_period(spec)}: {'; '.join(values)}."


def _ranked(spec: QuerySpec, data: list[dict], who: str) -> str:
    dim = spec.dimensions[0] if spec.dimensions else "product"
    measure = spec.measures[0]
    items = [f"{i}. {r[dim]} ({_num(r[measure])})" for i, r in enumerate(data[:10], 1)]
    more = f" … ({len(data)} in all)" if len(data) > 10 else ""
    which = "Top" if not spec.order or spec.order[0].desc else "Bottom"
    unit = _UNITS.get(measure, measure)
    return f"{which} {len(data)} by {unit} ({who}{_period(spec)}): {', '.join(items)}{more}."


def _breakdown(spec: QuerySpec, data: list[dict], who: str) -> str:
    measure = spec.measures[0]
    dims = ["date" if d == "week" else d for d in spec.dimensions]
    best = max(data, key=lambda r: r[measure] or 0)
    total = sum(r[measure] or 0 for r in data)
    where = " / ".join(str(_day(best[d])) for d in dims)
    unit = _UNITS.get(measure, measure)
    by = " and ".join(d.replace("_", " ") for d in dims)
    head = f"{unit.capitalize()} by {by} ({who}{_period(spec)}): {len(data)} rows"
    if measure.startswith("avg"):
        return f"{head}; highest {where} with {_num(best[measure])}."
    return f"{head}, {_num(total)} in all; highest {where} with {_num(best[measure])}."


def _compare(spec: QuerySpec, data: list[dict], who: str) -> str:
    measure = spec.measures[0]
    parts = [f"{r['period']}: {_num(r[measure])}" for r in data]
    text = f"{who}, {_UNITS.get(measure, measure)}: {' vs '.join(parts)}"
    first, last = data[0][measure], data[-1][measure]
    if len(data) >= 2 and first:
        text += f" ({(last - first) / first:+.1%})"
    return text + "."


def _count(spec: QuerySpec, data: list[dict], who: str) -> str:
    measure = spec.measures[0]
    if spec.dimensions:
        dim = spec.dimensions[0]
        items = ", ".join(f"{r[dim]} {_num(r[measure])}" for r in data[:12])
        return f"{_UNITS[measure].capitalize()} per {dim.replace('_', ' ')} ({who}): {items}."
    return f"{_num(data[0][measure])} {_UNITS[measure]} ({who})."


def _list(spec: QuerySpec, data: list[dict], who: str) -> str:
    dim = spec.dimensions[0]
    names = [str(r[dim]) for r in data]
    shown = ", ".join(names[:12]) + (f" … ({len(names)} in all)" if len(names) > 12 else "")
    plural = {"sales_org": "sales orgs", "sales_org_name": "countries"}.get(dim, f"{dim}s")
    scope = "" if dim == "model" else f" ({who})"
    return f"{len(names)} {plural}{scope}: {shown}."


def _model_lookup(spec: QuerySpec, data: list[dict], who: str) -> str:
    if spec.dimensions == ["model"]:
        items = ", ".join(f"{r['model']} {_num(r['series_count'])}" for r in data)
        return f"Series forecast by each model (selected by lowest backtest SMAPE): {items}."
    models = sorted({r["model"] for r in data})
    if len(models) == 1:
        return f"{who}: forecast by {models[0]} ({len(data)} series)."
    items = "; ".join(f"{r['product']} in {r['sales_org']}: {r['model']}" for r in data[:8])
    return f"{who}: {len(data)} series, {len(models)} models: {items}."


def _accuracy(spec: QuerySpec, data: list[dict], who: str) -> str:
    items = ", ".join(
        f"{r['model']} {_num(r['mean_smape'])} ({r['series_count']} series)" for r in data
    )
    return f"Mean backtest SMAPE by model (0 perfect, 2 worst; {who}): {items}."


def _best_model(spec: QuerySpec, data: list[dict], who: str) -> str:
    row = data[0]
    worst = bool(spec.order and spec.order[0].desc)
    which = "highest (worst)" if worst else "lowest (best)"
    return (
        f"{row['model']} has the {which} mean backtest SMAPE: {_num(row['mean_smape'])} over "
        f"{row['series_count']} series ({who}; 0 is perfect, 2 the worst)."
    )


def _worst_series(spec: QuerySpec, data: list[dict], who: str) -> str:
    items = "; ".join(
        f"{r['timeseries_id']} {r['product']} ({r['model']}) {_num(r['mean_smape'])}"
        for r in data[:5]
    )
    more = f" … ({len(data)} shown)" if len(data) > 5 else ""
    return f"Series with the worst backtest SMAPE of their selected model: {items}{more}."


def _generic(spec: QuerySpec, data: list[dict], who: str) -> str:
    return f"{who}: {len(data)} rows."


_WRITERS = {
    "series": _series,
    "forecast": _series,
    "total": _total,
    "top": _ranked,
    "breakdown": _breakdown,
    "compare": _compare,
    "count": _count,
    "list": _list,
    "model_lookup": _model_lookup,
    "accuracy": _accuracy,
    "best_model": _best_model,
    "worst_series": _worst_series,
}
