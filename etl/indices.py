"""The two composite indices: collaborative adoption and platform penetration, 0 to 100.

Method (docs/equilibre.md says why):

- each component is compared over one period per level (`reference_period`): the longest kind
  of period it has (a year rather than months), the one most territories have, the latest on a
  tie; a territory's value is its value of that period, measured before estimated before
  simulated;
- where the source is national and says "none" by its silence (no carpool place declared, no
  journey published: fewer than 6 a month), a territory of its coverage without a row ranks as
  the lowest value (`statut = "aucun"`); elsewhere (Inside Airbnb covers a few cities) a
  missing value is unknown and never ranked;
- a component held by fewer than `MIN_TERRITORIES` territories of a level is not ranked at that
  level: it is context (`statut = "contexte"`);
- percentile rank among the territories of the level: (average rank - 1) / (n - 1) x 100;
- an index is the mean of the ranks of *all* the ranked components of its level: a territory
  lacking one is `partiel` (listed apart, no number), so that any two indices of a level rest on
  the same components; a platform index also needs one measured (`reel`) component: an
  estimate from taxi counts never places a territory; communes without inhabitants get none.

Pure polars functions: the mart stores the ranks and the indices; the page recomputes the
means only when the user unticks components (`compute`).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from etl import periods

NATURE_ORDER = periods.NATURE_ORDER
NATURE_BY_RANK = {v: k for k, v in NATURE_ORDER.items()}
#: A component held by fewer territories of a level is shown as context, not ranked.
MIN_TERRITORIES = 10
INDEX_LEVELS = ("commune", "arrondissement", "epci", "departement", "region")
INDEX_LABELS = {"indice_collaboratif": "adoption collaborative", "indice_plateformes": "pénétration des plateformes"}
#: Régions of metropolitan France have codes from 11; the DROM 01 to 06.
METROPOLE = pl.col("code_region") >= "11"


@dataclass(frozen=True)
class Component:
    """One component of an index and what its absence means.

    - `absence`: "aucun" when the source is national and a territory of its `couverture`
      without a row has none (ranked as 0: the lowest); "inconnu" when a missing value is unknown.
    - `couverture`: "france", "metropole" (the source publishes nothing overseas) or "releves"
      (only the territories the source lists).
    - `absent_texte`: what the page says of a territory of the coverage without a row.
    - `hors_couverture`: what it says of a territory outside the coverage.
    - `groupe`: how a sentence names the component, shared by the components of one source
      (the three Inside Airbnb ones) so that a reason is said once.
    """

    indicateur: str
    libelle: str
    absence: str = "inconnu"
    couverture: str = "france"
    absent_texte: str = "pas de donnée"
    hors_couverture: str = "pas de donnée"
    groupe: str = ""

    @property
    def nom(self) -> str:
        return self.groupe or self.libelle[:1].lower() + self.libelle[1:]


_AIRBNB = "annonces Inside Airbnb"
_NOT_AIRBNB = "ce territoire n'est pas relevé"
COMPONENTS: dict[str, tuple[Component, ...]] = {
    "indice_collaboratif": (
        Component("covoit_trajets_pour_1000_hab", "Trajets de covoiturage pour 1 000 habitants", "aucun", "metropole",
                  "aucun trajet publié par le registre (moins de 6 par mois : secret statistique)",
                  "pas de total publié hors de la métropole"),
        Component("covoit_places_aires_pour_10000_hab", "Places d'aires de covoiturage pour 10 000 habitants", "aucun",
                  "france", "aucune place recensée dans la base nationale des lieux de covoiturage"),
        Component("covoit_campagne_incitation", "Campagne d'incitation au covoiturage", "inconnu", "france"),
        Component("tiers_lieux_pour_10000_hab", "Tiers-lieux pour 10 000 habitants", "inconnu", "france"),
        Component("part_pop_10km_tiers_lieu", "Part de la population à moins de 10 km d'un tiers-lieu", "inconnu",
                  "france", "centre de la commune inconnu (commune sans contour)"),
    ),
    "indice_plateformes": (
        Component("str_annonces_pour_100_logements", "Annonces de location courte durée pour 100 logements",
                  "inconnu", "releves", hors_couverture=_NOT_AIRBNB, groupe=_AIRBNB),
        Component("str_part_logement_entier", "Part des logements entiers", "inconnu", "releves",
                  hors_couverture=_NOT_AIRBNB, groupe=_AIRBNB),
        Component("str_part_hotes_multi", "Part des annonces d'hôtes multi-annonces", "inconnu", "releves",
                  hors_couverture=_NOT_AIRBNB, groupe=_AIRBNB),
        Component("vtc_hausse_pour_10000_hab", "Hausse des taxis et VTC depuis 2013 pour 10 000 habitants",
                  "inconnu", "releves",
                  hors_couverture="non mesurée, la BPE courante n'est pas chargée (un nombre de taxis ne mesure pas "
                                  "les plateformes)", groupe="hausse des taxis et VTC depuis 2013"),
    ),
}
COMPONENT_OF = {c.indicateur: idx for idx, comps in COMPONENTS.items() for c in comps}
COMPONENT_META = {c.indicateur: c for comps in COMPONENTS.values() for c in comps}

RANK_SCHEMA = {"niveau": pl.String, "code": pl.String, "indice": pl.String, "composante": pl.String,
               "valeur": pl.Float64, "periode": pl.String, "nature": pl.String, "source": pl.String,
               "statut": pl.String, "rang": pl.Float64}


def component_table() -> pl.DataFrame:
    """One row per (indice, composante) with its French label."""
    return pl.DataFrame(
        [(idx, c.indicateur, c.libelle) for idx, comps in COMPONENTS.items() for c in comps],
        schema={"indice": pl.String, "composante": pl.String, "libelle": pl.String},
        orient="row",
    )


def reference_periods(rows: pl.DataFrame) -> pl.DataFrame:
    """Per (niveau, composante): the period the component is compared over (see module docstring).

    `rows`: `niveau`, `code`, `composante`, `periode`.
    """
    counted = (
        rows.group_by("niveau", "composante", "periode").agg(_n=pl.col("code").n_unique())
        .with_columns(_k=periods.length_rank_expr(), _end=periods.end_expr())
    )
    return (
        counted.sort(["niveau", "composante", "_k", "_n", "_end"], descending=[False, False, False, True, True])
        .unique(["niveau", "composante"], keep="first", maintain_order=True)
        .select("niveau", "composante", "periode")
    )


def component_values(indicateurs: pl.DataFrame, territoires: pl.DataFrame) -> pl.DataFrame:
    """Each territory's value of each component, over the component's reference period.

    Adds the territories of a national source's coverage that it leaves out (`statut = "aucun"`,
    `valeur` 0 for the ranking only). Territories without inhabitants are left out altogether.
    Columns: niveau, code, indice, composante, valeur, periode, nature, source, statut.
    """
    rows = indicateurs.filter(pl.col("indicateur").is_in(list(COMPONENT_OF))
                              & pl.col("niveau").is_in(INDEX_LEVELS)).rename({"indicateur": "composante"})
    inhabited = territoires.filter(pl.col("niveau").is_in(INDEX_LEVELS) & (pl.col("population") > 0)).select(
        "niveau", "code", "code_region")
    rows = rows.join(inhabited.select("niveau", "code"), on=["niveau", "code"], how="semi")
    ref = reference_periods(rows)
    measured = (
        periods.latest_rows(rows.join(ref, on=["niveau", "composante", "periode"], how="semi"),
                            ["niveau", "code", "composante"])
        .with_columns(statut=pl.lit("mesure"))
    )
    filled = []
    for comp in COMPONENT_META.values():
        if comp.absence != "aucun":
            continue
        covered = inhabited if comp.couverture == "france" else inhabited.filter(METROPOLE)
        have = measured.filter(pl.col("composante") == comp.indicateur)
        for level in INDEX_LEVELS:
            mine = have.filter(pl.col("niveau") == level)
            if mine.height == 0:
                continue  # the source says nothing at this level: nothing to fill
            main = mine.group_by("nature", "source", "periode").len().sort("len", "nature", descending=[True, False])
            nature, source, period = main.row(0)[:3]
            gap = covered.filter(pl.col("niveau") == level).join(mine, on=["niveau", "code"], how="anti")
            filled.append(gap.select(
                "niveau", "code", composante=pl.lit(comp.indicateur), periode=pl.lit(period),
                valeur=pl.lit(0.0), nature=pl.lit(nature), source=pl.lit(source), statut=pl.lit("aucun")))
    cols = ["niveau", "code", "composante", "periode", "valeur", "nature", "source", "statut"]
    out = pl.concat([measured.select(cols), *[f.select(cols) for f in filled]], how="vertical_relaxed")
    return out.with_columns(indice=pl.col("composante").replace_strict(COMPONENT_OF)).select(
        "niveau", "code", "indice", "composante", "valeur", "periode", "nature", "source", "statut")


def percentile_ranks(values: pl.DataFrame, min_territories: int = MIN_TERRITORIES) -> pl.DataFrame:
    """Add `rang` (0-100) to rows `niveau`, `code`, `composante`, `valeur` (plus any other column).

    Ranks are computed within each (niveau, composante) among the rows present; a component held
    by fewer than `min_territories` territories of a level gets no rank there (`statut` becomes
    "contexte" when the column exists).
    """
    part = ["niveau", "composante"]
    out = values.with_columns(
        _r=pl.col("valeur").rank(method="average").over(part),
        _n=pl.len().over(part),
    ).with_columns(
        rang=pl.when(pl.col("_n") >= max(min_territories, 2))
        .then((pl.col("_r") - 1) / (pl.col("_n") - 1) * 100)
    )
    if "statut" in out.columns:
        out = out.with_columns(statut=pl.when(pl.col("rang").is_null()).then(pl.lit("contexte"))
                               .otherwise(pl.col("statut")))
    return out.drop("_r", "_n")


def compute(ranks: pl.DataFrame, *, excluded: set[str] | frozenset[str] = frozenset(),
            weights: dict[str, float] | None = None) -> pl.DataFrame:
    """Indices from component ranks, one row per (niveau, code, indice) that has any ranked component.

    `ranks` has rows `niveau`, `code`, `indice`, `composante`, `rang`, `nature` (rows without
    rank are context and ignored). A level's required components are the ranked ones not in
    `excluded`; `weights` default to 1 (a weight of 0 excludes). Columns: `valeur` (null unless
    complete), `statut` ("complet", "partiel", or "sans mesure" for a platform index without a
    measured component), `n_composantes` (ranked components held), `n_requises`, `manquantes`
    (list), `nature` (the weakest of the components held).
    """
    weights = weights or {}
    kept = ranks.filter(pl.col("rang").is_not_null() & ~pl.col("composante").is_in(list(excluded))).with_columns(
        _w=pl.col("composante").replace_strict(weights, default=1.0, return_dtype=pl.Float64),
        _nat=pl.col("nature").replace_strict(NATURE_ORDER, return_dtype=pl.Int8),
    ).filter(pl.col("_w") > 0)
    required = kept.group_by("niveau", "indice").agg(_req=pl.col("composante").unique().sort())
    idx = (
        kept.group_by("niveau", "code", "indice")
        .agg(
            _mean=(pl.col("rang") * pl.col("_w")).sum() / pl.col("_w").sum(),
            n_composantes=pl.len().cast(pl.Int32),
            _held=pl.col("composante"),
            _nat=pl.col("_nat").max(),
            _measured=(pl.col("nature") == "reel").any(),
        )
        .join(required, on=["niveau", "indice"], how="left")
        .with_columns(
            n_requises=pl.col("_req").list.len().cast(pl.Int32),
            manquantes=pl.col("_req").list.set_difference(pl.col("_held")).list.sort(),
        )
    )
    complete = pl.col("n_composantes") == pl.col("n_requises")
    no_measure = (pl.col("indice") == "indice_plateformes") & ~pl.col("_measured")
    return (
        idx.with_columns(
            statut=pl.when(no_measure).then(pl.lit("sans mesure")).when(complete).then(pl.lit("complet"))
            .otherwise(pl.lit("partiel")),
            nature=pl.col("_nat").replace_strict(NATURE_BY_RANK, return_dtype=pl.String),
        )
        .with_columns(valeur=pl.when(pl.col("statut") == "complet").then(pl.col("_mean")))
        .select("niveau", "code", "indice", "valeur", "statut", "n_composantes", "n_requises", "manquantes", "nature")
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


def quadrant_expr(collaboratif: str = "indice_collaboratif", plateformes: str = "indice_plateformes",
                  threshold: float = 50.0) -> pl.Expr:
    """`quadrant` on columns, without a Python function per row."""
    c, p = pl.col(collaboratif) >= threshold, pl.col(plateformes) >= threshold
    return (pl.when(pl.col(collaboratif).is_null() | pl.col(plateformes).is_null()).then(None)
            .when(c & p).then(pl.lit("les deux")).when(c).then(pl.lit("collaboratif"))
            .when(p).then(pl.lit("plateformisé")).otherwise(pl.lit("ni l'un ni l'autre")))
