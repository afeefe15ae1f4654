"""Tiers-lieux: the places with their commune of today, counts, rates and population coverage.

Reads every list of places in `TIERS_LIEUX_SOURCES` (common table of `etl/tiers_lieux_schema.py`)
and writes `tiers_lieux/lieux.parquet` (one row per place, no personal data) and the indicators
`tiers_lieux`, `tiers_lieux_pour_10000_hab`, `part_pop_10km_tiers_lieu`,
`part_pop_20km_tiers_lieu` and `distance_tiers_lieu_km`, period = the list's vintage.

Which commune holds a place (see docs/tiers-lieux-vtc.md): the code given by the source, brought
to today's commune (`etl.cog.classify_codes`), is checked against the commune whose polygon
holds the coordinates (`etl.geo.locate_points`). Where they disagree, the address decides: the
coordinates win when the commune written in the address is the coordinates' commune, or when
the declared code lies in another département than both the coordinates and the postal code
(the ANCT file gives Maripasoula or Bonifacio to six overseas places); otherwise the declared
code is kept (geocoding on a border). Every case is counted in the mart's notes.

Coverage: a commune's population counts as "within 10 km" when its centre (`territoires`
longitude/latitude) is within 10 km great-circle of a place (the exact distance; the stored
`distance_tiers_lieu_km` is rounded to 10 m for display only) (`etl.geo.nearest_km`, a k-d tree:
all 34,875 communes at once). Shares are recomputed at each level from summed populations.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

import numpy as np
import polars as pl

from etl import geo
from etl import tiers_lieux_schema as schema
from etl.cog import classify_codes, current_passage
from etl.indicators import Indicator, long_rows
from etl.levels import ratio, roll_up
from etl.marts.base import BuildContext, Mart, MartResult
from etl.sources import contours
from etl.sources.base import Parsed

#: Lists of places read by this mart (each returns the table of `etl/tiers_lieux_schema.py`).
TIERS_LIEUX_SOURCES = ("tiers_lieux_anct",)
RADII_KM = (10, 20)
LICENCE = "Licence Ouverte 2.0"
SOURCE_LABEL = "ANCT (ex-CGET), base des tiers-lieux 2019"

INDICATORS = (
    Indicator("tiers_lieux", "Tiers-lieux recensés", "lieux",
              "Nombre de tiers-lieux (coworking, fablab) de la base nationale de l'ANCT (millésime 2019) situés "
              "dans le territoire ; somme des communes.", "collaboratif", "tiers_lieux", SOURCE_LABEL, LICENCE,
              sens=1, decimales=0),
    Indicator("tiers_lieux_pour_10000_hab", "Tiers-lieux pour 10 000 habitants", "pour 10 000 hab.",
              "Tiers-lieux recensés en 2019 / population municipale (2023) × 10 000, recalculé à chaque niveau à "
              "partir des sommes.", "collaboratif", "tiers_lieux", SOURCE_LABEL, LICENCE, sens=1, decimales=2),
    Indicator("part_pop_10km_tiers_lieu", "Population à moins de 10 km d'un tiers-lieu", "%",
              "Part de la population du territoire vivant dans une commune dont le centre est à moins de 10 km "
              "(à vol d'oiseau) d'un tiers-lieu recensé en 2019 ; population 2023.", "collaboratif", "tiers_lieux",
              SOURCE_LABEL, LICENCE, sens=1, decimales=1),
    Indicator("part_pop_20km_tiers_lieu", "Population à moins de 20 km d'un tiers-lieu", "%",
              "Part de la population du territoire vivant dans une commune dont le centre est à moins de 20 km "
              "(à vol d'oiseau) d'un tiers-lieu recensé en 2019 ; population 2023.", "collaboratif", "tiers_lieux",
              SOURCE_LABEL, LICENCE, sens=1, decimales=1),
    Indicator("distance_tiers_lieu_km", "Distance au tiers-lieu le plus proche", "km",
              "Distance à vol d'oiseau entre le centre de la commune (ou de l'arrondissement) et le tiers-lieu "
              "recensé en 2019 le plus proche, où qu'il soit.", "collaboratif", "tiers_lieux", SOURCE_LABEL,
              LICENCE, sens=-1, decimales=1),
)

PLACE_COLUMNS = [
    "identifiant", "source", "millesime", "nom", "type", "adresse", "code_postal", "commune_adresse", "site_web",
    "longitude", "latitude", "code_commune", "code_arrondissement", "code_epci", "code_departement", "code_region",
    "code_commune_declare", "code_commune_coordonnees", "origine_commune",
]


def _plain(text: pl.Expr) -> pl.Expr:
    """Lower case, no accents, words separated by one space: "Saint-Laurent du Maroni" -> "saint laurent du maroni"."""
    return text.map_elements(
        lambda s: re.sub(r"[^a-z0-9]+", " ", unicodedata.normalize("NFKD", s).encode("ascii", "ignore")
                         .decode().lower()).strip(),
        return_dtype=pl.String,
    )


def _departement(code: pl.Expr) -> pl.Expr:
    """Département of a commune or postal code: 3 digits overseas, "20" for Corsica's two."""
    return pl.when(code.str.starts_with("97")).then(code.str.slice(0, 3)).when(
        code.str.starts_with("2A") | code.str.starts_with("2B")).then(pl.lit("20")).otherwise(code.str.slice(0, 2))


