"""The typed query spec the offline parser produces (MetricFlow's idea: parse into a small,
checkable structure, then render SQL from it), so a question's meaning can be tested and
reused by follow-ups without re-reading any SQL text.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

QuestionKind = Literal[
    "series",  # weekly train (actual) and predict rows, ordered by date
    "forecast",  # the predict weeks only
    "total",  # one number (or one per group) over a period: sums and weekly averages
    "top",  # top / bottom N of a dimension by a measure
    "breakdown",  # a measure by org, brand, product, month, year…
    "compare",  # one measure over two or more periods
    "count",  # how many products, series, brands, sales orgs, models
    "list",  # which products, brands, sales orgs, models there are
    "model_lookup",  # which model forecasts a series (or how many series each model won)
    "accuracy",  # mean backtest SMAPE by model
    "best_model",  # the model with the lowest mean SMAPE
    "worst_series",  # series whose selected model has the highest SMAPE
]

# Columns of mapping_timeseries_id_product (and `model`, `type` of the fact tables) that
# filters and group-bys may name; time dimensions are derived from sales_overall.date.
FilterField = Literal["product", "brand", "sales_org", "sales_org_name", "model", "type"]
Dimension = Literal[
    "product",
    "brand",
    "sales_org",
    "sales_org_name",
    "model",
    "timeseries_id",
    "date",
    "week",
    "month",
    "quarter",
    "year",
    "type",
]
Grain = Literal["week", "month", "quarter", "year"]
ChartIntent = Literal["auto", "line", "bar", "table"]
Measure = Literal[
    "sales",  # the fact itself per row (series: summed per date and type)
    "actual_sales",
    "forecast_sales",
    "avg_weekly_actual_sales",
    "avg_weekly_forecast_sales",
    "series_count",
    "product_count",
    "brand_count",
    "sales_org_count",
    "model_count",
    "mean_smape",
]


class Filter(BaseModel):
    """field IN values (values are the warehouse's own spelling, found by entity linking)."""

    field: FilterField
    op: Literal["in"] = "in"
    values: list[str] = Field(min_length=1)


class TimeRange(BaseModel):
    """Half-open [start, end) on the week's Monday; None on a side means unbounded."""

    start: date | None = None
    end: date | None = None
    label: str


class Order(BaseModel):
    by: str  # a result column (a measure or a dimension)
    desc: bool = False


class QuerySpec(BaseModel):
    """One question's meaning in the semantic layer's terms."""

    kind: QuestionKind
    measures: list[Measure] = Field(default_factory=list)
    dimensions: list[Dimension] = Field(default_factory=list)
    grain: Grain = "week"
    filters: list[Filter] = Field(default_factory=list)
    time_range: TimeRange | None = None
    periods: list[TimeRange] = Field(default_factory=list)  # compare: one row per period
    order: list[Order] = Field(default_factory=list)
    limit: int | None = None
    chart: ChartIntent = "auto"
    entity_label: str = "all series"  # how the answer names what was filtered on

    def filter_values(self, field: str) -> list[str]:
        return next((f.values for f in self.filters if f.field == field), [])

    def with_filter(self, field: FilterField, values: list[str]) -> QuerySpec:
        """A copy with `field`'s filter replaced (or removed when values is empty)."""
        kept = [f for f in self.filters if f.field != field]
        if values:
            kept.append(Filter(field=field, values=values))
        return self.model_copy(update={"filters": kept})
