"""Time expressions → half-open date ranges, relative to the latest actual week of the data.

"Last 4 weeks" means the data's last 4 train weeks, not the wall clock's: the warehouse may be
months old, and an answer that silently returns nothing would be wrong. Every range is on the
week's Monday (a week counts in the month of its Monday, as the layer's instructions say).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from agent.spec import TimeRange

WEEK = timedelta(days=7)
MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = "(" + "|".join(sorted(MONTHS, key=len, reverse=True)) + ")"
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "ten": 10}
_N = r"(\d{1,3}|" + "|".join(_NUMBER_WORDS) + ")"
_ISO = r"(\d{4}-\d{2}-\d{2})"
_MONTH_YEAR = _MONTH + r"\s+(?:of\s+)?(\d{4})"
_POINT = rf"(?:{_ISO}|{_MONTH_YEAR}|(\d{{4}}-\d{{2}})|(\d{{4}}))"


@dataclass
class TimeFound:
    ranges: list[TimeRange]
    forecast_weeks: int | None  # "next N weeks": N (0 = the whole horizon)
    text: str  # the question with the time expressions blanked out


def _number(raw: str | None) -> int:
    if not raw:
        return 1
    return int(raw) if raw.isdigit() else _NUMBER_WORDS[raw]


def _month_range(year: int, month: int) -> tuple[date, date]:
    end = date(year + month // 12, month % 12 + 1, 1)
    return date(year, month, 1), end


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _point(groups: tuple[str | None, ...]) -> tuple[date, date, str]:
    """A date, month or year written in the question → (start, end, label)."""
    iso, month_name, month_year, year_month, year = groups
    if iso:
        day = date.fromisoformat(iso)
        return day, day + timedelta(days=1), iso
    if month_name and month_year:
        start, end = _month_range(int(month_year), MONTHS[month_name])
        return start, end, start.strftime("%B %Y")
    if year_month:
        start, end = _month_range(int(year_month[:4]), int(year_month[5:]))
        return start, end, start.strftime("%B %Y")
    assert year
    return date(int(year), 1, 1), date(int(year) + 1, 1, 1), year


def find_times(text: str, latest: date) -> TimeFound:
    """Every time expression of `text` (folded, lower case), in the order written."""
    found: list[tuple[int, TimeRange]] = []
    forecast_weeks: list[int] = []
    after = latest + WEEK  # first week with no actuals

    def take(pattern: str, make) -> None:  # noqa: ANN001 - a local callback
        nonlocal text
        for match in re.finditer(pattern, text):
            result = make(match)
            if result is not None:
                found.append((match.start(), result))
            text = text[: match.start()] + " " * len(match.group(0)) + text[match.end() :]

    def between(m: re.Match) -> TimeRange:
        start = _point(m.groups()[0:5])
        end = _point(m.groups()[5:10])
        return TimeRange(start=start[0], end=end[1], label=f"{start[2]} to {end[2]}")

    def since(m: re.Match) -> TimeRange:
        start = _point(m.groups()[0:5])
        return TimeRange(start=start[0], end=after, label=f"since {start[2]}")

    def last_weeks(m: re.Match) -> TimeRange:
        n = _number(m.group(1))
        start = latest - (n - 1) * WEEK
        return TimeRange(start=start, end=after, label=f"last {n} weeks ({start} to {latest})")

    def last_months(m: re.Match) -> TimeRange:
        n = _number(m.group(1))
        start = _add_months(latest, -(n - 1))
        return TimeRange(start=start, end=after, label=f"last {n} months ({start} to {latest})")

    def next_weeks(m: re.Match) -> TimeRange | None:
        n = _number(m.group(1)) if m.group(1) else 0
        forecast_weeks.append(n)
        if not n:
            return None
        end = after + n * WEEK
        return TimeRange(start=after, end=end, label=f"next {n} weeks (from {after})")

    def quarter(m: re.Match) -> TimeRange:
        q, year = int(m.group(1) or m.group(4)), int(m.group(2) or m.group(3))
        start = date(year, 3 * q - 2, 1)
        return TimeRange(start=start, end=_add_months(start, 3), label=f"Q{q} {year}")

    def ytd(m: re.Match) -> TimeRange:
        start = date(latest.year, 1, 1)
        return TimeRange(start=start, end=after, label=f"{latest.year} to date ({latest})")

    def relative_year(m: re.Match) -> TimeRange:
        year = latest.year - (1 if m.group(1) in ("last", "previous") else 0)
        label = f"{year} ({m.group(0).strip()})"
        return TimeRange(start=date(year, 1, 1), end=date(year + 1, 1, 1), label=label)

    def point(m: re.Match) -> TimeRange:
        start, end, label = _point(m.groups())
        return TimeRange(start=start, end=end, label=label)

    take(rf"\b(?:between|from)\s+{_POINT}\s+(?:and|to|until)\s+{_POINT}", between)
    take(rf"\b(?:since|after|from)\s+{_POINT}", since)
    take(r"\b(?:year to date|ytd|so far this year)\b", ytd)
    take(rf"\b(?:last|past|previous)\s+{_N}?\s*weeks?\b", last_weeks)
    take(rf"\b(?:last|past|previous)\s+{_N}?\s*months?\b", last_months)
    take(rf"\b(?:next|coming|upcoming|following)\s+{_N}?\s*weeks?\b", next_weeks)
    take(r"\bq([1-4])\s*(?:of\s+)?(\d{4})\b|\b(\d{4})\s*q([1-4])\b", quarter)
    take(r"\b(this|last|previous|current)\s+year\b", relative_year)
    take(rf"\b(?:in\s+)?{_POINT}\b", point)
    found.sort(key=lambda pair: pair[0])
    weeks = forecast_weeks[0] if forecast_weeks else None
    return TimeFound([r for _, r in found], weeks, text)
