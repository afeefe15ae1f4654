"""The figures the product shows, once per data version, and the balance indices built on them.

Built last, from every other mart's rows of `indicateurs` (`requires_all_marts`):

- `valeurs/courantes.parquet`: for every territory and indicator, **the** value every page, the
  territory brief and the extracts show ("territory X, indicator Y"): the row `etl.periods`
  puts first (latest year; measured before estimated before simulated; latest end; a year
  before its months), with its typed period (`type_periode`, `debut`, `fin`), nature and
  source. A value the product refuses to show carries `valeur` null and a French `raison`
  (a commune whose 2021 dwellings are not those of its 2026 territory; an index that is partial
  or rests on no measure). `dashboard/valeurs.py` reads it;
- `equilibre/rangs.parquet`: one row per (niveau, code, indice, composante): the value over the
  component's reference period, its nature and source, `statut` ("mesure"; "aucun" when a
  national source's silence means none; "contexte" when too few territories of the level have
  it to rank) and the percentile rank (`etl.indices`);
- `equilibre/indices.parquet`: one row per inhabited territory of the index levels: both
  indices (null unless complete), their `statut`, components held and required, nature,
  period, the sentence saying what each rests on, where the index stands among the complete
  indices of its level (`position_*`, 0-100, out of `classes_*`), the quadrant and the
  bivariate classes;
- `valeurs/evolutions.parquet`: for each value shown, the value of the period before it (same
  kind of period, source and nature) where there is one: the trend of the landing page's tiles;
- indicators `indice_collaboratif`, `indice_plateformes` (complete indices only) and the
  number of ranked components each territory has.
"""

from __future__ import annotations

import polars as pl

from dashboard import fmt
from etl import periods
from etl.indicators import Indicator
from etl.indices import (
    COMPONENT_META,
    COMPONENTS,
    INDEX_LABELS,
    INDEX_LEVELS,
    METROPOLE,
    MIN_TERRITORIES,
    RANK_SCHEMA,
    component_values,
    compute,
    percentile_ranks,
    quadrant_expr,
)
from etl.marts.base import BuildContext, Mart, MartResult
from etl.sources.base import Parsed

SOURCE = "Observatoire, calcul sur les indicateurs des domaines"
#: The indices are ours; their inputs keep their licences, whose attributions an extract must carry.
LICENCE = ("Licence Ouverte 2.0 pour le calcul ; composantes : Licence Ouverte 2.0, ODbL (lieux de covoiturage), "
           "CC BY 4.0 (Inside Airbnb)")
#: Indicators computed from the 2021 dwellings: unknown for the communes `territoires` flags.
HOUSING_BASED = ("logements", "part_residences_secondaires", "str_annonces_pour_100_logements")
CURRENT_SCHEMA = {"niveau": pl.String, "code": pl.String, "indicateur": pl.String, "valeur": pl.Float64,
                  "periode": pl.String, "type_periode": pl.String, "debut": pl.Date, "fin": pl.Date,
                  "nature": pl.String, "source": pl.String, "raison": pl.String}
LEVEL_SINGULAR = {"commune": "commune", "arrondissement": "arrondissement", "epci": "intercommunalité",
                  "departement": "département", "region": "région"}
LEVEL_PLURAL = {"commune": "communes", "arrondissement": "arrondissements", "epci": "intercommunalités",
                "departement": "départements", "region": "régions"}

_DEF = (
    "Moyenne des rangs centiles (0 à 100, parmi les territoires du même niveau) de toutes les composantes classées "
    "à ce niveau : {}. Chaque composante est comparée sur une même période pour tous ; une composante détenue par "
    "moins de 10 territoires d'un niveau n'y est pas classée (contexte). Un territoire auquel il manque une "
    "composante n'a pas d'indice (« indice partiel »), une commune sans habitant non plus ; l'indice porte la nature "
    "la plus faible de ses composantes (simulé, puis estimé, puis réel)."
)


def _labels(index: str) -> str:
    return ", ".join(c.libelle.lower() for c in COMPONENTS[index])


INDICATORS = (
    Indicator("indice_collaboratif", "Indice d'adoption collaborative", "/ 100",
              _DEF.format(_labels("indice_collaboratif")), "collaboratif", "equilibre",
              SOURCE, LICENCE, sens=1, decimales=0),
    Indicator("indice_plateformes", "Indice de pénétration des plateformes", "/ 100",
              _DEF.format(_labels("indice_plateformes")) + " Il faut au moins une composante mesurée : une estimation "
              "tirée du nombre de taxis ne place jamais un territoire.", "plateforme", "equilibre",
              SOURCE, LICENCE, sens=1, decimales=0),
    Indicator("indice_collaboratif_composantes", "Composantes classées de l'indice collaboratif", "composantes",
              "Nombre de composantes de l'indice d'adoption collaborative classées au niveau du territoire et connues "
              f"pour lui (sur {len(COMPONENTS['indice_collaboratif'])} possibles).", "collaboratif", "equilibre",
              SOURCE, LICENCE, sens=0, decimales=0),
    Indicator("indice_plateformes_composantes", "Composantes classées de l'indice plateformes", "composantes",
              "Nombre de composantes de l'indice de pénétration des plateformes classées au niveau du territoire et "
              f"connues pour lui (sur {len(COMPONENTS['indice_plateformes'])} possibles).", "plateforme", "equilibre",
              SOURCE, LICENCE, sens=0, decimales=0),
)


