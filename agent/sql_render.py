"""QuerySpec → SQL with sqlglot's builders, rendered for DuckDB or Databricks.

Building the tree (not formatting strings) means values are always quoted literals, every
computed column gets an alias (the guard would name it _col_0) and one spec renders in either
dialect. Tables carry short aliases: o = sales_overall, m = mapping_timeseries_id_product,
e = sales_weekly_evaluation_output, s = the selected model of each series.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlglot import exp

from agent.spec import Filter, QuerySpec, TimeRange

CATALOG, SCHEMA = "prd_sales", "gold"
_MAPPING_COLUMNS = {"product", "brand", "sales_org", "sales_org_name", "timeseries_id"}


def _table(name: str, alias: str) -> exp.Table:
    return exp.table_(name, db=SCHEMA, catalog=CATALOG, alias=alias)


def _col(name: str, table: str) -> exp.Column:
    return exp.column(name, table=table)


def _str(value: str) -> exp.Literal:
    return exp.Literal.string(value)


def _date(value: date) -> exp.Cast:
    return exp.cast(_str(value.isoformat()), exp.DataType.Type.DATE, copy=False)


def _type_is(value: str) -> exp.EQ:
    return exp.EQ(this=_col("type", "o"), expression=_str(value))


def _sum_where(column: exp.Expression, condition: exp.Expression) -> exp.Sum:
    return exp.Sum(this=exp.Case(ifs=[exp.If(this=condition, true=column)]))


def _join_on(left: str, right: str, column: str = "timeseries_id") -> exp.EQ:
    return exp.EQ(this=_col(column, left), expression=_col(column, right))


SMAPE = exp.Avg(
    this=exp.Case(
        ifs=[
            exp.If(
                this=exp.EQ(this=_col("metric_name", "e"), expression=_str("smape")),
                true=_col("metric_value", "e"),
            )
        ]
    )
)


def dimension_expr(name: str, fact: str = "o") -> exp.Expression:
    """The SQL for a dimension; time grains derive from the week's Monday (o.date)."""
    if name in _MAPPING_COLUMNS:
        return _col(name, "m")
    if name in ("model", "type"):
        return _col(name, fact)
    if name in ("date", "week"):
        return _col("date", "o")
    if name in ("month", "quarter"):
        trunc = exp.DateTrunc(unit=_str(name.upper()), this=_col("date", "o"))
        return exp.cast(
            trunc, exp.DataType.Type.DATE, copy=False
        )  # DuckDB's date_trunc gives a timestamp
    if name == "year":
        return exp.Year(this=_col("date", "o"))
    raise ValueError(f"unknown dimension {name!r}")


def _weeks_of(kind: str) -> exp.Count:
    """COUNT(DISTINCT the weeks of one type): the denominator of a weekly average."""
    week = exp.Case(ifs=[exp.If(this=_type_is(kind), true=_col("date", "o"))])
    return exp.Count(this=exp.Distinct(expressions=[week]))


def _count_distinct(column: str, table: str) -> Callable[[], exp.Expression]:
    return lambda: exp.Count(this=exp.Distinct(expressions=[_col(column, table)]))


def _sum_of(column: str, kind: str | None = None) -> Callable[[], exp.Expression]:
    """SUM(o.column), or its sum over the rows of one type (train or predict)."""
    if kind is None:
        return lambda: exp.Sum(this=_col(column, "o"))
    return lambda: _sum_where(_col(column, "o"), _type_is(kind))


def _weekly_average(kind: str) -> Callable[[], exp.Expression]:
    return lambda: exp.Div(this=_sum_of("sales", kind)(), expression=_weeks_of(kind))


