"""Tables in French: "12 345,6" and "47,3 %" in every cell, still sorted as numbers; no "None".

`st.dataframe` draws numbers with the visitor's browser locale (format "localized": an English
browser shows "12,345.6") or with a printf format (a dot as decimal separator). Neither gives
every visitor "12 345,6". Two documented mechanisms do, and both keep the numbers in the table,
so that a click on a header sorts numerically (Streamlit sorts on a cell's number, it only
draws the text):

- a column shown without decimals gets a printf format, `%'<U+202F>,d`: sprintf-js groups the
  thousands with the character after the quote, here the narrow no-break space of French
  typography ("12 345"); no server work per view. Values are rounded first (`%d` truncates).
- a column shown with decimals gets the text of a pandas Styler: Streamlit draws a Styler's
  display value in each cell of a column that has no format of its own. The Styler costs the
  server time per view (measured in `benchmarks/bench_tables.py`), so it is used only for the
  columns with decimals.

Every table also says what an empty cell means ("pas de donnée", never "None"), shows booleans
as "oui" / "non", and carries a French accessible name (`alt`) for screen readers.
`frame()` is pure (tests read its display text); `show()` draws it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl
import streamlit as st

from dashboard import fmt

#: sprintf-js: `'X` sets the padding character, which `,` also uses as the thousands separator.
THOUSANDS = f"%'{fmt.NNBSP},d"
#: What an empty cell says (drawn by Streamlit for missing numbers, written by the Styler elsewhere).
MISSING = fmt.NO_DATA


@dataclass(frozen=True)
class Number:
    """How a numeric column is shown: its decimals and the unit written after every value.

    `unit` goes into each cell ("47,3 %", "12,5 km", "91 €"); a column whose header already
    names what it counts ("Trajets", "Population") leaves it empty.
    """

    decimals: int = 0
    unit: str = ""
    #: drop the zeros after the decimal mark ("12", "0,45") where columns mix whole numbers and rates
    trim: bool = False

    def text(self, value: float | int | None) -> str:
        """The cell's text: "12 345,6", "47,3 %", "pas de donnée"."""
        if fmt.is_missing(value):
            return MISSING
        number = fmt.number(value, self.decimals)
        if self.trim and "," in number:
            number = number.rstrip("0").rstrip(",")
        return f"{number}{fmt.NNBSP}%" if self.unit == "%" else f"{number} {self.unit}".rstrip()

    def printf(self) -> str:
        """The printf format of a column without decimals ("%'\u202f,d\u202f%%" for whole percentages)."""
        if self.decimals:
            raise ValueError("a printf format has a dot as decimal separator: use the Styler")
        if not self.unit:
            return THOUSANDS
        sep = fmt.NNBSP if self.unit == "%" else " "
        return THOUSANDS + sep + self.unit.replace("%", "%%")


COUNT = Number(0)
PERCENT = Number(1, "%")
#: a column of mixed figures (an extract's "valeur"): up to 4 decimals, no trailing zeros
ANY = Number(4, trim=True)


def yes_no(value: bool | float | None) -> str | None:
    """True/1 -> "oui", False/0 -> "non" (a checkbox column reads "true"/"false" to a screen reader)."""
    if value is None or fmt.is_missing(value):
        return None
    return "oui" if value else "non"


#: Units written after each value in a cell; any other unit is named by the column's header.
CELL_UNITS = {"%": "%", "km": "km", "hab./km²": "hab./km²", "€ par nuit": "€", "t CO2": "t CO2"}


def indicator_column(libelle: str, unite: str, decimales: int | None) -> tuple[str, Number | None]:
    """The header and format of a column holding one indicator of the catalogue.

    "%" and physical units go into each cell ("47,3 %", "12,5 km"); a rate or a count is named by
    its label ("Trajets de covoiturage pour 1 000 habitants"), or the unit is added to the header
    when the label does not say it. A yes/no indicator returns no format: its column is text
    ("oui" / "non", see `yes_no`).
    """
    decimals = 1 if decimales is None else int(decimales)
    if unite == fmt.YES_NO_UNIT:
        return libelle, None
    if unite in CELL_UNITS:
        return libelle, Number(decimals, CELL_UNITS[unite])
    words = [w for w in unite.replace(".", "").split() if w not in ("pour", "/")]
    named = all(w.lower() in libelle.lower() for w in words)
    return (libelle if named or not unite else f"{libelle} ({unite})"), Number(decimals)


@dataclass
class Table:
    """What `show` hands to `st.dataframe`: the data (frame or Styler), the column formats, the texts."""

    data: Any
    column_config: dict[str, Any]
    frame: pl.DataFrame
    numbers: dict[str, Number]

    def texts(self) -> dict[str, list[str]]:
        """Every cell as the visitor reads it, column by column (what the tests check)."""
        out: dict[str, list[str]] = {}
        for name in self.frame.columns:
            spec = self.numbers.get(name)
            values = self.frame[name].to_list()
            out[name] = [spec.text(v) if spec else (MISSING if v is None else str(v)) for v in values]
        return out


def frame(df: pl.DataFrame, numbers: Mapping[str, Number] | None = None,
          column_config: Mapping[str, Any] | None = None) -> Table:
    """The table `df` in French: numbers rounded and formatted, booleans as "oui"/"non".

    `numbers` names the numeric columns and how to show them; any other numeric column is shown
    as a whole number. Text columns are shown as they are.
    """
    numbers = dict(numbers or {})
    for name, dtype in df.schema.items():
        if dtype == pl.Boolean:
            df = df.with_columns(pl.when(pl.col(name)).then(pl.lit("oui")).when(pl.col(name).not_())
                                 .then(pl.lit("non")).alias(name))
        elif dtype.is_numeric() and name not in numbers:
            numbers[name] = COUNT
    unknown = set(numbers) - set(df.columns)
    if unknown:
        raise KeyError(f"columns not in the table: {sorted(unknown)}")
    df = df.with_columns(pl.col(c).cast(pl.Float64).round(spec.decimals) for c, spec in numbers.items())
    config: dict[str, Any] = {}
    styled = [c for c, spec in numbers.items() if spec.decimals]
    for c, spec in numbers.items():
        config[c] = st.column_config.NumberColumn(format=None if spec.decimals else spec.printf())
    config.update(column_config or {})
    data: Any = df
    if styled:
        pdf = df.to_pandas()
        data = pdf.style.format({c: numbers[c].text for c in styled}, na_rep=MISSING, subset=styled)
    return Table(data=data, column_config=config, frame=df, numbers=numbers)


def show(df: pl.DataFrame, numbers: Mapping[str, Number] | None = None, *, alt: str,
         column_config: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
    """Draw `df` as a French table (see `frame`); `alt`: what the table is, for screen readers."""
    table = frame(df, numbers, column_config)
    kwargs.setdefault("hide_index", True)
    kwargs.setdefault("width", "stretch")
    return st.dataframe(table.data, column_config=table.column_config, placeholder=MISSING, alt=alt, **kwargs)