def current_values(indicateurs: pl.DataFrame) -> pl.DataFrame:
    """The value shown for each (niveau, code, indicateur), with its typed period (`etl.periods`)."""
    latest = periods.latest_rows(indicateurs, ["niveau", "code", "indicateur"])
    return periods.typed_columns(latest).with_columns(raison=pl.lit(None, pl.String))


EVOLUTION_SCHEMA = {"niveau": pl.String, "code": pl.String, "indicateur": pl.String, "periode": pl.String,
                    "valeur": pl.Float64, "periode_precedente": pl.String, "valeur_precedente": pl.Float64}


def previous_values(indicateurs: pl.DataFrame, current: pl.DataFrame) -> pl.DataFrame:
    """For each value shown, the value of the period before it, where there is one (`EVOLUTION_SCHEMA`).

    "Before" is typed (`etl.periods`), never text order: the latest period that ends before the
    shown one starts, of the same kind (a month before a month, a year before a year), from the
    same source and of the same nature, so that a trend never compares a simulation with a
    measure or a snapshot with a yearly total. The landing page's tiles show it as the trend.
    """
    several = indicateurs.group_by("indicateur").agg(_n=pl.col("periode").n_unique()).filter(
        pl.col("_n") > 1)["indicateur"]  # most indicators have one period: no trend to look for
    indicateurs = indicateurs.filter(pl.col("indicateur").is_in(several.implode()))
    shown = current.filter(pl.col("valeur").is_not_null() & pl.col("indicateur").is_in(several.implode())).select(
        "niveau", "code", "indicateur", "periode", "valeur", "type_periode", "debut", "nature", "source")
    earlier = periods.typed_columns(indicateurs.select("niveau", "code", "indicateur", "periode", "valeur", "nature",
                                                       "source")).select(
        "niveau", "code", "indicateur", "type_periode", "nature", "source",
        pl.col("periode").alias("periode_precedente"), pl.col("valeur").alias("valeur_precedente"),
        pl.col("fin").alias("_fin"))
    keys = ["niveau", "code", "indicateur", "type_periode", "nature", "source"]
    return (shown.join(earlier, on=keys).filter((pl.col("_fin") < pl.col("debut"))
                                                & pl.col("valeur_precedente").is_not_null())
            .sort([*keys, "_fin"]).unique(["niveau", "code", "indicateur"], keep="last")
            .select([pl.col(c).cast(t) for c, t in EVOLUTION_SCHEMA.items()]).sort("niveau", "code", "indicateur"))


