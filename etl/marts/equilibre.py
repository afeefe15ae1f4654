"""Composite indices: where a territory stands between collaborative adoption and platforms.

Reads every other mart's rows of `indicateurs`, takes for each territory the latest value of
each component (the measured one where a measured and a simulated value share a period),
ranks it among the territories of the same level (`etl.indices`), and writes:
- `equilibre/rangs.parquet`: one row per (niveau, code, indice, composante) with the value, its
  period, nature and source, and its percentile rank: the page recomputes the means from it
  when the user unticks components;
- indicators `indice_collaboratif`, `indice_plateformes` and the number of components each used.
"""

from __future__ import annotations

import polars as pl

from etl.indicators import Indicator
from etl.indices import COMPONENTS, INDEX_LEVELS, compute, percentile_ranks
from etl.marts.base import BuildContext, Mart, MartResult
from etl.sources.base import Parsed

NATURE_RANK = {"reel": 0, "estime": 1, "simule": 2}
SOURCE = "Observatoire, calcul sur les indicateurs des domaines"
#: The indices are ours; their inputs keep their licences, whose attributions an extract must carry.
LICENCE = ("Licence Ouverte 2.0 pour le calcul ; composantes : Licence Ouverte 2.0, ODbL (lieux de covoiturage), "
           "CC BY 4.0 (Inside Airbnb)")

_DEF = (
    "Moyenne des rangs centiles (0 à 100, parmi les territoires du même niveau) des composantes disponibles pour "
    "le territoire : {}. Une composante absente est laissée de côté (jamais comptée 0) ; l'indice porte la nature "
    "la plus faible de ses composantes (simulé, puis estimé, puis réel)."
)


def _labels(index: str) -> str:
    return ", ".join(c.libelle.lower() for c in COMPONENTS[index])


INDICATORS = (
    Indicator("indice_collaboratif", "Indice d'adoption collaborative", "/ 100",
              _DEF.format(_labels("indice_collaboratif")), "collaboratif", "equilibre",
              SOURCE, LICENCE, sens=1, decimales=0),
    Indicator("indice_plateformes", "Indice de pénétration des plateformes", "/ 100",
              _DEF.format(_labels("indice_plateformes")), "plateforme", "equilibre",
              SOURCE, LICENCE, sens=1, decimales=0),
    Indicator("indice_collaboratif_composantes", "Composantes de l'indice collaboratif disponibles", "composantes",
              "Nombre de composantes de l'indice d'adoption collaborative connues pour le territoire (sur "
              f"{len(COMPONENTS['indice_collaboratif'])}).", "collaboratif", "equilibre",
              SOURCE, LICENCE, sens=0, decimales=0),
    Indicator("indice_plateformes_composantes", "Composantes de l'indice plateformes disponibles", "composantes",
              "Nombre de composantes de l'indice de pénétration des plateformes connues pour le territoire (sur "
              f"{len(COMPONENTS['indice_plateformes'])}).", "plateforme", "equilibre",
              SOURCE, LICENCE, sens=0, decimales=0),
)


def latest_components(indicateurs: pl.DataFrame) -> pl.DataFrame:
    """Latest value of each component per territory, measured preferred within a period."""
    component_of = {c.indicateur: idx for idx, comps in COMPONENTS.items() for c in comps}
    return (
        indicateurs.filter(pl.col("indicateur").is_in(list(component_of)) & pl.col("niveau").is_in(INDEX_LEVELS))
        .with_columns(_r=pl.col("nature").replace_strict(NATURE_RANK, default=3, return_dtype=pl.Int8))
        .sort(["niveau", "code", "indicateur", "periode", "_r"], descending=[False, False, False, True, False])
        .unique(["niveau", "code", "indicateur"], keep="first", maintain_order=True)
        .drop("_r")
        .rename({"indicateur": "composante"})
        .with_columns(indice=pl.col("composante").replace_strict(component_of))
    )


class Equilibre(Mart):
    name = "equilibre"
    title = "Indices d'adoption collaborative et de pénétration des plateformes"
    sources = ()
    requires_all_marts = True
    indicators = INDICATORS

    def build(self, ctx: BuildContext, parsed: dict[str, Parsed]) -> MartResult:
        parts = sorted(p for p in (ctx.out_dir / "indicateurs").glob("*.parquet") if p.stem != self.name)
        indicateurs = pl.concat([pl.read_parquet(p) for p in parts], how="vertical_relaxed")
        values = latest_components(indicateurs)
        ranks = percentile_ranks(values).select(
            "niveau", "code", "indice", "composante", "valeur", "periode", "nature", "source", "rang"
        ).sort("niveau", "code", "indice", "composante")
        idx = compute(ranks)
        period = (  # the most recent year among the components a territory uses
            ranks.group_by("niveau", "code", "indice").agg(periode=pl.col("periode").str.slice(0, 4).max())
        )
        idx = idx.join(period, on=["niveau", "code", "indice"], how="left")
        rows = pl.concat([
            idx.select("niveau", "code", pl.col("indice").alias("indicateur"), "periode", "valeur", "nature"),
            idx.select("niveau", "code", (pl.col("indice") + "_composantes").alias("indicateur"), "periode",
                       pl.col("n_composantes").cast(pl.Float64).alias("valeur"), "nature"),
        ]).with_columns(source=pl.lit(self.name))
        missing = [c.indicateur for comps in COMPONENTS.values() for c in comps
                   if c.indicateur not in set(values["composante"].unique())]
        notes = [f"composantes sans aucune donnée : {', '.join(missing)}"] if missing else []
        return MartResult(tables={"equilibre/rangs.parquet": ranks}, indicateurs=rows, notes=notes)


MART = Equilibre()
