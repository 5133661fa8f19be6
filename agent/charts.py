"""Draw an answer's chart from its declarative ChartSpec: rules pick columns, never code.

matplotlib's object API on the Agg canvas (no pyplot): no global state, safe in servers, and
imported only when a chart is drawn so that `salesgenie ask --json` without a chart stays fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.plan import ChartSpec

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# Actual history blue, forecast orange as in the training charts; other series cycle on.
KNOWN_COLORS = {"train": "tab:blue", "actual": "tab:blue", "predict": "tab:orange"}
LEGEND = {"train": "train (actual)", "predict": "predict (forecast)"}
CYCLE = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink"]
FEW_PERIODS = 12  # up to this many dates on a line chart, each gets its tick
MAX_BARS = 40  # more categories are unreadable: the chart keeps the first ones (rows order)


def render_chart(
    spec: ChartSpec, columns: Sequence[str], rows: Sequence[Sequence[Any]], path: str | Path
) -> Path | None:
    """Write the PNG and return its path; None when there is nothing worth drawing
    (kind none, a single value or no rows, or the spec names a column the result lacks)."""
    index = {name: i for i, name in enumerate(columns)}
    needed = [spec.x, spec.y, spec.color, *(spec.band or ())]
    if spec.kind == "none" or len(rows) < 2 or spec.x is None or spec.y is None:
        return None
    if any(name is not None and name not in index for name in needed):
        return None
    from matplotlib.figure import Figure

    # Constrained layout draws the figure twice (~40% of a line chart's time): lines, whose
    # tick labels are short, get fixed margins; bars keep it for their long category labels.
    line = spec.kind == "line"
    fig = Figure(figsize=(10, 5), layout=None if line else "constrained")
    if line:
        fig.subplots_adjust(left=0.09, right=0.98, top=0.93, bottom=0.11)
    ax = fig.add_subplot()
    if line:
        _line(ax, spec, index, rows)
    else:
        _bar(ax, spec, index, rows)
    ax.set_title(spec.title or f"{spec.y} by {spec.x}")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def _groups(
    spec: ChartSpec, index: dict[str, int], rows: Sequence[Sequence[Any]]
) -> dict[Any, list[Sequence[Any]]]:
    """Rows split by the colour column's value, in order of first appearance."""
    groups: dict[Any, list[Sequence[Any]]] = {}
    for row in rows:
        key = row[index[spec.color]] if spec.color else None
        groups.setdefault(key, []).append(row)
    return groups


def _color(key: Any, position: int) -> str:
    return KNOWN_COLORS.get(str(key).lower(), CYCLE[position % len(CYCLE)])


def _line(ax: Axes, spec: ChartSpec, index: dict[str, int], rows: Sequence[Sequence[Any]]) -> None:
    """One line per colour value; dashed values get their interval band and are joined to the
    end of the solid line they continue (a forecast starts where the history stops)."""
    xi, yi = index[spec.x], index[spec.y]  # type: ignore[index]
    groups = _groups(spec, index, rows)
    last_solid: tuple[Any, float, str] | None = None
    dated = False
    for position, (key, members) in enumerate(groups.items()):
        points = sorted(
            ((_x_value(r[xi]), _number(r[yi]), r) for r in members if r[xi] is not None),
            key=lambda p: p[0],
        )
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        dated = dated or any(isinstance(x, date) for x in xs)
        color = _color(key, position)
        dashed = key is not None and str(key) in spec.dashed
        label = None if key is None else LEGEND.get(str(key), str(key))
        marker = "o" if len(xs) <= 30 else None
        if dashed and last_solid is not None and xs and last_solid[0] < xs[0]:
            ax.plot([last_solid[0], xs[0]], [last_solid[1], ys[0]], color=color, linestyle=":")
        ax.plot(xs, ys, color=color, linestyle="--" if dashed else "-", marker=marker, label=label)
        if spec.band and any(r[index[spec.band[0]]] is not None for _, _, r in points):
            lower, upper = (index[spec.band[0]], index[spec.band[1]])
            banded = [p for p in points if p[2][lower] is not None and p[2][upper] is not None]
            ax.fill_between(
                [p[0] for p in banded],
                [_number(p[2][lower]) for p in banded],
                [_number(p[2][upper]) for p in banded],
                color=color,
                alpha=0.2,
                label=f"{label} interval" if label else "interval",
            )
        if not dashed and xs:
            last_solid = (xs[-1], ys[-1], color)
    if dated:
        _date_axis(ax, sorted({r[xi] for r in rows if isinstance(r[xi], date)}))
    ax.set_xlabel(spec.x_label or spec.x)
    ax.set_ylabel(spec.y_label or spec.y)
    _thousands(ax.yaxis, [_number(r[yi]) for r in rows])
    if all(_number(r[yi]) >= 0 for r in rows):
        ax.set_ylim(bottom=0)


