"""Comparisons that give a number its meaning: parents, France, similar territories.

Pure functions over the marts (`territoires`, `indicateurs`, `catalogue`), shared by the pages
and the territory brief.
"""

from __future__ import annotations

import polars as pl

from dashboard import fmt
from dashboard.territory import Territory
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


def comparables(territoires: pl.DataFrame, t: Territory, k: int = 10) -> pl.DataFrame:
    """Territories like `t`, nearest in population first.

    - communes and arrondissements: same population band and density class;
    - EPCI: same type (CC, CA, CU, métropole) and population band;
    - départements, régions: same level.
    The bands and classes are columns of `territoires` (see `etl/marts/territoires.py`).
    """
    me = territoires.filter((pl.col("niveau") == t.niveau) & (pl.col("code") == t.code))
    if me.height == 0 or t.niveau == "france":
        return territoires.head(0)
    row = me.row(0, named=True)
    same = pl.col("niveau").is_in(["commune", "arrondissement"]) if t.niveau in ("commune", "arrondissement") else (
        pl.col("niveau") == t.niveau)
    cond = same & (pl.col("code") != t.code)
    if t.niveau in ("commune", "arrondissement"):
        if row["tranche_population"] is None or row["classe_densite"] is None:
            return territoires.head(0)
        cond = cond & (pl.col("tranche_population") == row["tranche_population"]) & (
            pl.col("classe_densite") == row["classe_densite"])
        if t.niveau == "commune":  # a city is not compared with its own arrondissements
            cond = cond & (pl.col("code_commune").is_null() | (pl.col("code_commune") != t.code))
        else:
            cond = cond & (pl.col("code") != t.code_commune)
    elif t.niveau == "epci":
        cond = cond & (pl.col("type_epci") == row["type_epci"]) & (pl.col("tranche_population") == row["tranche_population"])
    pop = row["population"] or 0
    return (
        territoires.filter(cond)
        .with_columns(_d=((pl.col("population").cast(pl.Float64) + 1).log() - pl.lit(float(pop + 1)).log()).abs())
        .sort("_d", "code")
        .head(k)
        .drop("_d")
    )


def peer_summary(t: Territory, territoires: pl.DataFrame) -> str:
    """A French sentence saying how comparable territories were chosen."""
    row = territoires.filter((pl.col("niveau") == t.niveau) & (pl.col("code") == t.code)).row(0, named=True)
    if t.niveau in ("commune", "arrondissement"):
        return (f"Communes de la même tranche de population ({row['tranche_population']}) et de la même classe de "
                f"densité ({row['classe_densite']}), les plus proches en population.")
    if t.niveau == "epci":
        return (f"Intercommunalités de même nature ({row['type_epci']}) et de même tranche de population "
                f"({row['tranche_population']}), les plus proches en population.")
    if t.niveau in ("departement", "region"):
        return f"{'Départements' if t.niveau == 'departement' else 'Régions'} les plus proches en population."
    return ""