# Each measure builds a fresh tree: the builders below attach nodes without copying them.
_MEASURES: dict[str, Callable[[], exp.Expression]] = {
    "series_count": _count_distinct("timeseries_id", "m"),
    "product_count": _count_distinct("product", "m"),
    "brand_count": _count_distinct("brand", "m"),
    "sales_org_count": _count_distinct("sales_org", "m"),
    "model_count": _count_distinct("model", "e"),
    "sales": _sum_of("sales"),
    "sales_lower": _sum_of("sales_lower"),
    "sales_upper": _sum_of("sales_upper"),
    "actual_sales": _sum_of("sales", "train"),
    "forecast_sales": _sum_of("sales", "predict"),
    "forecast_lower": _sum_of("sales_lower", "predict"),
    "forecast_upper": _sum_of("sales_upper", "predict"),
    "avg_weekly_actual_sales": _weekly_average("train"),
    "avg_weekly_forecast_sales": _weekly_average("predict"),
    "mean_smape": SMAPE.copy,
}


def measure_expr(name: str) -> exp.Expression:
    """The SQL for a measure: the semantic layer's metric expressions, with table aliases."""
    return _MEASURES[name]()


def _filters(filters: list[Filter], fact: str = "o") -> list[exp.Expression]:
    out: list[exp.Expression] = []
    for f in filters:
        column = dimension_expr(f.field, fact)
        out.append(column.isin(*(_str(v) for v in f.values), copy=False))
    return out


def _in_range(time_range: TimeRange, column: exp.Expression) -> exp.Expression | None:
    parts: list[exp.Expression] = []
    if time_range.start:
        parts.append(exp.GTE(this=column.copy(), expression=_date(time_range.start)))
    if time_range.end:
        parts.append(exp.LT(this=column.copy(), expression=_date(time_range.end)))
    return exp.and_(*parts, copy=False) if parts else None


def _where(select: exp.Select, conditions: list[exp.Expression | None]) -> exp.Select:
    kept = [c for c in conditions if c is not None]
    return select.where(exp.and_(*kept, copy=False), copy=False) if kept else select


def _ordered(select: exp.Select, spec: QuerySpec, default: list[str]) -> exp.Select:
    order = [(o.by, o.desc) for o in spec.order] or [(name, False) for name in default]
    if not order:
        return select
    return select.order_by(
        *(exp.Ordered(this=exp.column(by), desc=desc) for by, desc in order), copy=False
    )


def _limited(select: exp.Select, spec: QuerySpec) -> exp.Select:
    return select.limit(spec.limit, copy=False) if spec.limit else select


def _sales_select(spec: QuerySpec, projections: list[exp.Expression]) -> exp.Select:
    """SELECT … FROM sales_overall o JOIN mapping m, with the spec's filters and time range."""
    query = (
        exp.select(*projections, copy=False)
        .from_(_table("sales_overall", "o"), copy=False)
        .join(_table("mapping_timeseries_id_product", "m"), on=_join_on("o", "m"), copy=False)
    )
    date_col = _col("date", "o")
    time = _in_range(spec.time_range, date_col) if spec.time_range else None
    return _where(query, [*_filters(spec.filters), time])


def _grouped(select: exp.Select, dims: list[str], fact: str = "o") -> exp.Select:
    return select.group_by(*(dimension_expr(d, fact) for d in dims), copy=False) if dims else select


def _dim_alias(name: str) -> str:
    return "date" if name == "week" else name


def _series(spec: QuerySpec) -> exp.Select:
    """Weekly (or monthly…) rows per type, with the interval bounds: the seed's chart."""
    time_dim = spec.grain if spec.grain != "week" else "date"
    dims = [time_dim, *[d for d in spec.dimensions if d not in (time_dim, "type", "date")]]
    projections = [exp.alias_(dimension_expr(time_dim), "date", copy=False)]
    projections += [exp.alias_(dimension_expr(d), d, copy=False) for d in dims[1:]]
    forecast_only = spec.kind == "forecast"
    if not forecast_only:
        projections.append(exp.alias_(_col("type", "o"), "type", copy=False))
    value = "forecast_units" if forecast_only else "sales"
    projections += [
        exp.alias_(measure_expr("sales"), value, copy=False),
        exp.alias_(measure_expr("sales_lower"), "sales_lower", copy=False),
        exp.alias_(measure_expr("sales_upper"), "sales_upper", copy=False),
    ]
    query = _sales_select(spec, projections)
    if forecast_only and "predict" not in spec.filter_values("type"):
        query = query.where(_type_is("predict"), copy=False)
    group = dims if forecast_only else [*dims, "type"]
    query = _grouped(query, group)
    default = ["date", *dims[1:]] if forecast_only else ["date", *dims[1:], "type"]
    return _limited(_ordered(query, spec, default), spec)


