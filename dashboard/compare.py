"""Comparisons that give a number its meaning: parents, France, similar territories.

Pure functions over the marts (`territoires`, `indicateurs`, `catalogue`), shared by the pages
and the territory brief.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import fmt
from dashboard.territory import Territory, rows_of
from etl import periods


def latest(indicateurs: pl.DataFrame, keys: list[tuple[str, str]], indicator_ids: list[str] | None = None) -> pl.DataFrame:
    """The latest value of each indicator for some territories of an `indicateurs` frame.

    The rule of `etl.periods.latest_key`, on typed periods (never on text): the latest year; in a
    year the measured value before the estimate before the simulation; then the latest end; then
    the longer period. The ETL applies it once to every figure (`valeurs/courantes.parquet`):
    pages read that through `dashboard.valeurs`; this function serves frames built on the fly.
    """
    key_df = pl.DataFrame({"niveau": [k[0] for k in keys], "code": [k[1] for k in keys]},
                          schema={"niveau": pl.String, "code": pl.String})
    df = indicateurs.join(key_df, on=["niveau", "code"], how="semi")
    if indicator_ids is not None:
        df = df.filter(pl.col("indicateur").is_in(indicator_ids))
    return periods.latest_rows(df, ["niveau", "code", "indicateur"])


def comparison_table(current: pl.DataFrame, catalogue: pl.DataFrame, t: Territory,
                     parents: list[Territory]) -> pl.DataFrame:
    """One row per indicator the territory has a figure of (or a stated refusal), with its parents' figures.

    `current`: the current values (`dashboard.valeurs`). Each cell is that territory's own figure
    (`<niveau>:<code>`), with its period and nature beside it (`periode:<niveau>:<code>`,
    `nature:<niveau>:<code>`) so that a page can say when a parent's differs from the territory's.
    """
    chain = [t, *parents]
    keys = pl.DataFrame({"niveau": [p.niveau for p in chain], "code": [p.code for p in chain]})
    rows = current.join(keys, on=["niveau", "code"], how="semi")
    mine = rows.filter((pl.col("niveau") == t.niveau) & (pl.col("code") == t.code))
    if mine.height == 0:
        return pl.DataFrame()
    wide = rows.with_columns(col=pl.concat_str("niveau", pl.lit(":"), "code")).pivot(
        on="col", index="indicateur", values=["valeur", "periode", "nature"], aggregate_function="first")
    rename = {}
    for p in chain:
        name = f"{p.niveau}:{p.code}"
        for what in ("valeur", "periode", "nature"):
            col = f"{what}_{name}"
            target = name if what == "valeur" else f"{what}:{name}"
            if col in wide.columns:
                rename[col] = target
            else:
                wide = wide.with_columns(pl.lit(None, pl.Float64 if what == "valeur" else pl.String).alias(target))
    wide = wide.rename(rename)
    out = (
        mine.select("indicateur", "periode", "nature", "source", "raison")
        .join(wide, on="indicateur", how="left")
        .join(catalogue.select("indicateur", "libelle", "unite", "decimales", "famille", "domaine"), on="indicateur",
              how="left")
    )
    return out.sort("domaine", "indicateur")


def comparison_display(table: pl.DataFrame, t: Territory, parents: list[Territory]) -> pl.DataFrame:
    """`comparison_table` as the page shows it: French text, one column per territory, France second.

    Each cell is the value with its unit ("3,4 %", "1 481,2 hab./km²"), and the period and nature
    of a parent's figure when they differ from the territory's. France comes right after the
    territory, then the parents from the nearest: on a phone the two columns that matter most
    are the first ones (tests/test_viewports.py); a missing value says "pas de donnée".
    """
    france = [p for p in parents if p.niveau == "france"]
    between = [p for p in parents if p.niveau != "france"]
    chain = (t, *france, *between)
    names = [p.nom for p in chain]
    # Paris the commune and Paris the département: the level tells the two columns apart
    columns = [(f"{p.niveau}:{p.code}", p.nom if names.count(p.nom) == 1 or p is t else f"{p.nom} ({p.level_label})")
               for p in chain]
    shown = []
    for r in table.iter_rows(named=True):
        line = {"Indicateur": r["libelle"]}
        for key, name in columns:
            cell = fmt.with_unit(r.get(key), r["unite"], r["decimales"])
            other = (r.get(f"periode:{key}"), r.get(f"nature:{key}"))
            if r.get(key) is not None and other != (r["periode"], r["nature"]):
                label = fmt.nature_label(other[1] or "") or "mesuré"
                cell += f" ({fmt.period(other[0])}, {label})"
            line[name] = cell
        line["Période"] = fmt.period(r["periode"]) if r["periode"] else ""
        line["Nature"] = (fmt.nature_label(r["nature"]) or "mesuré") if r["periode"] else (r["raison"] or fmt.NO_DATA)
        shown.append(line)
    return pl.DataFrame(shown, schema={c: pl.String for c in shown[0]}) if shown else pl.DataFrame()


TABLE = "comparables.parquet"


def peer_rows(table: pl.DataFrame, niveau: str, code: str) -> pl.DataFrame:
    """The rows of `comparables.parquet` of one territory (its peers nearest first, or one row without peer)."""
    return table.filter((pl.col("niveau") == niveau) & (pl.col("code") == code))


def comparables(territoires: pl.DataFrame, t: Territory, k: int = 10, table: pl.DataFrame | None = None) -> pl.DataFrame:
    """Territories like `t`, nearest first: rows of `territoires`, in the order the ETL chose them.

    The peers are chosen once per data version by the territory mart (`etl/comparables.py`,
    rules in docs/donnees.md): an arrondissement among arrondissements and dense communes of
    the métropoles, an island commune among island communes. `table`: `comparables.parquet`
    (default: the cached one of the data folder, or `t`'s rows of it).
    """
    if t.niveau == "france":
        return territoires.head(0)
    rows = peer_rows(table, t.niveau, t.code) if table is not None else _stored(t.niveau, t.code)
    rows = rows.filter(pl.col("code_pair").is_not_null() & (pl.col("rang") <= k))
    if rows.height == 0:
        return territoires.head(0)
    order = rows.sort("rang", maintain_order=True).select("niveau_pair", "code_pair").iter_rows()
    return rows_of(territoires, list(order))


def peer_summary(t: Territory, territoires: pl.DataFrame | None = None, table: pl.DataFrame | None = None) -> str:
    """The French sentence saying how the comparable territories of `t` were chosen (or why there are none)."""
    if t.niveau == "france":
        return ""
    rows = peer_rows(table, t.niveau, t.code) if table is not None else _stored(t.niveau, t.code)
    return rows["methode"][0] if rows.height else "Pas de territoire comparable connu pour ce territoire."


def peer_count_text(n: int, t: Territory) -> str:
    """« 10 communes comparables », « 1 intercommunalité comparable »: never « 0 comparables »."""
    if n <= 0:
        return "aucun territoire comparable"
    singular, plural = PEER_WORDS.get(t.niveau, ("territoire", "territoires"))
    return f"{fmt.number(n)} {singular if n == 1 else plural} comparable{'s' if n > 1 else ''}"


PEER_WORDS = {"commune": ("commune", "communes"), "arrondissement": ("territoire", "territoires"),
              "epci": ("intercommunalité", "intercommunalités"), "departement": ("département", "départements"),
              "region": ("région", "régions")}


def _stored(niveau: str, code: str) -> pl.DataFrame:
    """`t`'s rows of the cached `comparables.parquet` (sorted by territory: a slice, no scan)."""
    from dashboard import data

    try:
        table, index = data.indexed_table(TABLE)
    except FileNotFoundError:  # a data folder built before the table: chosen once here, with the same rules
        table, index = _computed(data.version())
    span = index.get((niveau, code))
    return table.slice(*span) if span else table.head(0)


@st.cache_resource(show_spinner=False, max_entries=2)
def _computed(version: str) -> tuple[pl.DataFrame, dict[tuple[str, str], tuple[int, int]]]:
    """`comparables.parquet` as the ETL would write it, for a folder without it (`version`: the cache key)."""
    from dashboard import data
    from etl.comparables import peer_table

    territoires = data.territoires()
    islands = (set(territoires.filter(pl.col("insulaire").fill_null(False))["code"].to_list())
               if "insulaire" in territoires.columns else set())
    return data.by_territory(peer_table(territoires, islands))