def _date_axis(ax: Axes, dates: list[date]) -> None:
    """A few periods (a forecast's weeks): a tick on each, as "01 Sep", the year where it starts
    or changes. More: matplotlib's concise automatic ticks, which for a few weeks would fall on
    days that are not in the data ("03, 05, …")."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
    from matplotlib.ticker import FixedFormatter, FixedLocator

    if len(dates) > FEW_PERIODS:
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        return
    labels = [
        d.strftime("%d %b %Y" if i == 0 or d.year != dates[i - 1].year else "%d %b")
        for i, d in enumerate(dates)
    ]
    ax.xaxis.set_major_locator(FixedLocator(date2num(dates)))
    ax.xaxis.set_major_formatter(FixedFormatter(labels))


def _bar(ax: Axes, spec: ChartSpec, index: dict[str, int], rows: Sequence[Sequence[Any]]) -> None:
    """Bars per category (grouped by the colour column when there is one); horizontal when
    labels are long or many, so they stay readable."""
    xi, yi = index[spec.x], index[spec.y]  # type: ignore[index]
    categories = list(dict.fromkeys(str(r[xi]) for r in rows))[:MAX_BARS]
    groups = _groups(spec, index, rows)
    width = 0.8 / len(groups)
    horizontal = len(categories) > 8 or max(len(c) for c in categories) > 12
    for position, (key, members) in enumerate(groups.items()):
        values = {str(r[xi]): _number(r[yi]) for r in members}
        offsets = [i - 0.4 + width * (position + 0.5) for i in range(len(categories))]
        heights = [values.get(c, 0.0) for c in categories]
        label = None if key is None else str(key)
        draw = ax.barh if horizontal else ax.bar
        draw(offsets, heights, width, color=_color(key, position), label=label)
    ticks = list(range(len(categories)))
    if horizontal:
        ax.set_yticks(ticks, categories)
        ax.invert_yaxis()  # first row (e.g. the top seller) on top
        _thousands(ax.xaxis, [_number(r[yi]) for r in rows])
        ax.set_xlabel(spec.y_label or spec.y)
        ax.set_ylabel(spec.x_label or spec.x)
    else:
        ax.set_xticks(ticks, categories)
        _thousands(ax.yaxis, [_number(r[yi]) for r in rows])
        ax.set_xlabel(spec.x_label or spec.x)
        ax.set_ylabel(spec.y_label or spec.y)


def _thousands(axis: Any, values: list[float]) -> None:
    """1,234,567 on large measures; two decimals on small ones such as SMAPE (0–2)."""
    from matplotlib.ticker import StrMethodFormatter

    finite = [abs(v) for v in values if v == v]
    big = bool(finite) and max(finite) >= 100
    axis.set_major_formatter(StrMethodFormatter("{x:,.0f}" if big else "{x:,.2f}"))


def _x_value(value: Any) -> Any:
    """Dates may arrive as ISO strings (rows that went through JSON): plot them as dates."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    return value


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")