def _aggregate(spec: QuerySpec) -> exp.Select:
    """Totals, top/bottom N and breakdowns: measures grouped by the spec's dimensions."""
    dims = spec.dimensions
    projections = [exp.alias_(dimension_expr(d), _dim_alias(d), copy=False) for d in dims]
    projections += [exp.alias_(measure_expr(m), m, copy=False) for m in spec.measures]
    query = _sales_select(spec, projections)
    # Only actuals (or only forecasts) asked: other rows would add groups whose value is NULL
    # (a month with forecast weeks only) and products that have no row of that type.
    for kind, words in (
        ("train", ("actual_sales", "avg_weekly_actual_sales")),
        ("predict", ("forecast_sales", "avg_weekly_forecast_sales")),
    ):
        if spec.measures and all(m in words for m in spec.measures):
            query = query.where(_type_is(kind), copy=False)
    query = _grouped(query, dims)
    return _limited(_ordered(query, spec, [_dim_alias(d) for d in dims]), spec)


def _compare(spec: QuerySpec) -> exp.Select:
    """One row per period: CASE on the date picks the period, MIN(date) keeps them in order."""
    date_col = _col("date", "o")
    ranges = [(p, _in_range(p, date_col)) for p in spec.periods]
    period = exp.Case(ifs=[exp.If(this=cond, true=_str(p.label)) for p, cond in ranges])
    projections = [
        exp.alias_(period, "period", copy=False),
        exp.alias_(exp.Min(this=date_col.copy()), "period_start", copy=False),
        *(exp.alias_(measure_expr(m), m, copy=False) for m in spec.measures),
    ]
    query = _sales_select(spec.model_copy(update={"time_range": None}), projections)
    query = query.where(exp.or_(*(cond for _, cond in ranges)), copy=False)
    query = query.group_by(period.copy(), copy=False)
    return query.order_by(exp.Ordered(this=exp.column("period_start")), copy=False)


def _mapping_select(spec: QuerySpec, projections: list[exp.Expression]) -> exp.Select:
    query = exp.select(*projections, copy=False).from_(
        _table("mapping_timeseries_id_product", "m"), copy=False
    )
    return _where(query, _filters([f for f in spec.filters if f.field in _MAPPING_COLUMNS]))


def _count(spec: QuerySpec) -> exp.Select:
    if spec.measures == ["model_count"]:
        projections = [exp.alias_(measure_expr("model_count"), "model_count", copy=False)]
        query = exp.select(*projections, copy=False).from_(
            _table("sales_weekly_evaluation_output", "e"), copy=False
        )
        return query
    dims = spec.dimensions
    projections = [exp.alias_(_col(d, "m"), d, copy=False) for d in dims]
    projections += [exp.alias_(measure_expr(m), m, copy=False) for m in spec.measures]
    query = _mapping_select(spec, projections)
    query = query.group_by(*(_col(d, "m") for d in dims), copy=False) if dims else query
    return _limited(_ordered(query, spec, list(dims)), spec)


def _list(spec: QuerySpec) -> exp.Select:
    if spec.dimensions == ["model"]:
        query = exp.select(
            exp.alias_(_col("model", "e"), "model", copy=False), copy=False
        ).distinct(copy=False)
        query = query.from_(_table("sales_weekly_evaluation_output", "e"), copy=False)
        return query.order_by(exp.column("model"), copy=False)
    projections = [exp.alias_(_col(d, "m"), d, copy=False) for d in spec.dimensions]
    query = _mapping_select(spec, projections).distinct(copy=False)
    return _limited(_ordered(query, spec, list(spec.dimensions)), spec)