def assign_communes(
    places: pl.DataFrame,
    *,
    passage: pl.DataFrame,
    communes: pl.DataFrame,
    arrondissements: pl.DataFrame,
    commune_polygons: pl.DataFrame,
    arrondissement_polygons: pl.DataFrame,
) -> tuple[pl.DataFrame, Counter]:
    """The commune (and arrondissement) of each place, and how many places fell in each case.

    `communes`: `code`, `nom`; `arrondissements`: `code`, `code_commune`; polygons: `code`,
    `geometry` (WKB, the mirror's resolution, not the map's simplified shapes).
    """
    lon, lat = places["longitude"].to_numpy(), places["latitude"].to_numpy()
    by_coords = geo.locate_points(lon, lat, geo.from_wkb(commune_polygons["geometry"]), commune_polygons["code"],
                                  what="tiers-lieux (communes)")
    arr_by_coords = geo.locate_points(lon, lat, geo.from_wkb(arrondissement_polygons["geometry"]),
                                      arrondissement_polygons["code"], what="tiers-lieux (arrondissements)",
                                      require_some=False)
    names = communes.select(pl.col("code").alias("code_commune_coordonnees"), pl.col("nom").alias("_nom_coord"))
    df = classify_codes(
        places, code_col="code_commune_declare", passage=passage, communes=communes["code"],
        arrondissements=arrondissements.select("code", "code_commune"),
    ).rename({"code_commune": "_declared", "code_arrondissement": "_declared_arr"}).with_columns(
        code_commune_coordonnees=pl.Series(by_coords.tolist(), dtype=pl.String),
        _arr_coord=pl.Series(arr_by_coords.tolist(), dtype=pl.String),
    ).join(names, on="code_commune_coordonnees", how="left", maintain_order="left")

    declared, coords = pl.col("_declared"), pl.col("code_commune_coordonnees")
    address_names_coords = (
        pl.col("commune_adresse").is_not_null() & pl.col("_nom_coord").is_not_null()
        & _plain(pl.col("commune_adresse").fill_null("")).str.starts_with(_plain(pl.col("_nom_coord").fill_null("")))
    )
    far_off = (_departement(declared) != _departement(coords)) & (
        _departement(pl.col("code_postal").fill_null("")) == _departement(coords))
    df = df.with_columns(
        origine_commune=pl.when(declared.is_null() & coords.is_not_null()).then(pl.lit("coordonnees (code absent)"))
        .when(declared.is_null()).then(pl.lit("inconnue"))
        .when(coords.is_null()).then(pl.lit("code declare (hors contours)"))
        .when(declared == coords).then(pl.lit("code declare"))
        .when(address_names_coords | far_off).then(pl.lit("coordonnees (code corrige)"))
        .otherwise(pl.lit("code declare (desaccord)"))
    ).with_columns(
        code_commune=pl.when(pl.col("origine_commune").str.starts_with("coordonnees")).then(coords)
        .otherwise(declared)
    )
    # arrondissement of Paris, Lyon, Marseille: from the coordinates when they fall in that city
    parents = dict(arrondissements.select("code", "code_commune").iter_rows())
    df = df.with_columns(
        code_arrondissement=pl.when(
            pl.col("_arr_coord").replace_strict(parents, default=None) == pl.col("code_commune")
        ).then(pl.col("_arr_coord")).when(pl.col("_declared_arr").is_not_null()).then(pl.col("_declared_arr"))
    )
    cases = Counter(dict(df.group_by("origine_commune").len().iter_rows()))
    cities = set(arrondissements["code_commune"].to_list())
    no_arr = df.filter(pl.col("code_commune").is_in(list(cities)) & pl.col("code_arrondissement").is_null()).height
    if no_arr:
        cases["dans une ville à arrondissements, sans arrondissement connu"] = no_arr
    return df.drop("kind", "_declared", "_declared_arr", "_arr_coord", "_nom_coord"), cases


