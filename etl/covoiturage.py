"""Aggregation of the registry's journeys per territory and month, one month at a time.

Input: the typed Parquet file of each month written by the `rpc` source (one row per
passenger-driver journey). Output, per level (commune, arrondissement, EPCI, département,
région, France) and month:

- `trajets`: journeys with their origin or their destination in the territory (a journey
  internal to the territory counts once); `trajets_internes`: both ends in it (a journey
  between two communes of one EPCI is internal to that EPCI, not to either commune);
- `passagers` (sum of `passenger_seats`), `vehicules` (distinct `trip_id`), `km_passagers`
  (seats × distance), `km_conducteurs` (per car, its longest journey: the distance the car
  drove), `trajets_incites` (journeys with an incentive);
- distributions of journeys by departure hour and by distance class;
- origin-destination flows between communes and between EPCI (pairs below a threshold of
  passengers in the month are not kept, as the observatory does; journeys of 80 km and more
  are left out of flows, as the observatory does).

Rates (occupancy, shares, CO2) are computed from these sums by the mart, at each level.
Months are read one after the other and only their aggregates are kept, so memory does not
grow with the number of months (see `benchmarks/bench_covoiturage.py`). Arrondissements of
Paris, Lyon and Marseille get their own rows when the files carry their codes; former commune
codes are brought to today's commune (`cog_passage`); a code known nowhere is rejected and
counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from etl.levels import FRANCE_CODE
from etl.sources.rpc import FOREIGN_RE

LEVELS = ("commune", "arrondissement", "epci", "departement", "region", "france")
#: Levels whose hour and distance distributions are kept per month (communes and
#: arrondissements: per year, to keep the embedded data small).
MONTHLY_DISTRIBUTION_LEVELS = ("epci", "departement", "region", "france")
FLOW_LEVELS = ("commune", "epci")
DISTANCE_LABELS = ("0-10 km", "10-20 km", "20-30 km", "30-40 km", "40-50 km", "50 km et plus")
FLOW_MAX_KM = 80
FLOW_THRESHOLD = 10
SUMS = ("trajets", "trajets_internes", "passagers", "vehicules", "km_passagers", "km_conducteurs", "trajets_incites")
FOREIGN_PREFIX = "etranger:"
CODE_COLUMNS = ("commune", "arrondissement", "epci", "departement", "region")


def code_table(territoires: pl.DataFrame, passage: pl.DataFrame) -> pl.DataFrame:
    """Every commune code a file may carry -> today's commune, arrondissement, EPCI, département, région.

    Current communes, arrondissements municipaux (which also give their city) and former
    codes (brought to the commune that holds them today).
    """
    t = territoires
    communes = t.filter(pl.col("niveau") == "commune").select(
        pl.col("code").alias("insee"), pl.col("code").alias("commune"), pl.lit(None, pl.String).alias("arrondissement"),
        pl.col("code_epci").alias("epci"), pl.col("code_departement").alias("departement"),
        pl.col("code_region").alias("region"),
    )
    arrondissements = t.filter(pl.col("niveau") == "arrondissement").select(
        pl.col("code").alias("insee"), pl.col("code_commune").alias("commune"), pl.col("code").alias("arrondissement"),
        pl.col("code_epci").alias("epci"), pl.col("code_departement").alias("departement"),
        pl.col("code_region").alias("region"),
    )
    former = (
        passage.filter(~pl.col("code_ancien").is_in(communes["insee"].implode()))
        .join(communes.drop("insee").rename({"commune": "code_actuel"}), on="code_actuel", how="inner")
        .select(pl.col("code_ancien").alias("insee"), pl.col("code_actuel").alias("commune"), "arrondissement", "epci",
                "departement", "region")
    )
    out = pl.concat([communes, arrondissements, former]).unique("insee", keep="first").sort("insee")
    # categorical codes: joins and group-bys on 32-bit keys instead of strings
    return out.with_columns([pl.col(c).cast(pl.Categorical) for c in CODE_COLUMNS])


@dataclass
class Aggregates:
    """Everything the mart needs from the journeys, summed over the months read."""

    mensuel: pl.DataFrame
    heures: pl.DataFrame
    distances: pl.DataFrame
    flux: pl.DataFrame
    etranger: pl.DataFrame
    rows: int = 0
    rejected: Counter = field(default_factory=Counter)
    months: list[str] = field(default_factory=list)


def _ends(df: pl.DataFrame, codes: pl.DataFrame) -> tuple[pl.DataFrame, Counter]:
    """Attach each end's territories; reject rows with a code known nowhere."""
    out = df
    for end in ("depart", "arrivee"):
        renamed = codes.rename({c: f"{c}_{end}" for c in CODE_COLUMNS}).rename({"insee": f"insee_{end}"})
        out = out.join(renamed, on=f"insee_{end}", how="left")
        foreign = pl.col(f"insee_{end}").str.contains(FOREIGN_RE)
        out = out.with_columns(
            foreign.alias(f"etranger_{end}"),
            pl.when(~foreign).then(pl.lit(FRANCE_CODE)).cast(pl.Categorical).alias(f"france_{end}"),
        )
    unknown = (pl.col("commune_depart").is_null() & ~pl.col("etranger_depart")) | (
        pl.col("commune_arrivee").is_null() & ~pl.col("etranger_arrivee"))
    both_foreign = pl.col("etranger_depart") & pl.col("etranger_arrivee")
    rejected = Counter()
    n_unknown = out.filter(unknown).height
    if n_unknown:
        rejected["code commune inconnu du COG 2026 (ni actuel, ni ancien, ni arrondissement)"] = n_unknown
    n_foreign = out.filter(~unknown & both_foreign).height
    if n_foreign:
        rejected["départ et arrivée à l'étranger"] = n_foreign
    return out.filter(~unknown & ~both_foreign), rejected


