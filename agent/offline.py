"""The offline backend: a deterministic parser from a question to a QuerySpec, then SQL.

No model, no network: words are matched against the semantic layer's names and synonyms and the
warehouse's own values (entity linking in agent.entities, time in agent.time_ranges), a few
rules decide the question's kind, and agent.sql_render writes the SQL. What it cannot explain
lowers `confidence`, so auto mode can hand the question to the LLM instead.

"product Etorki" (the seed question): ETORKI is a brand, not a product. When the brand has a
single published product the answer is that product; otherwise the brand (all its products
summed over all sales orgs) — the level the user named — and `assumptions` says so. A partial
product name matching several products gets a Clarification listing them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from agent.entities import EntityIndex, Mention, build_index, fold, link
from agent.plan import ChartSpec, Clarification, Plan, SqlPlan, Turn, Unanswerable
from agent.sentences import MEASURE_LABELS, describe
from agent.spec import Order, QuerySpec
from agent.sql_render import render_sql
from agent.time_ranges import find_times
from salesgenie.warehouses import Warehouse
from semantic_layer.guard import check_sql
from semantic_layer.model import SemanticModel
from semantic_layer.render import parser_vocabulary

__all__ = ["OfflineBackend", "describe"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_STOP = _words(
    "a an the of for and or to in on at by per with from as is are was were be been do does "
    "did me my our us we i you it its this that these those please can could would will shall "
    "what which who whom how much many show give tell get see display draw make let all each "
    "every any some than then there their them they have has had about over into only just "
    "also same instead now vs versus between since until so"
)
# Words the rules below read (kinds, charts, measures, time): known, so not "ignored".
_KNOWN = _words(
    "sales sale sold sell selling units unit quantity volume actual actuals history historical "
    "train training predict prediction predictions predicted forecast forecasts forecasted "
    "future next coming upcoming plot chart graph graphic line lines bar bars table trend "
    "evolution time weekly week weeks monthly month months quarter quarterly year years yearly "
    "annual total sum overall average avg mean top bottom best worst most least highest lowest "
    "biggest smallest largest count number list product products brand brands org orgs sales_org "
    "organisation organisations organization organizations country countries market markets "
    "model models algorithm algorithms series smape accuracy accurate error errors backtest "
    "backtests win won wins selected chosen used uses compare comparison compared against "
    "colour colours color colors differentiate different distinguish separate dashed interval "
    "band bounds versus ytd date to performance perform performed forecasting give"
)
_OUT_OF_SCOPE = re.compile(
    r"\b(revenue|revenues|turnover|price|prices|pricing|money|euros?|eur|dollars?|margins?|"
    r"profits?|costs?|customers?|clients?|stocks?|inventory|weather|temperature|employees?|"
    r"salar(y|ies)|discounts?|promotions?|net value|invoices?|orders?)\b"
)
_SQL = re.compile(r"^\s*(select|with|insert|update|delete|drop|create|alter|pragma|attach|copy)\b")
_ACCURACY = re.compile(r"\b(smape|accuracy|accurate|backtests?|errors?|mape)\b")
_FORECAST_WORDS = re.compile(
    r"\b(forecasts?|forecasted|predictions?|predict|predicted|future|next|coming|upcoming|will)\b"
)
_ACTUAL_WORDS = re.compile(r"\b(actuals?|history|historical|train|training|sold|past)\b")
# "sales and the forecast", "sales + forecast": both, not the forecast alone.
_BOTH = re.compile(
    r"\b(sales|actuals?)\b.*(\b(and|with|plus|together)\b|\+).*\b(forecasts?|predictions?)\b"
    r"|\b(forecasts?|predictions?)\b.*(\b(and|with|plus)\b|\+).*\b(sales|actuals?)\b"
)
_DIM_WORDS: list[tuple[str, str]] = [
    (r"sales\s+org(?:ani[sz]ations?|s)?|orgs?|organi[sz]ations?", "sales_org"),
    (r"countr(?:y|ies)|markets?", "sales_org_name"),
    (r"brands?", "brand"),
    (r"products?|items?|articles?|skus?", "product"),
    (r"models?|algorithms?", "model"),
    (r"series", "timeseries_id"),
    (r"months?|monthly", "month"),
    (r"quarters?|quarterly", "quarter"),
    (r"years?|yearly|annual(?:ly)?", "year"),
    (r"weeks?|weekly", "week"),
]
_COUNT_MEASURE = {
    "product": "product_count",
    "brand": "brand_count",
    "sales_org": "sales_org_count",
    "sales_org_name": "sales_org_count",
    "timeseries_id": "series_count",
    "model": "model_count",
}
_TIME_DIMS = {"month", "quarter", "year", "week"}
_MAX_WORDS = 60
_FOLLOW_UP = re.compile(
    r"^\s*(and|what about|how about|same|now|only|just|instead|as a|show it|then|also|"
    r"but|ok|okay|make it|by|per)\b"
)


class OfflineBackend:
    """Question → QuerySpec → SQL, deterministically and in milliseconds."""

    name = "offline"

    def __init__(self, model: SemanticModel, warehouse: Warehouse) -> None:
        self.model = model
        self.dialect = "duckdb"  # the guard's read dialect; it renders for the warehouse
        self._allowed = model.allowed_columns()
        self.latest, self.last_forecast, self.horizon = _data_dates(warehouse, self._allowed)
        rows = _select(
            warehouse,
            self._allowed,
            "SELECT DISTINCT product, brand, sales_org, sales_org_name "
            "FROM prd_sales.gold.mapping_timeseries_id_product",
        )
        models = _select(
            warehouse,
            self._allowed,
            "SELECT DISTINCT model FROM prd_sales.gold.sales_weekly_evaluation_output "
            "UNION SELECT DISTINCT model FROM prd_sales.gold.sales_overall "
            "WHERE type = 'predict'",
        )
        self.index: EntityIndex = build_index(
            [tuple(r) for r in rows], sorted(r[0] for r in models if r[0]), model
        )
        vocabulary = parser_vocabulary(model)
        layer_words = {
            w
            for terms in (vocabulary.tables, vocabulary.columns, vocabulary.metrics)
            for term in terms
            for w in term.split()
        }
        self.reserved = _STOP | _KNOWN | layer_words
        self.suggestions = [
            q.question for q in model.verified_queries if q.use_as_onboarding_question
        ]

    # -- the protocol -------------------------------------------------------------------------

    def plan(self, question: str, history: list[Turn]) -> Plan:
        text = " ".join(fold(question).split())
        if _SQL.match(text):
            return Unanswerable(
                message="That looks like SQL, not a question: run it with "
                '`salesgenie sql "…"` (read-only, through the same guard).',
                suggestions=self.suggestions,
            )
        if found := _OUT_OF_SCOPE.search(text):
            return Unanswerable(
                message=f"The data has unit sales, forecasts and forecast accuracy by product, "
                f"brand and sales org; it has nothing on {found.group(0)}.",
                suggestions=self.suggestions,
            )
        times = find_times(text, self.latest)
        words = re.findall(r"[a-z0-9]+(?:\.[0-9]+[a-z]*)?", times.text)
        unread = words[_MAX_WORDS:]  # linking is quadratic in length: questions are short
        words = words[:_MAX_WORDS]
        mentions, fixes = link(words, self.index, self.reserved)
        previous = _previous_spec(history)
        resolved = self._resolve(mentions, words, text)
        if isinstance(resolved, Clarification):
            return resolved
        filters, label, assumptions = resolved
        assumptions += [f"read '{typo}' as '{fix}'" for typo, fix in fixes.items()]
        spec = self._spec(text, times, filters, label, previous)
        if spec is None:
            return Unanswerable(
                message="I could not find a product, brand, sales org, model or measure of the "
                "sales forecast data in that question.",
                suggestions=self.suggestions,
            )
        if spec.kind in ("series", "forecast", "total", "top", "breakdown", "compare"):
            assumptions.insert(0, f"latest actual week: {self.latest}")
        if spec.time_range:
            assumptions.append(f"period: {spec.time_range.label}")
        assumptions += self._caveats(spec, times.forecast_weeks)
        covered = {j for m in mentions for j in range(m.start, m.end)}
        ignored = [
            w
            for j, w in enumerate(words)
            if j not in covered and w not in self.reserved and not w.isdigit()
        ]
        if unread:
            ignored.append(f"{len(unread)} words after the first {_MAX_WORDS}")
        confidence = max(0.2, 1.0 - 0.15 * len(ignored) - 0.05 * len(fixes))
        if ignored:
            assumptions.append(f"ignored: {', '.join(ignored)}")
        return SqlPlan(
            sql=render_sql(spec, self.dialect),
            chart=self.chart(spec),
            spec=spec,
            assumptions=assumptions,
            summary_hint=f"{spec.kind}: {spec.entity_label}",
            confidence=round(confidence, 2),
        )

    def describe(self, plan: SqlPlan, columns: list[str], rows: Sequence[Sequence[Any]]) -> str:
        """The answer sentence for a plan this backend made (see agent.sentences.describe)."""
        return describe(plan.spec, columns, rows)

    # -- entities -----------------------------------------------------------------------------

    def _resolve(
        self, mentions: list[Mention], words: list[str], text: str
    ) -> Clarification | tuple[list[tuple[str, list[str]]], str, list[str]]:
        """Mentions → filters (field, values), a label for the answer, and the assumptions."""
        chosen: dict[str, list[str]] = {}
        assumptions: list[str] = []
        for mention in mentions:
            before = words[mention.start - 1] if mention.start else ""
            picked = self._pick(mention, before, chosen, assumptions, text)
            if isinstance(picked, Clarification):
                return picked
            field, values = picked
            chosen[field] = list(dict.fromkeys([*chosen.get(field, []), *values]))
        if "product" in chosen and "brand" in chosen:
            # 'ETORKI … PORT 250G': the product names already say the brand.
            del chosen["brand"]
        filters = list(chosen.items())
        return filters, self._label(chosen), assumptions

    def _pick(
        self,
        mention: Mention,
        before: str,
        chosen: dict[str, list[str]],
        assumptions: list[str],
        text: str,
    ) -> Clarification | tuple[str, list[str]]:
        candidates = mention.candidates
        fields = {e.field for e in candidates}
        if len(fields) > 1 and "brand" in fields and mention.how != "exact":
            # 'caprice' starts the brand CAPRICE DES DIEUX and its products: the brand.
            candidates = [e for e in candidates if e.field == "brand"]
        elif len(fields) > 1:
            candidates = [e for e in candidates if e.field == _preferred(fields)]
        field = candidates[0].field
        values = sorted({e.value for e in candidates})
        if field == "brand" and len(values) == 1 and before in ("product", "products"):
            return self._brand_as_product(values[0], mention, assumptions)
        if field == "product" and len(values) > 1:
            brands = chosen.get("brand")
            if brands:
                values = [v for v in values if any(v.startswith(b) for b in brands)] or values
            if len(values) > 1 and not re.search(r"\b(all|every|products)\b", text):
                return Clarification(
                    message=f"'{mention.text}' matches {len(values)} products; which one? "
                    "(or ask for the brand, or for all of them)",
                    candidates=values[:12],
                )
            if len(values) > 1:
                assumptions.append(f"'{mention.text}': all {len(values)} matching products")
        if field == "brand" and len(values) > 1:
            return Clarification(
                message=f"'{mention.text}' matches several brands; which one?",
                candidates=values,
            )
        if field in ("product", "brand") and not any(e.published for e in candidates):
            assumptions.append(f"{', '.join(values)}: no published series in the warehouse")
        return field, values

    def _brand_as_product(
        self, brand: str, mention: Mention, assumptions: list[str]
    ) -> tuple[str, list[str]]:
        products = sorted(self.index.products_by_brand.get(brand, ()))
        if len(products) == 1:
            assumptions.append(
                f"'product {mention.text}' read as {products[0]}, the only published "
                f"{brand} product (summed over its sales orgs)"
            )
            return "product", products
        assumptions.append(
            f"'product {mention.text}' read as the brand {brand}: all its {len(products)} "
            "published products summed over all sales orgs (name one product for a single "
            "product)"
        )
        return "brand", [brand]

    def _label(self, chosen: dict[str, list[str]]) -> str:
        parts = []
        for field in ("product", "brand"):
            if field in chosen:
                kind = field if len(chosen[field]) == 1 else f"{field}s"
                parts.append(f"{' + '.join(chosen[field])} ({kind})")
        if "model" in chosen:
            parts.append(" + ".join(chosen["model"]))
        orgs = chosen.get("sales_org")
        where = (
            ", ".join(f"{o} {self.index.org_names.get(o, '')}".strip() for o in orgs)
            if orgs
            else "all sales orgs"
        )
        return f"{', '.join(parts) or 'all products'}, {where}"

    # -- the question's kind -------------------------------------------------------------------

    def _spec(
        self,
        text: str,
        times: Any,
        filters: list[tuple[str, list[str]]],
        label: str,
        previous: QuerySpec | None,
    ) -> QuerySpec | None:
        dims = _dimensions(times.text, filters)
        if previous is not None and (_FOLLOW_UP.match(text) or not _has_kind(text)):
            return _follow_up(previous, text, times, filters, label, dims)
        spec = QuerySpec(kind="series", entity_label=label)
        for field, values in filters:
            spec = spec.with_filter(field, values)  # type: ignore[arg-type]
        ranges = times.ranges
        spec.time_range = ranges[0] if len(ranges) == 1 else None
        forecast = (
            bool(_FORECAST_WORDS.search(text))
            and not _ACTUAL_WORDS.search(text)
            and not _BOTH.search(text)
        )
        measure = "forecast_sales" if forecast else "actual_sales"
        limit = _top_n(text)
        listed = re.search(
            r"\b(list|which|what|show|name)\b(\s+(me|all|the|of|are|available))*\s+"
            r"(products|brands|sales orgs?|organi[sz]ations|countries|markets|models|series)\b",
            times.text,
        )
        if listed and not re.search(
            r"\b(most|least|top|bottom|units|best|worst|wins?|won|selected|chosen|used|"
            r"forecasts?|forecasted)\b",
            text,
        ):
            dim = _dimensions(listed.group(4), [])[0]
            return spec.model_copy(update={"kind": "list", "dimensions": [dim], "time_range": None})
        if _ACCURACY.search(text) or re.search(
            r"\b(best|worst|most accurate)\b.*\bmodels?\b", text
        ):
            return _accuracy(spec, text, dims, limit)
        if re.search(
            r"\b(which|what)\b(\s+\w+){0,3}\s+(models?|algorithms?)\b|\bmodels?\b.*\b(wins?|won|"
            r"selected|chosen|used)\b|\bselected models?\b|\bforecast(ed)? by\b(?!\s+(\w+\s+)?"
            r"(brands?|products?|sales|orgs?|countr|markets?|months?|weeks?|quarters?|years?))",
            text,
        ) or spec.filter_values("model"):
            lookup = _model_lookup(spec)
            if not spec.filters and limit is None and re.search(r"\b(the )?most\b", text):
                return lookup.model_copy(update={"limit": 1})  # "which model … the most …"
            return lookup
        counted = re.search(r"\b(how many|number of|count)\b\s+(\w+(\s+\w+)?)", times.text)
        if counted and (object_dims := _dimensions(counted.group(2), [])):
            return spec.model_copy(
                update={
                    "kind": "count",
                    "measures": [_COUNT_MEASURE.get(object_dims[0], "series_count")],
                    "dimensions": [d for d in dims if d in _COUNT_MEASURE and d != object_dims[0]],
                    "time_range": None,
                }
            )

        if limit is not None or re.search(
            r"\b(most|least|highest|lowest|biggest|smallest|largest|best|worst)\b", text
        ):
            group = [d for d in dims if d not in _TIME_DIMS] or ["product"]
            desc = not re.search(r"\b(bottom|least|lowest|smallest|worst)\b", text)
            plural = re.search(
                r"\b(products|brands|orgs|organi[sz]ations|countries|series)\b", text
            )
            return spec.model_copy(
                update={
                    "kind": "top",
                    "measures": [measure],
                    "dimensions": group[:1],
                    "order": [Order(by=measure, desc=desc)],
                    "limit": limit or (5 if plural else 1),
                }
            )
        if len(ranges) >= 2:
            return spec.model_copy(
                update={"kind": "compare", "measures": [measure], "periods": ranges}
            )
        total = re.search(r"\b(total|sum)\b", text)
        if (
            forecast
            and not total
            and (times.forecast_weeks is not None or not any(d in _TIME_DIMS for d in dims))
        ):
            return spec.model_copy(
                update={"kind": "forecast", "dimensions": [d for d in dims if d not in _TIME_DIMS]}
            )
        if dims and re.search(r"\b(by|per|each|every|monthly|yearly|quarterly|annual)\b", text):
            measures = [measure]
            if re.search(r"\b(average|avg|mean)\b", text):
                measures = [f"avg_weekly_{measure}"]
                dims = [d for d in dims if d != "week"] or dims
            return spec.model_copy(
                update={"kind": "breakdown", "measures": measures, "dimensions": dims}
            )
        if re.search(r"\b(total|sum|how much|how many|overall|average|avg|mean)\b", text):
            measures = (
                [measure]
                if not re.search(r"\b(average|avg|mean)\b", text)
                else [f"avg_weekly_{measure}"]
            )
            if re.search(r"\b(total|sum)\b", text) and measures[0].startswith("avg"):
                measures.insert(0, measure)
            return spec.model_copy(update={"kind": "total", "measures": measures})
        if (
            filters
            or ranges
            or re.search(
                r"\b(plot|chart|graph|graphic|line|trend|evolution|sales|sold|forecasts?|history)\b",
                text,
            )
        ):
            if forecast:
                return spec.model_copy(update={"kind": "forecast"})
            if _ACTUAL_WORDS.search(text) and not _FORECAST_WORDS.search(text):
                return spec.with_filter("type", ["train"])  # "history", "actuals": no forecast
            return spec
        return None

    def _caveats(self, spec: QuerySpec, forecast_weeks: int | None) -> list[str]:
        notes = []
        if forecast_weeks and forecast_weeks > self.horizon:
            notes.append(f"the forecast covers only {self.horizon} weeks (to {self.last_forecast})")
        one_series = all(len(spec.filter_values(f)) == 1 for f in ("product", "sales_org"))
        if spec.kind in ("series", "forecast") and not one_series:
            notes.append("sales_lower / sales_upper are summed over series: not a 95% interval")
        if spec.kind in ("accuracy", "best_model", "worst_series"):
            notes.append("SMAPE: mean over backtest windows, 0 is perfect and 2 the worst")
        return notes

    # -- charts -------------------------------------------------------------------------------

    def chart(self, spec: QuerySpec) -> ChartSpec:
        """Rules, never code: date + measure → line; train + predict → two colours, predict
        dashed with its band; category + measure → bar; one value → no chart."""
        if spec.chart == "table":
            return ChartSpec(kind="none")
        title = spec.entity_label
        if spec.kind in ("series", "forecast"):
            types = spec.filter_values("type")
            y = "forecast_units" if spec.kind == "forecast" else "sales"
            extra = [d for d in spec.dimensions if d not in _TIME_DIMS and d != "type"]
            both = spec.kind == "series" and not types
            grain = {"week": "week"}.get(spec.grain, spec.grain)
            return ChartSpec(
                kind="bar" if spec.chart == "bar" else "line",
                x="date",
                y=y,
                color="type" if both else (extra[0] if extra else None),
                dashed=["predict"] if both else [],
                band=None if types == ["train"] else ("sales_lower", "sales_upper"),
                title=f"{title}: {'actual and forecast' if both else 'forecast'} units per {grain}"
                if not types or types == ["predict"]
                else f"{title}: actual units",
                x_label="Week (Monday)" if spec.grain == "week" else spec.grain.capitalize(),
                y_label=f"Units per {grain}",
            )
        x, y, color = self._chart_columns(spec)
        if x is None or y is None:
            return ChartSpec(kind="none")
        kind = "line" if x in ("month", "quarter", "date") and spec.chart != "bar" else "bar"
        if spec.chart in ("line", "bar"):
            kind = spec.chart
        return ChartSpec(
            kind=kind,
            x=x,
            y=y,
            color=color,
            title=f"{MEASURE_LABELS.get(y, y)} by {x.replace('_', ' ')}: {title}",
            x_label=x.replace("_", " ").capitalize(),
            y_label=MEASURE_LABELS.get(y, y),
        )

    def _chart_columns(self, spec: QuerySpec) -> tuple[str | None, str | None, str | None]:
        if spec.kind == "compare":
            return "period", spec.measures[0], None
        if spec.kind == "accuracy":
            return "model", "mean_smape", None
        if spec.kind == "worst_series":
            return "timeseries_id", "mean_smape", None
        if spec.kind == "model_lookup" and spec.dimensions == ["model"]:
            return "model", "series_count", None
        if spec.kind in ("top", "breakdown", "count") and spec.dimensions and spec.measures:
            dims = ["date" if d == "week" else d for d in spec.dimensions]
            timed = [d for d in dims if d in ("date", "month", "quarter", "year")]
            x = timed[0] if timed else dims[0]
            others = [d for d in dims if d != x]
            return x, spec.measures[0], others[0] if others else None
        return None, None, None


# -- helpers ----------------------------------------------------------------------------------


def _select(warehouse: Warehouse, allowed: Any, sql: str) -> list[tuple[Any, ...]]:
    """The parser's own look-ups pass the same guard as every answer."""
    return warehouse.execute(check_sql(sql, allowed, dialect=warehouse.dialect).sql).rows


