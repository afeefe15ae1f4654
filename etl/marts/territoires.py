"""The territory reference: every commune, arrondissement, EPCI, département, région and France.

Writes `territoires.parquet` (identity, parents, population, dwellings, surface, density,
centre, comparison classes, island communes), `comparables.parquet` (each territory's peers,
chosen once here: `etl/comparables.py`), `codes_postaux.parquet` (search), `geo/<niveau>.parquet`
(simplified polygons as GeoJSON text) and the first indicators.

Sums go up from communes (EPCI, départements, régions and France are the sums of their
communes, never the figures published for them), rates are recomputed at each level.
Surfaces come from the polygons in an equal-area projection; the 8 communes created in
2025-2026 have no polygon yet, so their surface and density are unknown (null) and their
parents' surfaces lack them: a parent's density divides the population of its communes *with*
a polygon by their surface (the same communes above and below the line), never the full
population by a surface that lacks some of it (Mauges Communauté was 16 % too dense).

Housing 2021 is in the 2021 geography: communes re-created or split since then have no
dwellings, and the commune that held them has too many (`housing_flags`). Their housing-based
figures are flagged in `note_logements` and left out of `indicateurs` (see docs/donnees.md,
"Known limits of the reference"); the sums of their parents are right and kept.
"""

from __future__ import annotations

from collections import Counter
from functools import partial

import numpy as np
import polars as pl
import shapely

from dashboard import fmt
from etl import comparables, geo
from etl.cog import current_passage, harmonise_communes
from etl.indicators import Indicator, long_rows
from etl.levels import FRANCE_CODE, ratio, roll_up
from etl.marts.base import BuildContext, Mart, MartResult, Table
from etl.sources.base import Parsed
from etl.sources.contours import arrondissement_polygons, commune_polygons

#: Summed up the levels. Surfaces are summed in whole square metres: an integer sum does not depend
#: on the order in which a parallel group-by adds the rows, so a rebuild writes the same bytes.
SUMS = ["population", "logements", "residences_principales", "residences_secondaires", "logements_vacants", "superficie_m2"]

#: Map simplification per level (degrees; 0.001° ≈ 80-110 m in France).
TOLERANCE = {"communes": 0.0005, "arrondissements": 0.0002, "epci": 0.003, "departements": 0.003, "regions": 0.005}

#: Comparison classes (see docs/donnees.md, "Comparable territories").
POPULATION_BANDS = [200, 500, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000]
POPULATION_LABELS = [
    "moins de 200 hab.", "200 à 499 hab.", "500 à 1 999 hab.", "2 000 à 4 999 hab.", "5 000 à 9 999 hab.",
    "10 000 à 19 999 hab.", "20 000 à 49 999 hab.", "50 000 à 99 999 hab.", "100 000 à 199 999 hab.",
    "200 000 hab. et plus",
]
EPCI_BANDS = [20_000, 50_000, 100_000, 250_000]
EPCI_LABELS = ["moins de 20 000 hab.", "20 000 à 49 999 hab.", "50 000 à 99 999 hab.", "100 000 à 249 999 hab.",
               "250 000 hab. et plus"]
DENSITY_BANDS = [25, 100, 500]
DENSITY_LABELS = ["très peu dense", "peu dense", "densité intermédiaire", "dense"]
EPCI_TYPES = {"CC": "communauté de communes", "CA": "communauté d'agglomération", "CU": "communauté urbaine",
              "METRO": "métropole", "MET69": "métropole"}

#: A household has at least one person: more main residences than 0.9 per inhabitant (the national
#: 99.9th percentile is 0.75) means that the commune's 2021 row holds dwellings of other communes.
MAX_MAIN_RESIDENCES_PER_INHABITANT = 0.9
#: Below this population, one household more or less moves the ratio too much to judge.
MIN_POPULATION_FOR_RATIO = 50
#: The holder of a re-created commune's dwellings must show at least this share of them in excess.
MIN_EXCESS_SHARE = 0.5
#: Indicators computed from the dwellings of 2021: left out for the flagged communes.
HOUSING_BASED = ("logements", "part_residences_secondaires")

SOURCE_POP = "communes"
SOURCE_LOG = "insee_logement"