def _join_labels(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " et " + items[-1]


def _unranked_reason(comp: str, level: str, context: dict[tuple[str, str], int], holds: bool) -> str:
    """Why a component does not count at a level (or for a territory): too few territories, or no data."""
    meta = COMPONENT_META[comp]
    n = context.get((level, comp))
    if n is not None and holds:
        plural = LEVEL_PLURAL[level] if n > 1 else LEVEL_SINGULAR[level]
        return (f"{meta.nom} : connues pour {fmt.number(n)} {plural} seulement (moins de {MIN_TERRITORIES}), "
                "montrées comme contexte, sans rang")
    return f"{meta.nom} : {meta.hors_couverture}"


def _missing_reason(comp: str, metropolitan: bool) -> str:
    """Why a territory lacks a component ranked at its level."""
    meta = COMPONENT_META[comp]
    if meta.absence == "aucun" and (metropolitan or meta.couverture == "france"):
        return f"{meta.nom} : {meta.absent_texte}"
    return f"{meta.nom} : {meta.hors_couverture}"


def index_sentences(idx: pl.DataFrame, ranks: pl.DataFrame) -> pl.DataFrame:
    """Per (niveau, code, indice): `raison`, what the index rests on or why there is none, in plain French.

    `idx`: `compute`'s rows for every inhabited territory of the index levels (with `statut`
    "aucune composante" where it has none) and `metropole` (bool).
    """
    context = {(lv, c): n for lv, c, n in ranks.filter(pl.col("statut") == "contexte").group_by(
        "niveau", "composante").agg(pl.col("code").n_unique()).iter_rows()}
    required = {(lv, i): set(cs) for lv, i, cs in ranks.filter(pl.col("rang").is_not_null()).group_by(
        "niveau", "indice").agg(pl.col("composante").unique()).iter_rows()}
    held_context = {(lv, c, i) for lv, c, i in ranks.filter(pl.col("statut") == "contexte").select(
        "niveau", "code", "composante").iter_rows()}
    out = []
    for r in idx.iter_rows(named=True):
        level, index = r["niveau"], r["indice"]
        total = len(COMPONENTS[index])
        req = required.get((level, index), set())
        n = r["n_composantes"] or 0
        others = [c.indicateur for c in COMPONENTS[index] if c.indicateur not in req]
        aside = list(dict.fromkeys(_unranked_reason(c, level, context, (level, r["code"], c) in held_context)
                                   for c in others))
        if r["statut"] == "complet":
            text = f"Calculé sur {len(req)} composante{'s' if len(req) > 1 else ''} sur {total}"
            text += (" ; hors calcul : " + " ; ".join(aside) + "." if aside else ".")
        elif r["statut"] == "partiel":
            gaps = " ; ".join(dict.fromkeys(_missing_reason(c, r["metropole"]) for c in (r["manquantes"] or [])))
            text = (f"Indice partiel, sans note : {n} composante{'s' if n > 1 else ''} connue{'s' if n > 1 else ''} "
                    f"sur les {len(req)} classées à ce niveau ({gaps}). Il ne se compare pas aux autres.")
        elif r["statut"] == "sans mesure":
            text = ("Pas de mesure des plateformes ici : ses seules composantes sont des estimations, qui ne "
                    "suffisent pas à situer un territoire.")
        else:  # no ranked component: say why for each, the level's and the others
            lacking = [_missing_reason(c.indicateur, r["metropole"]) for c in COMPONENTS[index] if c.indicateur in req]
            why = " ; ".join(dict.fromkeys([*lacking, *aside]))
            text = ("Pas de mesure des plateformes ici : " if index == "indice_plateformes" else
                    f"Aucune composante de l'indice d'{INDEX_LABELS[index]} n'est connue ici : ") + why + "."
        out.append((level, r["code"], index, text))
    return pl.DataFrame(out, schema={"niveau": pl.String, "code": pl.String, "indice": pl.String,
                                     "raison": pl.String}, orient="row")


def all_indices(ranks: pl.DataFrame, territoires: pl.DataFrame) -> pl.DataFrame:
    """`compute` for every inhabited territory of the index levels, with `periode` and `raison`."""
    idx = compute(ranks)
    everyone = territoires.filter(pl.col("niveau").is_in(INDEX_LEVELS) & (pl.col("population") > 0)).select(
        "niveau", "code", metropole=METROPOLE.fill_null(False)).join(pl.DataFrame({"indice": list(COMPONENTS)}),
                                                                      how="cross")
    idx = everyone.join(idx, on=["niveau", "code", "indice"], how="left").with_columns(
        statut=pl.col("statut").fill_null("aucune composante"), n_composantes=pl.col("n_composantes").fill_null(0))
    # the index's period: the latest of the periods its level's ranked components are compared over
    ref = ranks.filter(pl.col("rang").is_not_null()).select("niveau", "indice", "periode").unique()
    ref = ref.with_columns(_end=periods.end_expr()).sort("_end").group_by("niveau", "indice").agg(
        pl.col("periode").last().alias("_last")).with_columns(
        periode=periods.start_expr("_last").dt.year().cast(pl.String)).drop("_last")
    sentences = index_sentences(idx, ranks)
    return (idx.join(ref, on=["niveau", "indice"], how="left")
            .join(sentences, on=["niveau", "code", "indice"], how="left")
            .drop("metropole").sort("niveau", "code", "indice"))


def wide_indices(idx: pl.DataFrame) -> pl.DataFrame:
    """One row per territory: both indices side by side, the quadrant and the bivariate classes."""
    parts = []
    for index in COMPONENTS:
        part = idx.filter(pl.col("indice") == index).select(
            "niveau", "code",
            pl.col("valeur").alias(index), pl.col("statut").alias(f"statut_{index}"),
            pl.col("n_composantes").alias(f"n_{index}"), pl.col("n_requises").alias(f"requises_{index}"),
            pl.col("manquantes").list.join(",").alias(f"manquantes_{index}"),
            pl.col("nature").alias(f"nature_{index}"), pl.col("periode").alias(f"periode_{index}"),
            pl.col("raison").alias(f"raison_{index}"),
        )
        parts.append(part)
    wide = parts[0].join(parts[1], on=["niveau", "code"], how="full", coalesce=True)
    for index in COMPONENTS:  # where the index stands among the complete indices of its level
        n = pl.col(index).count().over("niveau")
        wide = wide.with_columns(
            pl.when(pl.col(index).is_not_null() & (n > 1))
            .then((pl.col(index).rank(method="average").over("niveau") - 1) / (n - 1) * 100)
            .alias(f"position_{index}"),
            n.cast(pl.Int32).alias(f"classes_{index}"),
        )
    return wide.with_columns(
        quadrant=quadrant_expr(),
        classe_c=_tercile("indice_collaboratif"),
        classe_p=_tercile("indice_plateformes"),
    ).sort("niveau", "code")


def _tercile(col: str) -> pl.Expr:
    return (pl.when(pl.col(col).is_null()).then(None)
            .when(pl.col(col) < 100 / 3).then(0).when(pl.col(col) < 200 / 3).then(1).otherwise(2)).cast(pl.Int8)


class Equilibre(Mart):
    name = "equilibre"
    title = "Valeurs affichées de chaque indicateur, indices d'adoption collaborative et de pénétration des plateformes"
    sources = ()
    requires_all_marts = True
    indicators = INDICATORS

    def build(self, ctx: BuildContext, parsed: dict[str, Parsed]) -> MartResult:
        parts = sorted(p for p in (ctx.out_dir / "indicateurs").glob("*.parquet") if p.stem != self.name)
        indicateurs = pl.concat([pl.read_parquet(p) for p in parts], how="vertical_relaxed")
        territoires = ctx.read("territoires.parquet")

        values = component_values(indicateurs, territoires)
        ranks = percentile_ranks(values).select(list(RANK_SCHEMA)).sort("niveau", "code", "indice", "composante")
        idx = all_indices(ranks, territoires)
        rows = pl.concat([
            idx.filter(pl.col("statut") == "complet").select(
                "niveau", "code", pl.col("indice").alias("indicateur"), "periode", "valeur", "nature"),
            idx.filter(pl.col("n_composantes") > 0).select(
                "niveau", "code", (pl.col("indice") + "_composantes").alias("indicateur"), "periode",
                pl.col("n_composantes").cast(pl.Float64).alias("valeur"), "nature"),
        ]).with_columns(source=pl.lit(self.name))

        # -- the value of every figure -----------------------------------------------------------
        current = current_values(pl.concat([indicateurs, rows], how="vertical_relaxed"))
        if "note_logements" not in territoires.columns:  # a reference built before the housing flags
            territoires = territoires.with_columns(note_logements=pl.lit(None, pl.String))
        flagged = territoires.filter(pl.col("note_logements").is_not_null()).select(
            "niveau", "code", pl.col("note_logements").alias("raison"))
        housing = flagged.join(pl.DataFrame({"indicateur": list(HOUSING_BASED)}), how="cross").select(
            "niveau", "code", "indicateur", "raison")
        refused = pl.concat([
            housing,
            idx.filter(pl.col("statut") != "complet").select("niveau", "code", pl.col("indice").alias("indicateur"),
                                                             "raison"),
        ], how="vertical_relaxed")
        current = pl.concat([
            current.join(refused, on=["niveau", "code", "indicateur"], how="anti"),
            refused.select("niveau", "code", "indicateur", "raison"),
        ], how="diagonal_relaxed").select([pl.col(c).cast(t) for c, t in CURRENT_SCHEMA.items()]).sort(
            "niveau", "code", "indicateur")

        evolutions = previous_values(pl.concat([indicateurs, rows], how="vertical_relaxed"), current)

        # what `dashboard.valeurs` needs at start, computed here once: each territory's rows (the
        # table is sorted by territory) and the (niveau, indicateur) pairs that have values
        spans = current.with_row_index("debut_ligne").group_by("niveau", "code", maintain_order=True).agg(
            pl.col("debut_ligne").first(), pl.len().alias("lignes"))
        levels = current.filter(pl.col("valeur").is_not_null()).group_by("niveau", "indicateur").len(
            "territoires").sort("niveau", "indicateur")

        missing = [c for c in COMPONENT_META if c not in set(values["composante"].unique())]
        notes = [f"composantes sans aucune donnée : {', '.join(missing)}"] if missing else []
        for (level, index), n in sorted(idx.group_by("niveau", "indice", "statut").len().select(
                "niveau", "indice", "statut", "len").rows_by_key(["niveau", "indice"]).items()):
            notes.append(f"{level} {index} : " + ", ".join(f"{s} {k}" for s, k in sorted(n)))
        return MartResult(
            tables={
                "equilibre/rangs.parquet": ranks,
                "equilibre/indices.parquet": wide_indices(idx),
                "valeurs/courantes.parquet": current,
                "valeurs/index.parquet": spans,
                "valeurs/niveaux.parquet": levels,
                "valeurs/evolutions.parquet": evolutions,
            },
            indicateurs=rows, notes=notes,
        )


MART = Equilibre()