def coverage(centres: pl.DataFrame, places: pl.DataFrame, radii_km: tuple[int, ...] = RADII_KM) -> pl.DataFrame:
    """Per territory centre (`code`, `longitude`, `latitude`, `population`): nearest place and covered population.

    Adds `distance_km`, `identifiant_proche`, `population_mesuree` (the population when the
    centre is known) and `population_<r>km` (the population when a place is within r km, else 0).
    """
    dist, idx = geo.nearest_km(centres["longitude"].to_numpy(), centres["latitude"].to_numpy(),
                               places["longitude"].to_numpy(), places["latitude"].to_numpy())
    ids = np.asarray(places["identifiant"].to_list() + [None], dtype=object)
    out = centres.with_columns(
        _distance=pl.Series(dist).fill_nan(None),
        distance_km=pl.Series(np.round(dist, 2)).fill_nan(None),
        identifiant_proche=pl.Series(ids[idx].tolist(), dtype=pl.String),
    )
    known = pl.col("_distance").is_not_null()
    # the radius is tested on the exact distance; only the stored figure is rounded (a centre at
    # 10.002 km is not within 10 km, though it displays as 10.00)
    return out.with_columns(
        population_mesuree=pl.when(known).then(pl.col("population")),
        **{f"population_{r}km": pl.when(known).then(pl.when(pl.col("_distance") <= r).then(pl.col("population"))
                                                    .otherwise(0)) for r in radii_km},
    ).drop("_distance")


class TiersLieux(Mart):
    name = "tiers_lieux"
    title = "Tiers-lieux : lieux, densité et couverture de la population"
    sources = (*TIERS_LIEUX_SOURCES, "contours", "cog_passage")
    requires = ("territoires",)
    indicators = INDICATORS

    def build(self, ctx: BuildContext, parsed: dict[str, Parsed]) -> MartResult:
        places = pl.concat([schema.conform(parsed[s].frame) for s in TIERS_LIEUX_SOURCES])
        vintage = "-".join(sorted(places["millesime"].unique().to_list()))
        source_name = "+".join(TIERS_LIEUX_SOURCES)
        territoires = ctx.read("territoires.parquet")
        communes = territoires.filter(pl.col("niveau") == "commune")
        arrondissements = territoires.filter(pl.col("niveau") == "arrondissement")
        passage = current_passage(parsed["cog_passage"].frame, communes)
        polygons = parsed["contours"].tables["communes"]

        located, cases = assign_communes(
            places, passage=passage, communes=communes.select("code", "nom"),
            arrondissements=arrondissements.select("code", "code_commune"),
            commune_polygons=contours.commune_polygons(polygons),
            arrondissement_polygons=contours.arrondissement_polygons(polygons),
        )
        rejected: Counter = Counter()
        unplaced = located.filter(pl.col("code_commune").is_null())
        if unplaced.height:
            rejected["lieu sans commune (ni code, ni coordonnées dans un contour)"] = unplaced.height
        lieux = (
            located.filter(pl.col("code_commune").is_not_null())
            .join(communes.select(pl.col("code").alias("code_commune"), "code_epci", "code_departement", "code_region"),
                  on="code_commune", how="left")
            .select(PLACE_COLUMNS)
            .sort("identifiant")
        )
        notes = [f"communes des lieux : {case} : {n}" for case, n in sorted(cases.items())]

        # -- counts and coverage per commune and arrondissement --------------------------------
        cols = ["code", "longitude", "latitude", "population"]
        com = coverage(communes.select(cols), lieux).join(
            lieux.group_by(pl.col("code_commune").alias("code")).len("tiers_lieux"), on="code", how="left")
        arr = coverage(arrondissements.select(cols), lieux).join(
            lieux.group_by(pl.col("code_arrondissement").alias("code")).len("tiers_lieux"), on="code", how="left")
        sums = ["tiers_lieux", "population", "population_mesuree", *[f"population_{r}km" for r in RADII_KM]]
        # the national list covers every commune: a commune without a listed place has 0, not "no data"
        com, arr = (f.with_columns(pl.col("tiers_lieux").fill_null(0)) for f in (com, arr))
        levels = roll_up(
            com.select(pl.col("code").alias("code_commune"), *sums), communes, sums,
            arrondissements=arr.select(pl.col("code").alias("code_arrondissement"), *sums),
        ).with_columns(
            tiers_lieux_pour_10000_hab=ratio("tiers_lieux", "population", 10_000),
            **{f"part_pop_{r}km": ratio(f"population_{r}km", "population_mesuree", 100) for r in RADII_KM},
        )
        distances = pl.concat([
            com.select(pl.lit("commune").alias("niveau"), "code", "distance_km"),
            arr.select(pl.lit("arrondissement").alias("niveau"), "code", "distance_km"),
        ])
        columns = {"tiers_lieux": "tiers_lieux", "tiers_lieux_pour_10000_hab": "tiers_lieux_pour_10000_hab",
                   **{f"part_pop_{r}km": f"part_pop_{r}km_tiers_lieu" for r in RADII_KM}}
        indicateurs = pl.concat([
            long_rows(levels, columns, periode=vintage, nature="reel", source=source_name),
            long_rows(distances, {"distance_km": "distance_tiers_lieu_km"}, periode=vintage, nature="reel",
                      source=source_name),
        ])
        no_centre = com.filter(pl.col("distance_km").is_null()).height
        if no_centre:
            notes.append(f"{no_centre} communes sans centre connu (sans contour) : couverture non calculée")
        return MartResult(tables={"tiers_lieux/lieux.parquet": lieux}, indicateurs=indicateurs,
                          rejected=rejected, notes=notes)


MART = TiersLieux()