def _data_dates(warehouse: Warehouse, allowed: Any) -> tuple[date, date, int]:
    """Latest actual week, last forecast week and the horizon (weeks) of the published data."""
    row = _select(
        warehouse,
        allowed,
        "SELECT MAX(CASE WHEN type = 'train' THEN date END) AS latest_actual, "
        "MAX(date) AS last_week, COUNT(DISTINCT CASE WHEN type = 'predict' THEN date END) "
        "AS horizon FROM prd_sales.gold.sales_overall",
    )[0]
    latest = row[0] or date.today() - timedelta(days=date.today().weekday())
    return latest, row[1] or latest, int(row[2] or 0)


def _preferred(fields: set[str]) -> str:
    for field in ("brand", "sales_org", "product", "model"):
        if field in fields:
            return field
    return sorted(fields)[0]


def _dimensions(text: str, filters: list[tuple[str, list[str]]]) -> list[str]:
    """Group-by words in `text`, in the order written (a filtered field is not a group)."""
    filtered = {field for field, values in filters if len(values) == 1}
    found: list[tuple[int, str]] = []
    for pattern, dim in _DIM_WORDS:
        match = re.search(rf"\b({pattern})\b", text)
        if match and dim not in filtered and dim not in [d for _, d in found]:
            found.append((match.start(), dim))
    if any(d == "sales_org" for _, d in found):
        found = [(p, d) for p, d in found if d != "sales_org_name" or "countr" in text]
    return [d for _, d in sorted(found)]