def _prepare(month: pl.LazyFrame, codes: pl.DataFrame) -> tuple[pl.DataFrame, Counter]:
    """The month's valid rows, only the columns used, with the territories of both ends."""
    valid = month.filter(pl.col("motif_rejet").is_null()).select(
        "trip_id", "mois", "heure", "insee_depart", "insee_arrivee", "pays_depart", "pays_arrivee", "lon_depart",
        "lat_depart", "lon_arrivee", "lat_arrivee", "passagers", "distance_m", "incitation",
    ).collect()
    valid, rejected = _ends(valid, codes)
    valid = valid.with_columns(
        # a car: its trip_id, as a 64-bit hash (odds of two ids colliding in a month: about 1e-8)
        pl.col("trip_id").hash(seed=0).alias("vehicule"),
        # distance classes of 10 km, the last one "50 km and more"
        (pl.col("distance_m") // 10_000).clip(0, len(DISTANCE_LABELS) - 1).cast(pl.Int8).alias("classe_distance"),
        (pl.col("passagers").cast(pl.Int64) * pl.col("distance_m")).alias("_pm"),
        pl.col("distance_m").cast(pl.Int64),
    ).with_columns(pl.col("vehicule").is_unique().alias("_seul"))
    return valid, rejected


_CAR_SUMS = [pl.len().alias("trajets"), pl.col("interne").sum().alias("trajets_internes"),
             pl.col("passagers").sum().cast(pl.Int64).alias("passagers"), pl.col("_pm").sum().alias("_pm"),
             pl.col("incitation").sum().alias("trajets_incites")]


def _level_queries(base: pl.LazyFrame, level: str) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    """Per territory of `level`: sums, hours, distance classes (journeys with origin or destination in it).

    Distinct cars are counted in two parts: cars with a single journey in the month (most of
    them: a plain sum), and the others, grouped by car first (a car with several passengers
    counts once per territory, its driver's distance is its longest journey there).
    """
    o, d = pl.col(f"{level}_depart"), pl.col(f"{level}_arrivee")
    keep = ["mois", "vehicule", "_seul", "passagers", "distance_m", "_pm", "incitation", "heure", "classe_distance"]
    stacked = pl.concat([
        base.filter(o.is_not_null()).select(o.alias("code"), (o == d).fill_null(False).alias("interne"), *keep),
        base.filter(d.is_not_null() & (o.is_null() | (o != d))).select(d.alias("code"), pl.lit(False).alias("interne"),
                                                                        *keep),
    ])
    single = stacked.filter(pl.col("_seul")).group_by("code", "mois").agg(
        *_CAR_SUMS, pl.len().alias("vehicules"), pl.col("distance_m").sum().alias("_dm"))
    multi = (
        stacked.filter(~pl.col("_seul")).group_by("code", "mois", "vehicule")
        .agg(*_CAR_SUMS, pl.col("distance_m").max().alias("_dm"))
        .group_by("code", "mois")
        .agg(*[pl.col(c).sum() for c in ("trajets", "trajets_internes", "passagers", "_pm", "trajets_incites", "_dm")],
             pl.len().alias("vehicules"))
    )
    sums = (
        pl.concat([single, multi], how="diagonal_relaxed").group_by("code", "mois").agg(pl.all().sum())
        .with_columns((pl.col("_pm") / 1000).alias("km_passagers"), (pl.col("_dm") / 1000).alias("km_conducteurs"))
        .drop("_pm", "_dm")
    )
    both = stacked.group_by("code", "mois", "heure", "classe_distance").agg(pl.len().alias("trajets"))
    hours = both.group_by("code", "mois", "heure").agg(pl.col("trajets").sum())
    classes = both.group_by("code", "mois", "classe_distance").agg(pl.col("trajets").sum())
    sums, hours, classes = (q.with_columns(pl.col("code").cast(pl.String), pl.lit(level).alias("niveau"))
                            for q in (sums, hours, classes))
    return sums, hours, classes


def _flow_query(base: pl.LazyFrame, level: str) -> pl.LazyFrame:
    """Unordered pairs (code_1 <= code_2) of `level`, foreign ends keyed by country."""
    def end(side: str) -> pl.Expr:
        foreign = pl.concat_str([pl.lit(FOREIGN_PREFIX), pl.col(f"pays_{side}").fill_null("inconnu")])
        return pl.when(pl.col(f"etranger_{side}")).then(foreign).otherwise(pl.col(f"{level}_{side}").cast(pl.String))

    a, b = end("depart"), end("arrivee")
    return (
        base.filter(pl.col("distance_m") < FLOW_MAX_KM * 1000)
        .select("mois", pl.min_horizontal(a, b).alias("code_1"), pl.max_horizontal(a, b).alias("code_2"), "passagers")
        .drop_nulls(["code_1", "code_2"])
        .group_by("mois", "code_1", "code_2")
        .agg(pl.len().alias("trajets"), pl.col("passagers").sum().alias("passagers"))
        .with_columns(pl.lit(level).alias("niveau"))
    )


def _foreign_points(base: pl.LazyFrame) -> pl.LazyFrame:
    """Sum of coordinates of foreign ends per country (for their place on the flow map)."""
    parts = []
    for side in ("depart", "arrivee"):
        parts.append(base.filter(pl.col(f"etranger_{side}")).select(
            pl.concat_str([pl.lit(FOREIGN_PREFIX), pl.col(f"pays_{side}").fill_null("inconnu")]).alias("code"),
            pl.col(f"pays_{side}").fill_null("inconnu").alias("nom"),
            # in 1e-5 degrees as integers: sums that do not depend on the order of addition
            *[(pl.col(f"{c}_{side}").cast(pl.Float64) * 1e5).round(0).cast(pl.Int64).alias(c) for c in ("lon", "lat")]))
    return pl.concat(parts).drop_nulls(["lon", "lat"]).group_by("code", "nom").agg(
        pl.col("lon").sum(), pl.col("lat").sum(), pl.len().alias("n"))


def aggregate_month(month: pl.LazyFrame, codes: pl.DataFrame) -> tuple[dict[str, pl.DataFrame], Counter]:
    """All aggregates of one month's rows (unfiltered flows, per-month distributions)."""
    valid, rejected = _prepare(month, codes)
    base = valid.lazy()
    queries: dict[str, pl.LazyFrame] = {}
    for level in LEVELS:
        s, h, c = _level_queries(base, level)
        queries[f"mensuel:{level}"] = s
        queries[f"heures:{level}"] = h
        queries[f"distances:{level}"] = c
    for level in FLOW_LEVELS:
        queries[f"flux:{level}"] = _flow_query(base, level)
    queries["etranger"] = _foreign_points(base)
    frames = dict(zip(queries, pl.collect_all(list(queries.values())), strict=True))
    return frames, rejected


def aggregate_files(paths: Iterable[Path], codes: pl.DataFrame, *, threshold: int = FLOW_THRESHOLD) -> Aggregates:
    """Aggregate the typed monthly files one after the other (memory bounded by one month)."""
    mensuel, heures, distances, flux, foreign = [], [], [], [], []
    yearly_h = yearly_c = None
    rows, rejected, months = 0, Counter(), set()
    for path in paths:
        month = pl.scan_parquet(path)
        rows += month.select(pl.len()).collect().item()
        frames, rej = aggregate_month(month, codes)
        rejected.update(rej)
        months.update(frames["mensuel:france"]["mois"].to_list())
        mensuel += [frames[f"mensuel:{lv}"] for lv in LEVELS]
        heures += [frames[f"heures:{lv}"] for lv in MONTHLY_DISTRIBUTION_LEVELS]
        distances += [frames[f"distances:{lv}"] for lv in MONTHLY_DISTRIBUTION_LEVELS]
        # communes and arrondissements: summed over the months as they come (bounded memory)
        local_h = pl.concat([frames[f"heures:{lv}"] for lv in ("commune", "arrondissement")])
        local_c = pl.concat([frames[f"distances:{lv}"] for lv in ("commune", "arrondissement")])
        yearly_h = _running_sum(yearly_h, local_h, ["niveau", "code", "heure"])
        yearly_c = _running_sum(yearly_c, local_c, ["niveau", "code", "classe_distance"])
        flux += [frames[f"flux:{lv}"].filter(pl.col("passagers") >= threshold) for lv in FLOW_LEVELS]
        foreign.append(frames["etranger"])
    if not mensuel:
        raise ValueError("aucun mois à agréger")
    keys = ["niveau", "code", "mois"]
    out_m = pl.concat(mensuel).group_by(keys).agg([pl.col(c).sum() for c in SUMS])
    year = year_label(sorted(months))
    dist_keys = ["niveau", "code", "periode"]
    out_h = pl.concat([pl.concat(heures).rename({"mois": "periode"}), yearly_h.with_columns(periode=pl.lit(year))],
                      how="diagonal_relaxed").group_by(dist_keys + ["heure"]).agg(pl.col("trajets").sum())
    out_c = pl.concat([pl.concat(distances).rename({"mois": "periode"}), yearly_c.with_columns(periode=pl.lit(year))],
                      how="diagonal_relaxed").group_by(dist_keys + ["classe_distance"]).agg(pl.col("trajets").sum())
    out_c = out_c.with_columns(pl.col("classe_distance").replace_strict(dict(enumerate(DISTANCE_LABELS)),
                                                                        return_dtype=pl.String))
    out_f = pl.concat(flux).group_by("niveau", "mois", "code_1", "code_2").agg(pl.col("trajets").sum(),
                                                                                pl.col("passagers").sum())
    pts = pl.concat(foreign).group_by("code", "nom").agg(pl.col("lon").sum(), pl.col("lat").sum(), pl.col("n").sum())
    pts = pts.select("code", "nom", (pl.col("lon") / pl.col("n") / 1e5).alias("longitude"),
                     (pl.col("lat") / pl.col("n") / 1e5).alias("latitude"))
    return Aggregates(
        mensuel=out_m.sort(keys), heures=out_h.sort(dist_keys + ["heure"]),
        distances=out_c.sort(dist_keys + ["classe_distance"]),
        flux=out_f.sort("niveau", "mois", "code_1", "code_2"), etranger=pts.sort("code"), rows=rows,
        rejected=rejected, months=sorted(months),
    )


def _running_sum(acc: pl.DataFrame | None, new: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    new = new.drop("mois")
    if acc is None:
        return new.group_by(keys).agg(pl.col("trajets").sum())
    return pl.concat([acc, new], how="diagonal_relaxed").group_by(keys).agg(pl.col("trajets").sum())


def year_label(months: list[str]) -> str:
    """The period of the yearly distributions of communes: "2024", or "2024-2025" across years."""
    years = sorted({m[:4] for m in months})
    return years[0] if len(years) == 1 else f"{years[0]}-{years[-1]}"


# -- rates, from the sums (the same formulas for the mart and the pages) ------------------------
CO2_G_PER_KM = 195  # ADEME, per vehicle-km avoided, as the observatory


def rates() -> list[pl.Expr]:
    """Occupancy, internal share, incentive share and CO2 avoided, from the summed columns.

    - occupancy (observatory): (passenger km + driver km) / driver km, in people per car;
    - CO2 avoided: each passenger km is a car km avoided, × 195 g (ADEME), in tonnes.
    """
    def ratio(num: str, den: str, scale: float = 1.0) -> pl.Expr:
        return pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den) * scale)

    return [
        ratio("trajets_internes", "trajets", 100).alias("part_interne"),
        pl.when(pl.col("km_conducteurs") > 0)
        .then((pl.col("km_passagers") + pl.col("km_conducteurs")) / pl.col("km_conducteurs")).alias("taux_occupation"),
        ratio("trajets_incites", "trajets", 100).alias("part_incitation"),
        (pl.col("km_passagers") * CO2_G_PER_KM / 1e6).alias("co2_evite_t"),
    ]
