"""Everyday carpooling from the registry's journeys (RPC): monthly figures per territory.

Reads the compact months written by the `rpc` source (one folder per monthly file, see
`etl/covoiturage.py`), one after the other, and writes:

- `covoiturage/mensuel.parquet`: per level, territory and month, the sums (journeys with origin
  or destination in the territory, internal journeys, passengers, cars, passenger and driver km,
  journeys with an incentive) and the `nature` of the month (`simule` in mirror mode);
- `covoiturage/heures.parquet`, `covoiturage/distances.parquet`: journeys by departure hour and
  by distance class, per month for EPCI, départements, régions and France, per year for
  communes and arrondissements (the monthly detail of 35,000 communes would weigh more than
  everything else);
- `covoiturage/flux.parquet`: origin-destination pairs of communes and of EPCI per month with
  at least 10 passengers (`--seuil-flux`), `covoiturage/etranger.parquet`: where the foreign
  ends of flows are drawn;
- indicator rows: `covoit_trajets`, `covoit_trajets_pour_1000_hab`, `covoit_part_interne`,
  `covoit_taux_occupation`, `covoit_part_incitation`, `covoit_co2_evite`, for the year (every
  level) and for each month (every level but communes and arrondissements, whose months are in
  `mensuel.parquet`: one row per commune, month and indicator would be 1.6 million rows).

A territory without any journey has no row ("pas de donnée"), never a 0.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from etl import covoiturage as cv
from etl.indicators import Indicator, long_rows
from etl.levels import ratio
from etl.marts.base import BuildContext, Mart, MartResult, Table
from etl.sources.base import Parsed

SOURCE = "rpc"
LICENCE = "Licence Ouverte 2.0"
RPC = "Registre de preuve de covoiturage (opérateurs partenaires, environ 15 % du covoiturage du quotidien)"
SIMULATED = " Tant qu'aucun fichier mensuel n'est joignable, les mois sont simulés (nature « simule », voir etl/simulate_rpc.py)."
#: Levels whose monthly values also go to `indicateurs` (communes' months stay in mensuel.parquet).
MONTHLY_INDICATOR_LEVELS = ("epci", "departement", "region", "france")

INDICATORS = (
    Indicator("covoit_trajets", "Trajets de covoiturage", "trajets",
              "Trajets (un passager et son conducteur) partant du territoire ou y arrivant ; un trajet interne au "
              "territoire compte une fois. Par mois et par an. Le total réel 2024 par EPCI vient du tableau de bord "
              "des mobilités durables (source mobilites_durables)." + SIMULATED,
              "collaboratif", "covoiturage", RPC + " ; tableau de bord des mobilités durables", LICENCE, sens=1,
              decimales=0),
    Indicator("covoit_trajets_pour_1000_hab", "Trajets de covoiturage pour 1 000 habitants", "trajets pour 1 000 hab.",
              "Trajets de covoiturage (partant du territoire ou y arrivant) / population municipale × 1 000, "
              "recalculé à chaque niveau." + SIMULATED, "collaboratif", "covoiturage",
              RPC + " ; Insee", LICENCE, sens=1, decimales=1),
    Indicator("covoit_part_interne", "Part des trajets internes", "%",
              "Trajets dont le départ et l'arrivée sont dans le territoire / trajets partant du territoire ou y "
              "arrivant × 100 (un trajet entre deux communes d'un EPCI est interne à l'EPCI)." + SIMULATED,
              "collaboratif", "covoiturage", RPC, LICENCE, sens=0, decimales=1),
    Indicator("covoit_taux_occupation", "Taux d'occupation des véhicules", "personnes par véhicule",
              "Définition de l'observatoire national du covoiturage : (km parcourus par les passagers + km parcourus "
              "par les conducteurs) / km parcourus par les conducteurs ; le trajet d'un conducteur est le plus long "
              "de ses passagers." + SIMULATED, "collaboratif", "covoiturage", RPC, LICENCE, sens=1, decimales=2),
    Indicator("covoit_part_incitation", "Part des trajets avec incitation financière", "%",
              "Trajets avec incitation (has_incentive = OUI) / trajets × 100." + SIMULATED, "collaboratif",
              "covoiturage", RPC, LICENCE, sens=0, decimales=1),
    Indicator("covoit_co2_evite", "CO2 évité par le covoiturage", "t CO2",
              "Km parcourus par les passagers (chacun est un km de voiture évité) × 195 g de CO2 par km (ADEME, comme "
              "l'observatoire national du covoiturage), en tonnes." + SIMULATED, "collaboratif", "covoiturage",
              RPC + " ; ADEME", LICENCE, sens=1, decimales=1),
)
COLUMNS = {
    "trajets": "covoit_trajets",
    "trajets_pour_1000_hab": "covoit_trajets_pour_1000_hab",
    "part_interne": "covoit_part_interne",
    "taux_occupation": "covoit_taux_occupation",
    "part_incitation": "covoit_part_incitation",
    "co2_evite_t": "covoit_co2_evite",
}


def with_rates(df: pl.DataFrame, population: pl.DataFrame) -> pl.DataFrame:
    """Add the rates to summed rows (`niveau`, `code`, sums): population joined for the per-1,000."""
    return df.join(population, on=["niveau", "code"], how="left").with_columns(
        *cv.rates(), ratio("trajets", "population", 1000).alias("trajets_pour_1000_hab")
    )


def published_monthly(mensuel: pl.DataFrame, territoires: pl.DataFrame, nature: str) -> pl.DataFrame:
    """The published monthly table from the summed months: known territories, whole numbers, `nature`."""
    known = territoires.select("niveau", "code")
    # the aggregates come sorted by level, territory and month (`aggregate_files`): kept in that
    # order; rows of a territory the reference lacks are dropped (a filter, not a join: no copy
    # of the 600,000 rows of 24 months when every territory is known, as it is)
    level_codes = {lv: block["code"] for (lv,), block in known.partition_by("niveau", as_dict=True).items()}
    is_known = pl.lit(False)
    for level, codes in level_codes.items():
        is_known = is_known | ((pl.col("niveau") == level) & pl.col("code").is_in(codes.implode()))
    if not mensuel.select(is_known.all()).item():
        mensuel = mensuel.filter(is_known)
    return (
        # whole numbers (km rounded to the km): what pages need, and a third lighter than floats
        mensuel.with_columns(pl.col(c).cast(pl.Float64).round(0).cast(pl.Int32) for c in cv.SUMS)
        .with_columns(nature=pl.lit(nature))
    )


def indicator_rows(mensuel: pl.DataFrame, territoires: pl.DataFrame, months: list[str], nature: str) -> pl.DataFrame:
    """The mart's indicator rows from the published monthly table: complete years, and months above communes."""
    population = territoires.select("niveau", "code", pl.col("population").cast(pl.Float64))
    sums = list(cv.SUMS)
    # a year's figures only for a complete calendar year (a few months would read as a low year)
    years = cv.complete_years(months)
    yearly = mensuel.filter(pl.col("mois").str.slice(0, 4).is_in(years)).group_by(
        "niveau", "code", pl.col("mois").str.slice(0, 4).alias("annee")).agg([pl.col(c).cast(pl.Int64).sum() for c in sums])
    rows = [long_rows(with_rates(yearly, population), COLUMNS, periode=pl.col("annee"), nature=nature, source=SOURCE)]
    monthly = mensuel.filter(pl.col("niveau").is_in(MONTHLY_INDICATOR_LEVELS))
    rows.append(long_rows(with_rates(monthly, population), COLUMNS, periode=pl.col("mois"), nature=nature,
                          source=SOURCE))
    return pl.concat(rows)