def _top_n(text: str) -> int | None:
    match = re.search(
        r"\b(?:top|bottom|first|best|worst)\s+(\d{1,3})\b|\b(?:which|what)\s+(\d{1,3})\b"
        r"|\b(\d{1,3})\s+(?:best|worst|top|bottom|most|least|biggest|largest|highest|lowest)\b",
        text,
    )
    if match:
        return int(match.group(1) or match.group(2) or match.group(3))
    return 5 if re.search(r"\b(top|bottom)\b", text) else None


def _has_kind(text: str) -> bool:
    return bool(
        re.search(
            r"\b(show|plot|chart|graph|graphic|list|which|what|how|total|top|compare|forecast|"
            r"sales|smape|accuracy)\b",
            text,
        )
    )


def _accuracy(spec: QuerySpec, text: str, dims: list[str], limit: int | None) -> QuerySpec:
    series_words = re.search(r"\b(series|products?)\b", text)
    if re.search(r"\b(worst|least accurate|highest)\b", text) and series_words:
        return spec.model_copy(
            update={
                "kind": "worst_series",
                "measures": ["mean_smape"],
                "order": [Order(by="mean_smape", desc=True)],
                "limit": limit or 10,
                "time_range": None,
            }
        )
    if re.search(r"\b(best|most accurate|lowest|worst|least accurate)\b", text):
        worst = bool(re.search(r"\b(worst|least accurate)\b", text))
        return spec.model_copy(
            update={
                "kind": "best_model",
                "measures": ["mean_smape"],
                "order": [Order(by="mean_smape", desc=worst)],
                "limit": 1,
                "time_range": None,
            }
        )
    return spec.model_copy(
        update={"kind": "accuracy", "measures": ["mean_smape"], "time_range": None}
    )


