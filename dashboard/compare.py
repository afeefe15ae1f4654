"""Comparisons that give a number its meaning: parents, France, similar territories.

Pure functions over the marts (`territoires`, `indicateurs`, `catalogue`), shared by the pages
and the territory brief.
"""

from __future__ import annotations

import polars as pl

from dashboard.territory import Territory

NATURE_RANK = {"reel": 0, "estime": 1, "simule": 2}


def latest(indicateurs: pl.DataFrame, keys: list[tuple[str, str]], indicator_ids: list[str] | None = None) -> pl.DataFrame:
    """The latest value of each indicator for some territories, preferring measured data.

    Where two sources give the same indicator and period (a real yearly total and a simulated
    one, say), the real one wins; the latest period wins among what is left.
    """
    key_df = pl.DataFrame({"niveau": [k[0] for k in keys], "code": [k[1] for k in keys]},
                          schema={"niveau": pl.String, "code": pl.String})
    df = indicateurs.join(key_df, on=["niveau", "code"], how="semi")
    if indicator_ids is not None:
        df = df.filter(pl.col("indicateur").is_in(indicator_ids))
    return (
        df.with_columns(_r=pl.col("nature").replace_strict(NATURE_RANK, default=3, return_dtype=pl.Int8))
        .sort(["niveau", "code", "indicateur", "periode", "_r"], descending=[False, False, False, True, False])
        .unique(["niveau", "code", "indicateur"], keep="first", maintain_order=True)
        .drop("_r")
    )


def comparison_table(
    indicateurs: pl.DataFrame, catalogue: pl.DataFrame, t: Territory, parents: list[Territory]
) -> pl.DataFrame:
    """One row per indicator known for `t`: its value and its parents' (same period)."""
    mine = latest(indicateurs, [t.key])
    if mine.height == 0:
        return pl.DataFrame()
    chain = [t, *parents]
    rows = indicateurs.join(
        pl.DataFrame({"niveau": [p.niveau for p in chain], "code": [p.code for p in chain]}), on=["niveau", "code"],
        how="semi",
    ).join(mine.select("indicateur", "periode", pl.col("source").alias("_src")), on=["indicateur", "periode"])
    rows = rows.filter(pl.col("source") == pl.col("_src"))
    wide = rows.with_columns(col=pl.concat_str("niveau", pl.lit(":"), "code")).pivot(
        on="col", index=["indicateur", "periode"], values="valeur", aggregate_function="first"
    )
    for p in chain:
        name = f"{p.niveau}:{p.code}"
        if name not in wide.columns:
            wide = wide.with_columns(pl.lit(None, pl.Float64).alias(name))
    out = (
        mine.select("indicateur", "periode", "nature", "source")
        .join(wide, on=["indicateur", "periode"], how="left")
        .join(catalogue.select("indicateur", "libelle", "unite", "decimales", "famille", "domaine"), on="indicateur",
              how="left")
    )
    return out.sort("domaine", "indicateur")


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