INDICATORS = (
    Indicator("population", "Population municipale", "habitants",
              "Population municipale légale (millésime 2023, en vigueur au 1er janvier 2026) ; somme des communes "
              "aux niveaux supérieurs.", "contexte", "territoire", "Insee via geo.api.gouv.fr", "Licence Ouverte 2.0",
              sens=0, decimales=0),
    Indicator("logements", "Logements", "logements",
              "Nombre de logements au recensement 2021 (résidences principales, secondaires, occasionnelles et "
              "vacantes) ; somme des communes.", "contexte", "territoire", "Insee, recensement 2021",
              "Licence Ouverte 2.0", sens=0, decimales=0),
    Indicator("part_residences_secondaires", "Part des résidences secondaires", "%",
              "Résidences secondaires et logements occasionnels / logements × 100 (recensement 2021), recalculée à "
              "chaque niveau à partir des sommes.", "contexte", "territoire", "Insee, recensement 2021",
              "Licence Ouverte 2.0", sens=0, decimales=1),
    Indicator("densite", "Densité de population", "hab./km²",
              "Population municipale / superficie calculée sur les contours IGN en projection équivalente "
              "(EPSG:3035) ; recalculée à chaque niveau à partir des sommes.", "contexte", "territoire",
              "Insee via geo.api.gouv.fr ; IGN Admin Express", "Licence Ouverte 2.0", sens=0, decimales=1),
)


def _band(col: str, breaks: list[int], labels: list[str]) -> pl.Expr:
    """Label of the class [breaks[i-1], breaks[i]) holding the value; null stays null."""
    expr = pl.when(pl.col(col).is_null()).then(None)
    for upper, lab in zip(breaks, labels, strict=False):
        expr = expr.when(pl.col(col) < upper).then(pl.lit(lab))
    return expr.otherwise(pl.lit(labels[-1]))


def housing_flags(com: pl.DataFrame, postal: pl.DataFrame) -> pl.DataFrame:
    """Communes whose 2021 dwellings do not match their 2026 territory: `code`, `note_logements`.

    `com`: `code`, `nom`, `code_epci`, `code_departement`, `population`, `residences_principales`
    (2021, after the former codes were summed); `postal`: `code`, `code_postal`.

    - a commune with inhabitants but no dwellings, in a département the file covers, was
      re-created or created after 2021: its dwellings sit in the commune it left;
    - that commune is found among the communes of its EPCI, first those sharing a postal code:
      the one whose main residences most exceed what its population needs at the EPCI's
      households-per-inhabitant ratio, when that excess is at least half of the missing ones;
    - any commune with more than 0.9 main residence per inhabitant is flagged too.
    """
    covered = com.filter(pl.col("residences_principales").is_not_null())["code_departement"].unique()
    orphans = com.filter((pl.col("population") > 0) & pl.col("residences_principales").is_null()
                         & pl.col("code_departement").is_in(covered.implode()))
    known = com.filter(pl.col("residences_principales").is_not_null() & (pl.col("population") > 0))
    ratio = known.group_by("code_epci").agg(
        _q=pl.col("residences_principales").sum() / pl.col("population").sum())
    candidates = (
        orphans.select("code", "code_epci", _expected=pl.col("population") * 1.0)
        .join(ratio, on="code_epci", how="left")
        .with_columns(_expected=pl.col("_expected") * pl.col("_q"))
        .join(known.select(pl.col("code").alias("holder"), "code_epci", pl.col("nom").alias("holder_nom"),
                           "population", "residences_principales"), on="code_epci")
        .with_columns(excess=pl.col("residences_principales") - pl.col("population") * pl.col("_q"))
    )
    shares_postal = postal.join(postal.rename({"code": "holder"}), on="code_postal").select("code", "holder").unique()
    candidates = (
        candidates.join(shares_postal.with_columns(_same_postal=pl.lit(True)), on=["code", "holder"], how="left")
        .with_columns(pl.col("_same_postal").fill_null(False))
        .filter(pl.col("excess") >= MIN_EXCESS_SHARE * pl.col("_expected"))
        .sort(["code", "_same_postal", "excess", "holder"], descending=[False, True, True, False])
        .unique("code", keep="first", maintain_order=True)
        .select("code", "holder", "holder_nom")
    )
    names = dict(com.select("code", "nom").iter_rows())
    notes: dict[str, str] = {}
    for code in orphans["code"].to_list():
        hit = candidates.filter(pl.col("code") == code)
        where = (f"dans ceux de {hit['holder_nom'][0]} ({hit['holder'][0]})" if hit.height
                 else "dans ceux d'une commune voisine")
        notes[code] = (f"Logements 2021 inconnus : la commune a été rétablie ou créée après le recensement de 2021, "
                       f"ses logements sont comptés {where}.")
    held: dict[str, list[str]] = {}
    for code, holder in candidates.select("code", "holder").iter_rows():
        held.setdefault(holder, []).append(code)
    high = known.filter((pl.col("population") >= MIN_POPULATION_FOR_RATIO) & (
        pl.col("residences_principales") > MAX_MAIN_RESIDENCES_PER_INHABITANT * pl.col("population")))
    for code in high["code"].to_list():
        held.setdefault(code, [])
    for holder, codes in held.items():
        row = known.filter(pl.col("code") == holder).row(0, named=True)
        listed = [f"{names[c]} ({c})" for c in sorted(codes)]
        whose = ""
        if listed:
            several = len(listed) > 1
            whose = (" : ils comprennent ceux de " + (", ".join(listed[:-1]) + " et " if several else "") + listed[-1]
                     + (", communes rétablies" if several else ", commune rétablie") + " depuis")
        notes[holder] = (f"Logements 2021 surévalués{whose} ({fmt.number(row['residences_principales'])} résidences "
                         f"principales pour {fmt.number(row['population'])} habitants en 2023).")
    return pl.DataFrame({"code": list(notes), "note_logements": list(notes.values())},
                        schema={"code": pl.String, "note_logements": pl.String}).sort("code")