def _model_lookup(spec: QuerySpec) -> exp.Select:
    """The selected model of a series is the model on its predict rows."""
    if spec.dimensions == ["model"]:
        projections = [
            exp.alias_(_col("model", "o"), "model", copy=False),
            exp.alias_(
                exp.Count(this=exp.Distinct(expressions=[_col("timeseries_id", "o")])),
                "series_count",
                copy=False,
            ),
        ]
    else:
        projections = [exp.alias_(dimension_expr(d), d, copy=False) for d in spec.dimensions]
    query = _sales_select(spec, projections).where(_type_is("predict"), copy=False)
    query = _grouped(query, spec.dimensions)
    return _limited(_ordered(query, spec, list(spec.dimensions)), spec)


def _accuracy(spec: QuerySpec) -> exp.Select:
    """Mean backtest SMAPE per model, over the series the filters keep."""
    query = exp.select(
        exp.alias_(_col("model", "e"), "model", copy=False),
        exp.alias_(measure_expr("mean_smape"), "mean_smape", copy=False),
        exp.alias_(
            exp.Count(this=exp.Distinct(expressions=[_col("timeseries_id", "e")])),
            "series_count",
            copy=False,
        ),
        copy=False,
    ).from_(_table("sales_weekly_evaluation_output", "e"), copy=False)
    mapping_filters = [f for f in spec.filters if f.field in _MAPPING_COLUMNS]
    if mapping_filters:
        query = query.join(
            _table("mapping_timeseries_id_product", "m"), on=_join_on("e", "m"), copy=False
        )
    model_filters = [f for f in spec.filters if f.field == "model"]
    query = _where(query, [*_filters(mapping_filters), *_filters(model_filters, "e")])
    query = query.group_by(_col("model", "e"), copy=False)
    return _limited(_ordered(query, spec, ["mean_smape", "model"]), spec)


def _worst_series(spec: QuerySpec) -> exp.Select:
    """Each series' selected model (from its predict rows) with that model's mean SMAPE."""
    selected = (
        exp.select(_col("timeseries_id", "o"), _col("model", "o"), copy=False)
        .distinct(copy=False)
        .from_(_table("sales_overall", "o"), copy=False)
        .where(_type_is("predict"), copy=False)
    )
    query = (
        exp.select(
            exp.alias_(_col("timeseries_id", "s"), "timeseries_id", copy=False),
            exp.alias_(_col("product", "m"), "product", copy=False),
            exp.alias_(_col("sales_org", "m"), "sales_org", copy=False),
            exp.alias_(_col("model", "s"), "model", copy=False),
            exp.alias_(measure_expr("mean_smape"), "mean_smape", copy=False),
            copy=False,
        )
        .with_("selected", as_=selected, copy=False)
        .from_(exp.table_("selected", alias="s"), copy=False)
        .join(
            _table("sales_weekly_evaluation_output", "e"),
            on=exp.and_(_join_on("e", "s"), _join_on("e", "s", "model"), copy=False),
            copy=False,
        )
        .join(_table("mapping_timeseries_id_product", "m"), on=_join_on("s", "m"), copy=False)
    )
    mapping_filters = [f for f in spec.filters if f.field in _MAPPING_COLUMNS]
    query = _where(query, _filters(mapping_filters))
    query = query.group_by(
        _col("timeseries_id", "s"),
        _col("product", "m"),
        _col("sales_org", "m"),
        _col("model", "s"),
        copy=False,
    )
    return _limited(_ordered(query, spec, ["mean_smape"]), spec)


_BUILDERS = {
    "series": _series,
    "forecast": _series,
    "total": _aggregate,
    "top": _aggregate,
    "breakdown": _aggregate,
    "compare": _compare,
    "count": _count,
    "list": _list,
    "model_lookup": _model_lookup,
    "accuracy": _accuracy,
    "best_model": _accuracy,
    "worst_series": _worst_series,
}


def build_query(spec: QuerySpec) -> exp.Select:
    """The spec as a sqlglot tree (dialect-free)."""
    return _BUILDERS[spec.kind](spec)


def render_sql(spec: QuerySpec, dialect: str = "duckdb", *, pretty: bool = True) -> str:
    """The spec as SQL text for `dialect` ("duckdb" or "databricks")."""
    return build_query(spec).sql(dialect=dialect, pretty=pretty)
