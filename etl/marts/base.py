"""What every mart module declares.

A mart module in `etl/marts/` defines one subclass of `Mart` and exposes an instance as `MART`.
It names the sources it reads (parsed by `etl.sources`), the marts it needs built before it
(read back from the output folder), the indicators it adds to the catalogue, and `build`,
which returns its tables and its rows of `indicateurs`. The runner writes them atomically:
tables under their relative path, indicator rows to `indicateurs/<mart>.parquet`.

A table (or the indicator rows) may be given as a frame or, for a mart whose tables together
weigh more than one of them (the carpool registry's), as a function returning the frame (or a
`pl.LazyFrame`): the runner then computes, writes and lets go of each table before the next, so
the run's memory follows the largest table, not their sum.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import polars as pl

from etl.indicators import Indicator
from etl.sources.base import Parsed

#: A table as a mart gives it: computed already, or computed when the runner writes it.
Table = pl.DataFrame | pl.LazyFrame | Callable[[], pl.DataFrame]


def materialise(table: Table) -> pl.DataFrame:
    """The frame of a table given either way (see `Table`)."""
    if isinstance(table, pl.DataFrame):
        return table
    if isinstance(table, pl.LazyFrame):
        return table.collect()
    df = table()
    if not isinstance(df, pl.DataFrame):
        raise TypeError(f"une table différée doit donner un DataFrame, pas {type(df).__name__}")
    return df


@dataclass
class BuildContext:
    out_dir: Path
    options: dict[str, Any] = field(default_factory=dict)
    progress: bool = True

    def read(self, relative: str) -> pl.DataFrame:
        """A table written by a mart built before (see `Mart.requires`)."""
        path = self.out_dir / relative
        if not path.exists():
            raise FileNotFoundError(f"table {relative} absente de {self.out_dir} : construire d'abord le mart qui la produit")
        return pl.read_parquet(path)


@dataclass
class MartResult:
    tables: dict[str, Table]
    indicateurs: Table | None = None
    rejected: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)


class Mart:
    name: ClassVar[str]
    title: ClassVar[str]
    sources: ClassVar[tuple[str, ...]]
    #: Sources used when a run fetched them (live-only or chosen by a run option); `build`
    #: finds them in `parsed` only then, and the mart is built without them otherwise.
    optional_sources: ClassVar[tuple[str, ...]] = ()
    requires: ClassVar[tuple[str, ...]] = ()
    #: A mart that combines every other mart's indicators (the composite indices) sets this:
    #: it then requires all other marts, and is rebuilt whenever one of them is.
    requires_all_marts: ClassVar[bool] = False
    indicators: ClassVar[tuple[Indicator, ...]] = ()

    def build(self, ctx: BuildContext, parsed: dict[str, Parsed]) -> MartResult:
        raise NotImplementedError