def build_tables(agg: cv.Aggregates, territoires: pl.DataFrame, nature: str) -> tuple[dict[str, Table], Table]:
    """The mart's tables and its indicator rows, each as a function computing it from the months' sums
    (also used by the benchmark).

    The runner calls them one after the other, writing and letting go of each table before the
    next: memory holds one table, not the six (130 MB at 24 months). The indicator rows combine
    the monthly sums again rather than keep the monthly table while the others are written.
    """
    def mensuel() -> pl.DataFrame:
        return published_monthly(agg.mensuel, territoires, nature)

    def indicateurs() -> pl.DataFrame:
        return indicator_rows(mensuel(), territoires, agg.months, nature)

    tables: dict[str, Table] = {
        "covoiturage/mensuel.parquet": mensuel,
        "covoiturage/heures.parquet": lambda: agg.heures.with_columns(pl.col("trajets").cast(pl.Int32)),
        "covoiturage/distances.parquet": lambda: agg.distances.with_columns(pl.col("trajets").cast(pl.Int32)),
        "covoiturage/flux.parquet": lambda: agg.flux.with_columns(pl.col("trajets").cast(pl.Int32),
                                                                  pl.col("passagers").cast(pl.Int32)),
        "covoiturage/etranger.parquet": lambda: agg.etranger.with_columns(pl.col("longitude").round(4),
                                                                          pl.col("latitude").round(4)),
    }
    return tables, indicateurs


class Covoiturage(Mart):
    name = "covoiturage"
    title = "Covoiturage du quotidien : trajets du registre par territoire et par mois"
    sources = ("rpc", "cog_passage")
    requires = ("territoires",)
    indicators = INDICATORS

    def build(self, ctx: BuildContext, parsed: dict[str, Parsed]) -> MartResult:
        rpc = parsed["rpc"]
        territoires = ctx.read("territoires.parquet")
        codes = cv.code_table(territoires, parsed["cog_passage"].frame)
        threshold = int(ctx.options.get("seuil_flux") or cv.FLOW_THRESHOLD)
        folders = [Path(p) for p in rpc.frame["intermediaire"].to_list()]
        agg = cv.aggregate_files(folders, codes, threshold=threshold)
        nature = rpc.nature or "reel"
        tables, indicateurs = build_tables(agg, territoires, nature)
        notes = [f"{len(agg.months)} mois agrégés ({', '.join(agg.months)}), nature {nature}",
                 f"flux : paires d'au moins {threshold} passagers dans le mois, trajets de moins de {cv.FLOW_MAX_KM} km"]
        return MartResult(tables=tables, indicateurs=indicateurs, rejected=agg.rejected, notes=notes)


MART = Covoiturage()
