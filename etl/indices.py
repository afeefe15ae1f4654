"""The two composite indices: collaborative adoption and platform penetration, 0 to 100.

Each component is turned into a percentile rank among all territories of the same level that
have a value for it: (average rank - 1) / (n - 1) x 100, so the lowest value scores 0, the
highest 100, ties share their average rank, and a lone territory scores 50. An index is the
(weighted) mean of the ranks of the components the territory has: a missing component (a
commune outside Inside Airbnb's coverage, say) is left out of the mean, never counted as 0,
and the number of components used is kept beside the index. The index carries the weakest
nature of its components (simule, then estime, then reel).

Pure polars functions: the mart stores the ranks, and the page recomputes only the means when
the user unticks components.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

NATURE_ORDER = {"reel": 0, "estime": 1, "simule": 2}
NATURE_BY_RANK = {v: k for k, v in NATURE_ORDER.items()}


@dataclass(frozen=True)
class Component:
    indicateur: str
    libelle: str


COMPONENTS: dict[str, tuple[Component, ...]] = {
    "indice_collaboratif": (
        Component("covoit_trajets_pour_1000_hab", "Trajets de covoiturage pour 1 000 habitants"),
        Component("covoit_places_aires_pour_10000_hab", "Places d'aires de covoiturage pour 10 000 habitants"),
        Component("covoit_campagne_incitation", "Campagne d'incitation au covoiturage"),
        Component("tiers_lieux_pour_10000_hab", "Tiers-lieux pour 10 000 habitants"),
        Component("part_pop_10km_tiers_lieu", "Part de la population à moins de 10 km d'un tiers-lieu"),
    ),
    "indice_plateformes": (
        Component("str_annonces_pour_100_logements", "Annonces de location courte durée pour 100 logements"),
        Component("str_part_logement_entier", "Part des logements entiers"),
        Component("str_part_hotes_multi", "Part des annonces d'hôtes multi-annonces"),
        Component("vtc_pour_10000_hab", "Équipements taxi-VTC pour 10 000 habitants"),
    ),
}
INDEX_LEVELS = ("commune", "arrondissement", "epci", "departement", "region")


def component_table() -> pl.DataFrame:
    """One row per (indice, composante) with its French label."""
    return pl.DataFrame(
        [(idx, c.indicateur, c.libelle) for idx, comps in COMPONENTS.items() for c in comps],
        schema={"indice": pl.String, "composante": pl.String, "libelle": pl.String},
        orient="row",
    )


def percentile_ranks(values: pl.DataFrame) -> pl.DataFrame:
    """Add `rang` (0-100) to rows `niveau`, `code`, `composante`, `valeur` (plus any other column).

    Ranks are computed within each (niveau, composante) among the rows present.
    """
    part = ["niveau", "composante"]
    return values.with_columns(
        _r=pl.col("valeur").rank(method="average").over(part),
        _n=pl.len().over(part),
    ).with_columns(
        rang=pl.when(pl.col("_n") > 1).then((pl.col("_r") - 1) / (pl.col("_n") - 1) * 100).otherwise(50.0)
    ).drop("_r", "_n")


def compute(ranks: pl.DataFrame, *, excluded: set[str] | frozenset[str] = frozenset(),
            weights: dict[str, float] | None = None) -> pl.DataFrame:
    """Indices from component ranks: `niveau`, `code`, `indice`, `valeur`, `n_composantes`, `nature`.

    `ranks` has rows `niveau`, `code`, `indice`, `composante`, `rang`, `nature`. Components in
    `excluded` are left out (the page's unticked boxes); `weights` default to 1.
    """
    weights = weights or {}
    kept = ranks.filter(~pl.col("composante").is_in(list(excluded))).with_columns(
        _w=pl.col("composante").replace_strict(weights, default=1.0, return_dtype=pl.Float64),
        _nat=pl.col("nature").replace_strict(NATURE_ORDER, return_dtype=pl.Int8),
    ).filter(pl.col("_w") > 0)
    return (
        kept.group_by("niveau", "code", "indice")
        .agg(
            valeur=(pl.col("rang") * pl.col("_w")).sum() / pl.col("_w").sum(),
            n_composantes=pl.len().cast(pl.Int32),
            _nat=pl.col("_nat").max(),
        )
        .with_columns(nature=pl.col("_nat").replace_strict(NATURE_BY_RANK, return_dtype=pl.String))
        .drop("_nat")
        .sort("niveau", "code", "indice")
    )


def quadrant(collaboratif: float | None, plateformes: float | None, threshold: float = 50.0) -> str | None:
    """The French name of a territory's quadrant, with the median rank as the threshold."""
    if collaboratif is None or plateformes is None:
        return None
    high_c, high_p = collaboratif >= threshold, plateformes >= threshold
    if high_c and high_p:
        return "les deux"
    if high_c:
        return "collaboratif"
    if high_p:
        return "plateformisé"
    return "ni l'un ni l'autre"