def _geometry_frame(contours: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray]:
    shapes = geo.from_wkb(contours["geometry"])
    x, y = geo.centres(shapes)
    return contours.select("code").with_columns(
        superficie_m2=pl.Series(np.round(geo.area_km2(shapes) * 1e6)).cast(pl.Int64),
        longitude=pl.Series(x),
        latitude=pl.Series(y),
    ), shapes


def _map_polygons(part: pl.DataFrame, level: str, parents: pl.DataFrame | None) -> pl.DataFrame:
    """A level's polygons simplified for the maps, as GeoJSON text; communes and arrondissements with their parents."""
    polygons = part.select(
        "code", geometry=pl.Series(geo.simplified_geojson(geo.from_wkb(part["geometry"]), TOLERANCE[level])))
    if parents is None:
        return polygons.sort("code")
    return (polygons.join(parents, on="code", how="left")
            .select("code_departement", "code_epci", "code_commune", "code", "geometry")
            .sort("code_departement", "code"))


class Territoires(Mart):
    name = "territoires"
    title = "Référentiel des territoires"
    sources = ("communes", "arrondissements", "epci", "departements", "regions", "contours", "insee_logement",
               "cog_passage")
    indicators = INDICATORS

    def build(self, ctx: BuildContext, parsed: dict[str, Parsed]) -> MartResult:
        communes = parsed["communes"].frame
        arrondissements = parsed["arrondissements"].frame
        epci = parsed["epci"].frame
        departements = parsed["departements"].frame
        regions = parsed["regions"].frame
        contours = parsed["contours"].tables
        rejected: Counter = Counter()
        notes: list[str] = []

        # -- housing 2021, brought to today's communes; arrondissements kept apart ----------
        passage = parsed["cog_passage"].frame
        stale = passage.filter(~pl.col("code_actuel").is_in(communes["code"].implode()))
        if stale.height:
            notes.append(f"{stale.height} anciens codes pointent vers une commune absente du COG : ignorés")
            passage = current_passage(passage, communes)
        housing_cols = ["logements", "residences_principales", "residences_secondaires", "logements_vacants"]
        housing = harmonise_communes(
            parsed["insee_logement"].frame, code_col="code", sum_cols=housing_cols, passage=passage,
            communes=communes["code"], arrondissements=arrondissements.select("code", "code_commune"),
            arrondissement_mode="separate",
        )
        rejected.update({f"logement : {k}": v for k, v in housing.rejected.items()})
        notes += [f"logement : {k} : {v}" for k, v in housing.remapped.items()]

        # -- surfaces and centres from the polygons -----------------------------------------
        com_geo, com_shapes = _geometry_frame(commune_polygons(contours["communes"]))
        arr_geo, _ = _geometry_frame(arrondissement_polygons(contours["communes"]))
        no_polygon = communes.filter(~pl.col("code").is_in(com_geo["code"].implode()))
        if no_polygon.height:
            notes.append(
                f"{no_polygon.height} communes sans contour (surface et densité inconnues) : "
                + ", ".join(f"{c} {n}" for c, n in no_polygon.select("code", "nom").iter_rows())
            )

        com = (
            communes.select("code", "nom", "code_epci", "code_departement", "code_region", "population")
            .join(housing.communes.rename({"code_commune": "code"}), on="code", how="left")
            .join(com_geo, on="code", how="left")
        )
        arr = (
            arrondissements.select("code", "nom", "code_commune", "code_departement", "code_region", "population")
            .join(communes.select(pl.col("code").alias("code_commune"), "code_epci"), on="code_commune", how="left")
            .join(housing.arrondissements.rename({"code_arrondissement": "code"}), on="code", how="left")
            .join(arr_geo, on="code", how="left")
        )

        # -- sums up the levels -------------------------------------------------------------
        # the density's numerator: the population of the communes whose surface is known
        with_area = pl.when(pl.col("superficie_m2").is_not_null()).then(pl.col("population")).alias("_pop_surface")
        com, arr = com.with_columns(with_area), arr.with_columns(with_area)
        sums = roll_up(
            com.select("code", *SUMS, "_pop_surface").rename({"code": "code_commune"}), com, [*SUMS, "_pop_surface"],
            arrondissements=arr.select(pl.col("code").alias("code_arrondissement"), *SUMS, "_pop_surface"),
        )
        postal_codes = communes.select("code", "codes_postaux").explode("codes_postaux").rename(
            {"codes_postaux": "code_postal"}).drop_nulls("code_postal")
        # island communes: from the polygons, before they are simplified (etl/comparables.py)
        dep_of = dict(communes.select("code", "code_departement").iter_rows())
        islands = comparables.island_communes(com_geo["code"].to_list(), [dep_of.get(c) for c in com_geo["code"]],
                                              com_shapes)
        flags = housing_flags(com.select("code", "nom", "code_epci", "code_departement", "population",
                                         "residences_principales"), postal_codes)
        if flags.height:
            notes.append(f"{flags.height} communes aux logements 2021 non fiables dans la géographie 2026 : "
                         + ", ".join(flags["code"].to_list()))

        # -- identity and parents per level -------------------------------------------------
        main_dep = (  # EPCI spanning several départements: the one holding most of its population
            com.filter(pl.col("code_epci").is_not_null())
            .group_by("code_epci", "code_departement", "code_region")
            .agg(pl.col("population").sum())
            .sort("population", "code_departement", descending=[True, False])
            .unique("code_epci", keep="first")
            .select(pl.col("code_epci").alias("code"), "code_departement", "code_region")
        )
        epci_id = epci.select(
            "code", "nom", "codes_departements",
            pl.col("type").replace_strict(EPCI_TYPES, default=None).alias("type_epci"),
        ).join(main_dep, on="code", how="left")
        identity = pl.concat(
            [
                com.select(pl.lit("commune").alias("niveau"), "code", "nom", pl.lit(None, pl.String).alias("code_commune"),
                           "code_epci", "code_departement", "code_region", "longitude", "latitude"),
                arr.select(pl.lit("arrondissement").alias("niveau"), "code", "nom", "code_commune", "code_epci",
                           "code_departement", "code_region", "longitude", "latitude"),
                epci_id.select(pl.lit("epci").alias("niveau"), "code", "nom", pl.lit(None, pl.String).alias("code_commune"),
                               pl.lit(None, pl.String).alias("code_epci"), "code_departement", "code_region",
                               "type_epci", "codes_departements"),
                departements.select(pl.lit("departement").alias("niveau"), "code", "nom", "code_region"),
                regions.select(pl.lit("region").alias("niveau"), "code", "nom"),
                pl.DataFrame({"niveau": ["france"], "code": [FRANCE_CODE], "nom": ["France"]}),
            ],
            how="diagonal_relaxed",
        )
        # centres of the upper levels: centroids of their own polygons
        upper_centres = []
        for level, key in (("epci", "epci"), ("departement", "departements"), ("region", "regions")):
            g, _ = _geometry_frame(contours[key])
            upper_centres.append(g.select(pl.lit(level).alias("niveau"), "code", pl.col("longitude").alias("_lon"),
                                          pl.col("latitude").alias("_lat")))
        metro = contours["regions"].filter(pl.col("code") >= "11")
        france_shape = geo.from_wkb(metro["geometry"])
        fx, fy = geo.centres(np.array([shapely.union_all(france_shape)]))
        upper_centres.append(pl.DataFrame({"niveau": ["france"], "code": [FRANCE_CODE], "_lon": fx, "_lat": fy}))
        identity = identity.join(pl.concat(upper_centres), on=["niveau", "code"], how="left").with_columns(
            longitude=pl.coalesce("longitude", "_lon"), latitude=pl.coalesce("latitude", "_lat")
        ).drop("_lon", "_lat")

        territoires = (
            identity.join(sums, on=["niveau", "code"], how="left")
            .with_columns(
                pl.col("population").cast(pl.Int64),
                *[pl.col(c).round(0).cast(pl.Int64) for c in housing_cols],
                superficie_km2=pl.col("superficie_m2") / 1e6,
            )
            .with_columns(
                densite_hab_km2=ratio("_pop_surface", "superficie_km2"),
                part_residences_secondaires=ratio("residences_secondaires", "logements", 100),
            )
            .with_columns(
                tranche_population=pl.when(pl.col("niveau").is_in(["commune", "arrondissement"]))
                .then(_band("population", POPULATION_BANDS, POPULATION_LABELS))
                .when(pl.col("niveau") == "epci")
                .then(_band("population", EPCI_BANDS, EPCI_LABELS)),
                classe_densite=pl.when(pl.col("niveau").is_in(["commune", "arrondissement"]))
                .then(_band("densite_hab_km2", DENSITY_BANDS, DENSITY_LABELS)),
            )
            .drop("_pop_surface")
            .join(flags.with_columns(niveau=pl.lit("commune")), on=["niveau", "code"], how="left")
            .with_columns(insulaire=pl.when(pl.col("niveau") == "commune").then(pl.col("code").is_in(sorted(islands))))
        )
        level_order = {lv: i for i, lv in enumerate(["france", "region", "departement", "epci", "commune", "arrondissement"])}
        territoires = territoires.with_columns(
            _o=pl.col("niveau").replace_strict(level_order, return_dtype=pl.Int8)
        ).sort("_o", "code").drop("_o")
        territoires = territoires.select(
            "niveau", "code", "nom", "code_commune", "code_epci", "code_departement", "code_region",
            "codes_departements", "type_epci", "population", "logements", "residences_principales",
            "residences_secondaires", "logements_vacants", "part_residences_secondaires", "superficie_km2",
            "densite_hab_km2", "longitude", "latitude", "tranche_population", "classe_densite", "note_logements",
            "insulaire",
        )
        notes.append(f"{len(islands)} communes des îles (comparées entre elles) : " + ", ".join(sorted(islands)))

        # -- postal codes (search) ------------------------------------------------------------
        postal = pl.concat([
            communes.select(pl.lit("commune").alias("niveau"), "code", "codes_postaux"),
            arrondissements.select(pl.lit("arrondissement").alias("niveau"), "code", "codes_postaux"),
        ]).explode("codes_postaux").rename({"codes_postaux": "code_postal"}).drop_nulls("code_postal").unique().sort(
            "code_postal", "niveau", "code")

        # -- simplified polygons for the maps -------------------------------------------------
        parents = territoires.filter(pl.col("niveau").is_in(["commune", "arrondissement"])).select(
            "code", "code_commune", "code_epci", "code_departement")
        del com_shapes  # the islands are known: the commune shapes are not needed again
        tables: dict[str, Table] = {
            "territoires.parquet": territoires,
            "comparables.parquet": comparables.peer_table(territoires, islands),
            "codes_postaux.parquet": postal,
        }
        # the map polygons are deferred (`Table`): the runner simplifies, writes and lets go of one level's
        # GeoJSON before the next (the five together held about 140 MB more at the build's peak)
        for level, select in (("communes", commune_polygons), ("arrondissements", arrondissement_polygons)):
            tables[f"geo/{level}.parquet"] = partial(_map_polygons, select(contours["communes"]), level, parents)
        for level in ("epci", "departements", "regions"):
            tables[f"geo/{level}.parquet"] = partial(_map_polygons, contours[level], level, None)

        # -- indicators -----------------------------------------------------------------------
        wide = territoires.select(
            "niveau", "code", "population", "logements", "part_residences_secondaires", "densite_hab_km2",
            "note_logements",
        ).with_columns(  # the flagged communes' housing figures are unknown, not wrong
            [pl.when(pl.col("note_logements").is_null()).then(pl.col(c)).alias(c) for c in HOUSING_BASED]
        ).drop("note_logements")
        indicateurs = pl.concat([
            long_rows(wide, {"population": "population", "densite_hab_km2": "densite"}, periode="2023",
                      nature="reel", source=SOURCE_POP),
            long_rows(wide, {"logements": "logements", "part_residences_secondaires": "part_residences_secondaires"},
                      periode="2021", nature="reel", source=SOURCE_LOG),
        ])
        return MartResult(tables=tables, indicateurs=indicateurs, rejected=rejected, notes=notes)


MART = Territoires()