def _model_lookup(spec: QuerySpec) -> QuerySpec:
    if spec.filters:
        dims = ["product", "sales_org", "model"]
        return spec.model_copy(
            update={"kind": "model_lookup", "dimensions": dims, "time_range": None}
        )
    return spec.model_copy(
        update={
            "kind": "model_lookup",
            "dimensions": ["model"],
            "measures": ["series_count"],
            "order": [Order(by="series_count", desc=True), Order(by="model")],
            "time_range": None,
        }
    )


def _previous_spec(history: list[Turn]) -> QuerySpec | None:
    for turn in reversed(history):
        spec = getattr(turn.plan, "spec", None)
        if isinstance(spec, QuerySpec):
            return spec
        if isinstance(spec, dict):
            return QuerySpec.model_validate(spec)
    return None


def _follow_up(
    previous: QuerySpec,
    text: str,
    times: Any,
    filters: list[tuple[str, list[str]]],
    label: str,
    dims: list[str],
) -> QuerySpec:
    """The last spec with what this turn changes: entities, period, type, chart, grain."""
    spec = previous.model_copy(deep=True)
    fields = {field for field, _ in filters}
    if fields & {"product", "brand"}:
        spec = spec.with_filter("product", []).with_filter("brand", [])
    for field, values in filters:
        spec = spec.with_filter(field, values)  # type: ignore[arg-type]
    if filters:
        spec.entity_label = _merge_label(previous.entity_label, label, fields)
    if times.ranges:
        if spec.kind == "compare" or len(times.ranges) > 1:
            spec.periods = times.ranges
            spec.kind = "compare" if len(times.ranges) > 1 else spec.kind
        if len(times.ranges) == 1:
            spec.time_range = times.ranges[0]
    if re.search(r"\b(only|just)\b.*\b(forecasts?|predictions?|predict)\b", text):
        spec = spec.with_filter("type", ["predict"])
    elif re.search(r"\b(only|just)\b.*\b(actuals?|history|train|sales)\b", text):
        spec = spec.with_filter("type", ["train"])
    elif re.search(r"\bboth\b", text):
        spec = spec.with_filter("type", [])
    if re.search(r"\b(table|tabular|rows)\b", text):
        spec.chart = "table"
    elif re.search(r"\bbar\b", text):
        spec.chart = "bar"
    elif re.search(r"\b(line|chart|plot|graph)\b", text):
        spec.chart = "line" if spec.kind in ("series", "forecast") else "auto"
    time_dims = [d for d in dims if d in _TIME_DIMS]
    if time_dims and re.search(r"\b(by|per|monthly|yearly|quarterly|weekly)\b", text):
        if spec.kind in ("series", "forecast"):
            spec.grain = time_dims[0]  # type: ignore[assignment]
        else:
            spec.dimensions = [*[d for d in spec.dimensions if d not in _TIME_DIMS], *time_dims]
            spec.kind = "breakdown" if spec.kind == "total" else spec.kind
    category = [d for d in dims if d not in _TIME_DIMS and d != "model"]
    if category and re.search(r"\b(by|per|each)\b", text) and spec.kind in ("total", "breakdown"):
        spec.dimensions = [*category, *[d for d in spec.dimensions if d in _TIME_DIMS]]
        spec.kind = "breakdown"
    return spec


def _merge_label(old: str, new: str, fields: set[str]) -> str:
    """'ETORKI (brand), all sales orgs' + 'FR01' → 'ETORKI (brand), FR01 France'."""
    old_what, _, old_where = old.rpartition(", ")
    new_what, _, new_where = new.rpartition(", ")
    what = new_what if fields & {"product", "brand", "model"} else old_what
    where = new_where if "sales_org" in fields else old_where
    return f"{what}, {where}" if what else where
