"""Local carpool incentive campaigns: which territories an active campaign covers.

Campaigns are keyed by EPCI SIREN. `covoit_campagne_incitation` is 1 for an EPCI with a campaign
in the list and 0 for every other EPCI (the list is the national reference: absent means no
campaign there, a measured 0); communes and arrondissements take their EPCI's value. For a
département, a région or France, it is 1 when at least one of its communes is covered, and
`covoit_part_pop_campagne` gives the share of its population covered (an EPCI spanning
several départements covers each of them for its communes there). The list (April 2026) has
no start dates: the period is the year of the list.
"""

from __future__ import annotations

import polars as pl

from etl.indicators import Indicator, long_rows
from etl.levels import ratio, roll_up
from etl.marts.base import BuildContext, Mart, MartResult
from etl.sources.base import Parsed

SOURCE = "incitations_covoiturage"
LICENCE = "Licence Ouverte 2.0"
LIST = "Conditions des campagnes d'incitation financière au covoiturage (data.gouv.fr)"

INDICATORS = (
    Indicator("covoit_campagne_incitation", "Campagne d'incitation au covoiturage", "oui (1) / non (0)",
              "1 si l'EPCI organise une campagne d'incitation financière au covoiturage active (liste nationale des "
              "campagnes), 0 sinon ; une commune prend la valeur de son EPCI ; un département, une région ou la "
              "France vaut 1 si au moins une de ses communes est couverte (voir covoit_part_pop_campagne).",
              "collaboratif", "covoiturage", LIST, LICENCE, sens=1, decimales=0),
    Indicator("covoit_part_pop_campagne", "Population couverte par une campagne d'incitation", "%",
              "Population des communes dont l'EPCI organise une campagne d'incitation au covoiturage / population "
              "× 100 (départements, régions, France).", "collaboratif", "covoiturage", LIST + " ; Insee", LICENCE,
              sens=1, decimales=1),
)


class IncitationsCovoiturage(Mart):
    name = "incitations_covoiturage"
    title = "Campagnes d'incitation financière au covoiturage"
    sources = ("incitations_covoiturage",)
    requires = ("territoires",)
    indicators = INDICATORS

    def build(self, ctx: BuildContext, parsed: dict[str, Parsed]) -> MartResult:
        territoires = ctx.read("territoires.parquet")
        src = parsed[SOURCE]
        campaigns = src.frame
        epci = territoires.filter(pl.col("niveau") == "epci").select("code", "nom")
        unknown = campaigns.filter(~pl.col("code_siren").is_in(epci["code"].implode()))
        rejected = {"SIREN absent du référentiel des EPCI": unknown.height} if unknown.height else {}
        campaigns = campaigns.join(epci.rename({"code": "code_siren"}), on="code_siren", how="inner")
        covered = set(campaigns["code_siren"].to_list())
        periode = src.tables["photographie"]["periode"].item()

        flag = pl.col("code_epci").is_in(list(covered))
        local = territoires.filter(pl.col("niveau").is_in(["epci", "commune", "arrondissement"])).with_columns(
            code_epci=pl.when(pl.col("niveau") == "epci").then(pl.col("code")).otherwise(pl.col("code_epci")))
        local = local.filter(pl.col("code_epci").is_not_null()).select(
            "niveau", "code", flag.cast(pl.Float64).alias("campagne"))
        communes = territoires.filter(pl.col("niveau") == "commune")
        values = communes.select(
            pl.col("code").alias("code_commune"), pl.col("population").cast(pl.Float64),
            (pl.col("population") * flag).cast(pl.Float64).alias("population_couverte"))
        upper = (
            roll_up(values, communes, ["population", "population_couverte"])
            .filter(pl.col("niveau").is_in(["departement", "region", "france"]))
            .with_columns(part=ratio("population_couverte", "population", 100),
                          campagne=(pl.col("population_couverte") > 0).cast(pl.Float64))
        )
        indicateurs = pl.concat([
            long_rows(pl.concat([local, upper.select("niveau", "code", "campagne")]),
                      {"campagne": "covoit_campagne_incitation"}, periode=periode, nature="reel", source=SOURCE),
            long_rows(upper, {"part": "covoit_part_pop_campagne"}, periode=periode, nature="reel", source=SOURCE),
        ])
        table = campaigns.select(
            "code_siren", pl.col("nom").alias("nom_epci"), pl.col("operateurs").list.join(", ").alias("operateurs"),
            "operateurs_source", "sens_trajets", "distance_min_km", "distance_max_km", "montant_min_conducteur_passager",
            "montant_max_conducteur_passager", "montant_max_conducteur_mois", "trajets_max_passager_mois",
            "passager_gratuit", "ticket_passager", "lien",
        ).sort("code_siren")
        notes = [f"{table.height} campagnes dans {len(covered)} EPCI ; opérateurs normalisés : "
                 + ", ".join(sorted({o for ops in campaigns["operateurs"].to_list() for o in ops}))]
        return MartResult(tables={"covoiturage/campagnes.parquet": table}, indicateurs=indicateurs,
                          rejected=rejected, notes=notes)


MART = IncitationsCovoiturage()
