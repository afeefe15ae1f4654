"""Typed periods: a year, a quarter, a month or a day, never compared as text.

As text, `"2024-12" > "2024"`: the string order once ranked 1,206 EPCI on a simulated December
instead of the real 2024 total. Every comparison of periods goes through this module:

- `parse("2024-03")` gives a `Period` (kind, first day, last day);
- `latest_key` orders the rows of one figure: the latest year first; within a year a measured
  value before an estimate before a simulation; then the latest end; then the longest period
  (a year before its December); so a real 2024 total beats simulated 2024 months;
- the polars expressions (`start_expr`, `end_expr`, `length_rank_expr`) do the same on whole
  columns, without a Python function per row.

Periods of the contract are `YYYY`, `YYYY-MM` and `YYYY-MM-DD`; the carpooling page also
speaks of quarters, `YYYY-Tn`.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import polars as pl

#: kind -> rank of its length (a longer period first when two end on the same day)
KINDS = {"annee": 0, "trimestre": 1, "mois": 2, "jour": 3}
KIND_LABELS = {"annee": "année", "trimestre": "trimestre", "mois": "mois", "jour": "jour"}
NATURE_ORDER = {"reel": 0, "estime": 1, "simule": 2}

_RE = re.compile(r"^(\d{4})(?:-(?:T([1-4])|(\d{2})(?:-(\d{2}))?))?$")


class PeriodError(ValueError):
    """A period that is not `YYYY`, `YYYY-Tn`, `YYYY-MM` or `YYYY-MM-DD` (the message names it)."""


@dataclass(frozen=True)
class Period:
    """One period: its text as stored, its kind and its first and last days."""

    text: str
    kind: str
    start: date
    end: date

    @property
    def year(self) -> int:
        return self.start.year

    def sort_key(self) -> tuple[date, int, date]:
        """Chronological order: by end, then the longer first, then by start."""
        return (self.end, -KINDS[self.kind], self.start)

    def __lt__(self, other: Period) -> bool:
        return self.sort_key() < other.sort_key()

    def contains(self, other: Period) -> bool:
        return self.start <= other.start and other.end <= self.end


def parse(text: str) -> Period:
    """`"2024"`, `"2024-T1"`, `"2024-03"`, `"2024-03-15"` -> `Period`; `PeriodError` otherwise."""
    m = _RE.match(str(text).strip()) if text is not None else None
    if not m:
        raise PeriodError(f"période mal formée : {text!r} (attendu AAAA, AAAA-Tn, AAAA-MM ou AAAA-MM-JJ)")
    year = int(m.group(1))
    try:
        if m.group(2):
            q = int(m.group(2))
            start = date(year, 3 * q - 2, 1)
            end_month = 3 * q
            return Period(text, "trimestre", start, date(year, end_month, calendar.monthrange(year, end_month)[1]))
        if m.group(4):
            day = date(year, int(m.group(3)), int(m.group(4)))
            return Period(text, "jour", day, day)
        if m.group(3):
            month = int(m.group(3))
            return Period(text, "mois", date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]))
    except ValueError as exc:
        raise PeriodError(f"période impossible : {text!r} ({exc})") from None
    return Period(text, "annee", date(year, 1, 1), date(year, 12, 31))


def sort(periods: Iterable[str], *, reverse: bool = False) -> list[str]:
    """Period texts in chronological order (`2024-11`, `2024-12`, `2024`: the year ends with its December)."""
    return [p.text for p in sorted((parse(p) for p in periods), key=Period.sort_key, reverse=reverse)]


def latest(periods: Iterable[str]) -> str | None:
    """The latest of some period texts (by end date; a year beats its own December)."""
    ordered = sort(periods)
    return ordered[-1] if ordered else None


def latest_key(periode: str, nature: str, source: str = "") -> tuple:
    """Sort key, smallest first, of the value a page shows among one figure's rows.

    The latest year first; within a year the measured value, then the estimate, then the
    simulation; then the latest end; then the longest period; then the source (deterministic).
    """
    p = parse(periode)
    return (-p.year, NATURE_ORDER.get(nature, 9), -p.end.toordinal(), KINDS[p.kind], source)


# -- the same on polars columns ------------------------------------------------------------------
def _parts(col: str) -> tuple[pl.Expr, pl.Expr, pl.Expr, pl.Expr]:
    c = pl.col(col)
    year = c.str.slice(0, 4).cast(pl.Int32, strict=False)
    quarter = pl.when(c.str.contains(r"^\d{4}-T[1-4]$")).then(c.str.slice(6, 1).cast(pl.Int32, strict=False))
    month = pl.when(c.str.contains(r"^\d{4}-\d{2}")).then(c.str.slice(5, 2).cast(pl.Int32, strict=False))
    day = pl.when(c.str.contains(r"^\d{4}-\d{2}-\d{2}$")).then(c.str.slice(8, 2).cast(pl.Int32, strict=False))
    return year, quarter, month, day


def kind_expr(col: str = "periode") -> pl.Expr:
    """`annee`, `trimestre`, `mois` or `jour` of a column of period texts."""
    _, quarter, month, day = _parts(col)
    return (pl.when(day.is_not_null()).then(pl.lit("jour")).when(month.is_not_null()).then(pl.lit("mois"))
            .when(quarter.is_not_null()).then(pl.lit("trimestre")).otherwise(pl.lit("annee")))


def start_expr(col: str = "periode") -> pl.Expr:
    """First day of each period of a column of period texts (a `Date`)."""
    year, quarter, month, day = _parts(col)
    first_month = pl.coalesce(month, (quarter * 3 - 2), pl.lit(1, pl.Int32))
    return pl.date(year, first_month, pl.coalesce(day, pl.lit(1, pl.Int32)))


def end_expr(col: str = "periode") -> pl.Expr:
    """Last day of each period of a column of period texts (a `Date`)."""
    year, quarter, month, day = _parts(col)
    last_month = pl.coalesce(month, quarter * 3, pl.lit(12, pl.Int32))
    month_end = pl.date(year, last_month, 1).dt.month_end()
    return pl.when(day.is_not_null()).then(pl.date(year, month, day)).otherwise(month_end)


def length_rank_expr(col: str = "periode") -> pl.Expr:
    """0 for a year, 1 a quarter, 2 a month, 3 a day: the longer first when two periods end together."""
    return kind_expr(col).replace_strict(KINDS, return_dtype=pl.Int8)


def typed_columns(df: pl.DataFrame | pl.LazyFrame, col: str = "periode"):
    """Add `type_periode`, `debut` and `fin` (dates) to a frame with a column of period texts."""
    return df.with_columns(type_periode=kind_expr(col), debut=start_expr(col), fin=end_expr(col))


def sort_expr(col: str = "periode") -> list[pl.Expr]:
    """Expressions for `sort(...)`: chronological order of a column of period texts."""
    return [end_expr(col), -length_rank_expr(col), start_expr(col)]


def latest_rows(df: pl.DataFrame, keys: list[str], col: str = "periode") -> pl.DataFrame:
    """One row per `keys`: the one `latest_key` puts first (needs `nature`; `source` if present).

    Vectorised: the page's and the mart's "latest value" are the same rule, computed on columns.
    """
    source = pl.col("source") if "source" in df.columns else pl.lit("")
    return (
        df.with_columns(
            _y=-start_expr(col).dt.year(),
            _n=pl.col("nature").replace_strict(NATURE_ORDER, default=9, return_dtype=pl.Int8),
            _e=-end_expr(col).cast(pl.Int32),
            _k=length_rank_expr(col),
            _s=source,
        )
        .sort([*keys, "_y", "_n", "_e", "_k", "_s"])
        .unique(keys, keep="first", maintain_order=True)
        .drop("_y", "_n", "_e", "_k", "_s")
    )
