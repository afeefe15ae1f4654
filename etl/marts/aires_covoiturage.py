"""Carpool places (BNLC): each place in today's commune, counts and spaces per territory.

Each place is put in the commune (and arrondissement) whose polygon holds its coordinates
(`etl.geo.locate_points` on the contours' full commune polygons), whatever its stated `insee`
code: former communes, postal codes and typos land in today's commune. A place outside every
polygon (on a coast, in a commune created in 2025-2026 that has no polygon yet) keeps its
stated code brought to today's geography (`cog_passage`). Places whose stated code and located
commune differ are flagged (`ecart_code`) and counted in the mart's notes.

Capacities: an empty `nbre_pl` is unknown. `covoit_places_aires` sums the known capacities
(a lower bound), `covoit_aires_capacite_inconnue` counts the places whose capacity is unknown.
A territory without any place in the base has no row (the base is not exhaustive).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from etl import geo
from etl.cog import current_passage, null_if_empty_sum
from etl.indicators import Indicator, long_rows
from etl.levels import ratio, roll_up
from etl.marts.base import BuildContext, Mart, MartResult
from etl.sources.base import Parsed
from etl.sources.contours import arrondissement_polygons, commune_polygons

SOURCE = "bnlc"
LICENCE = "ODbL"
BNLC = "Base nationale des lieux de covoiturage (transport.data.gouv.fr)"

INDICATORS = (
    Indicator("covoit_aires", "Lieux de covoiturage", "lieux",
              "Nombre de lieux de covoiturage (aires, parkings, arrêts) de la base nationale situés dans le territoire "
              "d'après leurs coordonnées.", "collaboratif", "covoiturage", BNLC, LICENCE, sens=1, decimales=0),
    Indicator("covoit_places_aires", "Places dans les lieux de covoiturage", "places",
              "Somme des capacités renseignées (nbre_pl) des lieux du territoire ; les lieux sans capacité renseignée "
              "n'y sont pas comptés (voir covoit_aires_capacite_inconnue) : c'est un minimum.", "collaboratif",
              "covoiturage", BNLC, LICENCE, sens=1, decimales=0),
    Indicator("covoit_places_aires_pour_10000_hab", "Places de covoiturage pour 10 000 habitants",
              "places pour 10 000 hab.",
              "Places des lieux de covoiturage (capacités renseignées) / population municipale × 10 000, recalculé à "
              "chaque niveau.", "collaboratif", "covoiturage", BNLC + " ; Insee", LICENCE, sens=1, decimales=1),
    Indicator("covoit_aires_capacite_inconnue", "Lieux de covoiturage sans capacité renseignée", "lieux",
              "Nombre de lieux du territoire dont la capacité (nbre_pl) est vide dans la base : capacité inconnue, "
              "jamais comptée 0.", "collaboratif", "covoiturage", BNLC, LICENCE, sens=0, decimales=0),
)
SUMS = ["aires", "places", "aires_capacite_inconnue"]


def locate(places: pl.DataFrame, contours: pl.DataFrame) -> pl.DataFrame:
    """Commune and arrondissement of each place from its coordinates (None outside every polygon)."""
    lon, lat = places["longitude"].to_numpy(), places["latitude"].to_numpy()
    has_point = ~(np.isnan(lon) | np.isnan(lat))
    out = {}
    for col, select, some in (("commune_localisee", commune_polygons, True),
                              ("arrondissement_localise", arrondissement_polygons, False)):
        part = select(contours)
        found = np.full(len(lon), None, dtype=object)
        if has_point.any():
            found[has_point] = geo.locate_points(lon[has_point], lat[has_point], geo.from_wkb(part["geometry"]),
                                                 part["code"].to_numpy(), what=f"lieux de covoiturage ({col})",
                                                 require_some=some)
        out[col] = pl.Series(found.tolist(), dtype=pl.String)
    return places.with_columns(**out)


def declared_commune(places: pl.DataFrame, communes: pl.DataFrame, arrondissements: pl.DataFrame,
                     passage: pl.DataFrame) -> pl.DataFrame:
    """The stated code brought to today's commune (current, arrondissement -> city, former -> today's)."""
    arr = arrondissements.select(pl.col("code").alias("insee"), pl.col("code_commune").alias("_arr_city"))
    former = passage.select(pl.col("code_ancien").alias("insee"), pl.col("code_actuel").alias("_former"))
    current = communes.select(pl.col("code").alias("insee"), pl.col("code").alias("_current"))
    return (
        places.join(current, on="insee", how="left").join(arr, on="insee", how="left").join(former, on="insee", how="left")
        .with_columns(commune_declaree=pl.coalesce("_current", "_arr_city", "_former"))
        .drop("_current", "_arr_city", "_former")
    )


class AiresCovoiturage(Mart):
    name = "aires_covoiturage"
    title = "Lieux de covoiturage (BNLC) par territoire"
    sources = ("bnlc", "contours", "cog_passage")
    requires = ("territoires",)
    indicators = INDICATORS

    def build(self, ctx: BuildContext, parsed: dict[str, Parsed]) -> MartResult:
        territoires = ctx.read("territoires.parquet")
        communes = territoires.filter(pl.col("niveau") == "commune")
        arrondissements = territoires.filter(pl.col("niveau") == "arrondissement")
        places = parsed["bnlc"].frame
        passage = current_passage(parsed["cog_passage"].frame, communes)
        places = locate(places, parsed["contours"].tables["communes"])
        places = declared_commune(places, communes, arrondissements, passage)
        places = places.with_columns(
            code_commune=pl.coalesce("commune_localisee", "commune_declaree"),
            ecart_code=pl.col("commune_localisee").is_not_null() & (
                pl.col("commune_declaree").is_null() | (pl.col("commune_localisee") != pl.col("commune_declaree"))),
        )
        rejected = {}
        lost = places.filter(pl.col("code_commune").is_null())
        if lost.height:
            rejected["hors de tout contour et code commune inconnu"] = lost.height
        places = places.filter(pl.col("code_commune").is_not_null())
        notes = self._notes(places)

        parents = communes.select(pl.col("code").alias("code_commune"), "code_epci", "code_departement", "code_region")
        aires = (
            places.join(parents, on="code_commune", how="left")
            .select("id_lieu", pl.col("nom_lieu").alias("nom"), pl.col("ad_lieu").alias("adresse"), "type", "places",
                    "places_pmr", pl.col("proprio").alias("proprietaire"), "ouvert", "eclairage", "date_maj",
                    "longitude", "latitude", "code_commune", pl.col("arrondissement_localise").alias("code_arrondissement"),
                    "code_epci", "code_departement", "code_region", pl.col("insee").alias("code_insee_declare"),
                    "ecart_code")
            .sort("code_departement", "code_commune", "id_lieu")
        )

        values = places.select(
            "code_commune", "arrondissement_localise", pl.lit(1).alias("aires"),
            pl.col("places").cast(pl.Float64), pl.col("places").is_null().cast(pl.Int32).alias("aires_capacite_inconnue"),
        )
        # already today's codes (located, or brought there): summed per commune and per arrondissement
        per_commune = values.group_by("code_commune").agg([null_if_empty_sum(c) for c in SUMS]).sort("code_commune")
        per_arr = (values.filter(pl.col("arrondissement_localise").is_not_null())
                   .group_by(pl.col("arrondissement_localise").alias("code_arrondissement"))
                   .agg([null_if_empty_sum(c) for c in SUMS]).sort("code_arrondissement"))
        wide = roll_up(per_commune, communes, SUMS, arrondissements=per_arr).join(
            territoires.select("niveau", "code", "population"), on=["niveau", "code"], how="left"
        ).with_columns(places_10000=ratio("places", "population", 10_000))
        periode = parsed["bnlc"].tables["photographie"]["periode"].item()
        indicateurs = long_rows(
            wide, {"aires": "covoit_aires", "places": "covoit_places_aires",
                   "places_10000": "covoit_places_aires_pour_10000_hab",
                   "aires_capacite_inconnue": "covoit_aires_capacite_inconnue"},
            periode=periode, nature="reel", source=SOURCE,
        )
        return MartResult(tables={"covoiturage/aires.parquet": aires}, indicateurs=indicateurs, rejected=rejected,
                          notes=notes)

    @staticmethod
    def _notes(places: pl.DataFrame) -> list[str]:
        gap = places.filter(pl.col("ecart_code"))
        outside = places.filter(pl.col("commune_localisee").is_null()).height
        listed = ", ".join(f"{i} ({a or 'vide'} → {b})" for i, a, b in
                           gap.select("id_lieu", "insee", "commune_localisee").head(30).iter_rows())
        future = places.filter(pl.col("date_maj") > date.today()).height
        notes = [
            f"{places.height} lieux placés ; {gap.height} dont le code déclaré (ramené à la commune actuelle) diffère "
            f"de la commune localisée par les coordonnées (colonne ecart_code de covoiturage/aires.parquet) : "
            f"{listed}{' …' if gap.height > 30 else ''}",
            f"{outside} lieu(x) hors de tout contour de commune, placé(s) d'après leur code déclaré",
        ]
        if future:
            notes.append(f"{future} date(s) de mise à jour dans le futur (gardées telles quelles)")
        return notes


MART = AiresCovoiturage()
