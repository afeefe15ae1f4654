"""French formatting of numbers, shares, months and periods ("12 345,6", "mars 2024").

The thousands separator is the narrow no-break space (U+202F) of French typography, so that
a number never breaks across lines.
"""

from __future__ import annotations

import math
import unicodedata

import polars as pl

NNBSP = "\u202f"
NO_DATA = "pas de donnée"
MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre"]
NATURE_LABELS = {"reel": "", "estime": "estimation", "simule": "données simulées"}


def is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def number(value: float | int | None, decimals: int = 0) -> str:
    """`12345.67` -> "12 345,7" (with `decimals=1`); missing -> "pas de donnée"."""
    if is_missing(value):
        return NO_DATA
    text = f"{value:,.{decimals}f}"
    return text.replace(",", NNBSP).replace(".", ",")


#: The unit of yes/no indicators (1 = yes): shown as "oui" / "non".
YES_NO_UNIT = "oui (1) / non (0)"


def with_unit(value: float | int | None, unit: str, decimals: int = 0) -> str:
    if is_missing(value):
        return NO_DATA
    if unit == YES_NO_UNIT:
        return "oui" if value >= 0.5 else "non"
    if unit == "%":
        return f"{number(value, decimals)}{NNBSP}%"
    return f"{number(value, decimals)} {unit}".rstrip()


def compact(value: float | int | None) -> str:
    """Big numbers for key figures: "2,1 millions", "843 738"."""
    if is_missing(value):
        return NO_DATA
    if abs(value) >= 1_000_000:
        return f"{number(value / 1_000_000, 1)} millions"
    return number(value, 0)


def month(period: str) -> str:
    """"2024-03" -> "mars 2024"."""
    year, mon = period.split("-")[:2]
    return f"{MONTHS[int(mon) - 1]} {year}"


def period(p: str) -> str:
    """A period of the contract (YYYY, YYYY-MM, YYYY-MM-DD) in French."""
    parts = p.split("-")
    if len(parts) == 1:
        return p
    if len(parts) == 2:
        return month(p)
    day = int(parts[2])
    return f"{'1er' if day == 1 else day} {MONTHS[int(parts[1]) - 1]} {parts[0]}"


def nature_label(nature: str) -> str:
    """"estimation", "données simulées", or "" for measured data."""
    return NATURE_LABELS.get(nature, nature)


def signed_percent(value: float | None, decimals: int = 0) -> str:
    if is_missing(value):
        return NO_DATA
    sign = "+" if value > 0 else ("−" if value < 0 else "")
    return f"{sign}{number(abs(value), decimals)}{NNBSP}%"


# -- sorting names as a French reader expects ------------------------------------------------------
_LIGATURES = {"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae"}


def sort_key(text: str | None) -> str:
    """The key that sorts names as a French reader expects: accents and case ignored, ligatures spelt out.

    Code-point order puts "Bruges" before "Bègles" ("è" comes after every ASCII letter) and
    "Zurich" before "Écouen"; with this key, "Bègles" < "Bruges" and "Écouen" < "Zurich".
    """
    text = text or ""
    for lig, spelt in _LIGATURES.items():
        text = text.replace(lig, spelt)
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def sort_key_expr(column: str | pl.Expr) -> pl.Expr:
    """`sort_key` as a polars expression (vectorised: no Python call per row), for `.sort(...)`."""
    expr = pl.col(column) if isinstance(column, str) else column
    for lig, spelt in _LIGATURES.items():
        expr = expr.str.replace_all(lig, spelt, literal=True)
    return expr.str.normalize("NFD").str.replace_all(r"\p{M}", "").str.to_lowercase()


def sorted_names(names: list[str]) -> list[str]:
    """Names in French reading order (see `sort_key`), ties in code-point order so that the order is stable."""
    return sorted(names, key=lambda n: (sort_key(n), n))
