"""Simulator of the registry's monthly trip files (RPC), for when no real file can be reached.

No monthly RPC file is mirrored, so the embedded data, the tests and the benchmark run on
files written by this module in the exact RPC format (27 columns, `;`, the quoting of the
real files), which then go through the *real* parser (`etl/sources/rpc.py`) and the *real*
aggregation (`etl/covoiturage.py`). Everything computed from them is labelled
`nature = simule`. Deterministic: the same inputs, seed and scale give the same files.

    python -m etl simulate-rpc --months 2024-01..2024-12 --out /tmp/rpc

Assumptions (what is modelled, and what is not):

- **Calibration.** For each EPCI, the simulated number of journeys (rows) *with their origin
  or their destination in the EPCI* over the year (a journey internal to the EPCI counts
  once) equals the real 2024 total of the ministry's "mobilités durables" export
  (`mobilites_durables`), exactly (the tolerance asked for was 1 %). This is the definition of
  the indicator `covoit_trajets` computed by the aggregation, so the simulated and the real
  yearly figures of an EPCI are the same number. The publisher does not document its counting
  rule (the national observatory adds origins and destinations, counting an internal journey
  twice): another rule would change the simulated volumes, not the method. EPCI whose real
  total is 0, overseas EPCI (absent from the export) and communes outside any EPCI get no
  trip. Months other than those of 2024 reuse the 2024 totals.
- **Where trips go: a gravity model between real communes.** Every commune of a metropolitan
  EPCI (Paris, Lyon and Marseille through their arrondissements, as in the real files) is a
  node placed at its polygon's centre, weighted by its population; a few foreign cities near
  the border (Geneva, Basel, Luxembourg, Saarbrücken, Monaco…) are nodes too. The expected
  flow between two nodes is `a_o × a_d × P_o × P_d × exp(-d / 25 km)` for every pair closer than
  58 km as the crow flies (so that road distances stay under the observatory's 80 km), keeping
  for each origin its 120 most attracted destinations and itself (journeys inside a commune).
  The factors `a` of each EPCI are fitted (iterative proportional fitting) until every EPCI's
  expected count equals its real total; the flows are then drawn as whole numbers (seeded
  random rounding) and corrected with journeys inside the EPCI until each count is exact.
- **Months.** The year is split into months by a seasonal profile (fewer trips in August and
  at Christmas, the registry's usual shape); days of a month are weighted weekdays 1,
  Saturday 0.3, Sunday 0.15.
- **Hours, distances, durations** are shaped like the observatory's published figures: two
  commuting peaks (7-8 h and 17-18 h) on weekdays, flatter at weekends; points drawn around
  the commune's centre within its radius; road distance = great-circle distance × a detour
  factor drawn in [1.15, 1.45], at least 1 km, under 80 km: the mean comes out at about
  25 km; speeds rise from 25 km/h (short trips) to about 60 km/h, so that the mean duration
  is about 30 minutes. Datetimes are rounded up to 10 minutes and carry the Paris offset.
- **Cars.** Passengers of one car (one `trip_id`) share origin, destination and departure
  time; a car carries one or more rows (85 % of cars one row), `passenger_seats` is 1 or 2, tuned so that
  the observatory's occupancy ((passenger km + driver km) / driver km) is about 2.3 people.
- **Incentives.** A journey touching an EPCI of the incentive campaign list has an incentive
  with probability 0.8, otherwise 0.25 (the list is of April 2026 and has no start dates).
  Operator class C 93 %, B 5 %, A 2 %.
- **Format.** Coordinates truncated to 3 decimals in dense communes (500 inhabitants per km²
  and more), 2 elsewhere; foreign points coded `XXXXX` before February 2025 and `99xxx`
  after, with empty département, town and EPCI name; numbers quoted as in the real files up to
  2025 (journey_id, coordinates and duration quoted, seats and distance not) and unquoted
  from 2026. Files are gzip-compressed (`YYYY-MM.csv.gz`), which the parser reads.
- **Not modelled**: the publisher's statistical secrecy (it removes trips whose commune
  appears fewer than 6 times in the month): the simulated files are the registry before that
  step, so that EPCI totals match; passengers of one car picked up in different communes;
  links between months (a commuter's return trip).
"""

from __future__ import annotations

import argparse
import calendar
import hashlib
import json
import math
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pyproj
import shapely

from etl import geo
from etl.sources.base import FetchContext, Resource, SourceError
from etl.store import atomic_path

SEED = 20_240_101

#: Share of the year's journeys in each month (sums to 1 after normalisation).
SEASON = np.array([0.088, 0.086, 0.090, 0.085, 0.079, 0.087, 0.076, 0.054, 0.091, 0.094, 0.090, 0.070])
#: Departure hour profiles (weights per hour 0-23).
HOURS_WEEKDAY = np.array([0.2, 0.1, 0.1, 0.2, 0.8, 3.0, 7.5, 13.0, 9.0, 3.5, 2.5, 2.6,
                          3.6, 3.4, 2.8, 3.6, 6.5, 11.5, 9.0, 4.5, 2.5, 1.4, 0.8, 0.4])
HOURS_WEEKEND = np.array([0.6, 0.3, 0.2, 0.2, 0.4, 1.0, 2.0, 3.5, 5.5, 7.5, 8.5, 8.0,
                          7.0, 6.5, 7.0, 7.5, 7.5, 7.5, 6.5, 4.5, 3.0, 2.2, 1.5, 1.0])
WEEKDAY_WEIGHT = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.3, 0.15])

#: Foreign cities near the border: (name, country, INSEE country code, lon, lat, weight).
FOREIGN = (
    ("Genève", "Suisse", "99140", 6.143, 46.204, 700_000),
    ("Lausanne", "Suisse", "99140", 6.633, 46.520, 140_000),
    ("Bâle", "Suisse", "99140", 7.589, 47.560, 300_000),
    ("Luxembourg", "Luxembourg", "99137", 6.130, 49.611, 500_000),
    ("Esch-sur-Alzette", "Luxembourg", "99137", 5.981, 49.496, 60_000),
    ("Sarrebruck", "Allemagne", "99109", 6.997, 49.235, 180_000),
    ("Fribourg-en-Brisgau", "Allemagne", "99109", 7.842, 47.999, 230_000),
    ("Karlsruhe", "Allemagne", "99109", 8.404, 49.007, 150_000),
    ("Monaco", "Monaco", "99138", 7.420, 43.738, 80_000),
    ("Tournai", "Belgique", "99131", 3.389, 50.606, 70_000),
    ("Mouscron", "Belgique", "99131", 3.206, 50.744, 60_000),
    ("Mons", "Belgique", "99131", 3.952, 50.454, 90_000),
    ("Saint-Sébastien", "Espagne", "99134", -1.981, 43.318, 180_000),
    ("Vintimille", "Italie", "99127", 7.608, 43.790, 25_000),
    ("Andorre-la-Vieille", "Andorre", "99130", 1.521, 42.507, 20_000),
)
PLM = {"75056", "69123", "13055"}  # Paris, Lyon, Marseille: their arrondissements are the nodes
DENSE_HAB_KM2 = 500


@dataclass(frozen=True)
class Params:
    """Knobs of the model (see the module docstring)."""

    radius_km: float = 58.0
    top_k: int = 120
    decay_km: float = 25.0
    detour: tuple[float, float] = (1.15, 1.45)
    new_car: float = 0.85  # probability that a journey starts a new car (same pair, same month)
    occupancy: float = 2.3
    incentive_campaign: float = 0.8
    incentive_other: float = 0.25
    operator_classes: tuple[tuple[str, float], ...] = (("C", 0.93), ("B", 0.05), ("A", 0.02))


@dataclass
class Reference:
    """The model's inputs: nodes (communes and foreign cities), real EPCI totals, campaign EPCI."""

    nodes: pl.DataFrame
    targets: dict[str, float]
    campaigns: frozenset[str]
    notes: list[str]


# -- inputs ----------------------------------------------------------------------------------
def mirror_resources() -> list[Resource]:
    """The mirror files the simulator reads (also what the `rpc` source records in the manifest)."""
    from etl import registry

    srcs = registry.sources()

    def res(key: str, source: str, which: str = "main") -> Resource:
        r = next(r for r in srcs[source].resources_ if r.key == which)
        return Resource(key, r.url, r.mirror)

    from etl.sources.rpc import API_URL, FORMAT_SAMPLE

    return [
        Resource("format", API_URL, FORMAT_SAMPLE),
        res("communes", "communes"),
        res("arrondissements", "arrondissements"),
        res("epci", "epci"),
        res("contours", "contours", "communes"),
        res("mobilites_durables", "mobilites_durables"),
        res("incitations", "incitations_covoiturage"),
    ]


def reference_from_mirror(mirror: Path) -> Reference:
    return reference_from_files({r.key: Path(mirror) / r.mirror for r in mirror_resources()})


def reference_from_files(files: dict[str, Path]) -> Reference:
    """Build the nodes and targets from the mirror files (parsed by their own source modules)."""
    from etl import registry
    from etl.sources.contours import read_geojson

    srcs = registry.sources()
    ctx = FetchContext(mirror=None, raw_dir=Path("."), progress=False)

    def frame(source: str, key: str) -> pl.DataFrame:
        return srcs[source].parse({"main": files[key]}, ctx).frame

    communes = frame("communes", "communes")
    arrondissements = frame("arrondissements", "arrondissements")
    epci = frame("epci", "epci").select(pl.col("code").alias("code_epci"), pl.col("nom").alias("nom_epci"))
    totals = frame("mobilites_durables", "mobilites_durables").filter(pl.col("niveau") == "epci")
    campaigns = frozenset(frame("incitations_covoiturage", "incitations")["code_siren"].to_list())

    features = read_geojson(files["contours"], "rpc/simulateur")
    codes = [str((f.get("properties") or {}).get("code")) for f in features]
    shapes = shapely.from_geojson([json.dumps(f["geometry"]) for f in features], on_invalid="ignore")
    ok = ~shapely.is_missing(shapes)
    shapes = shapes[ok]
    lon, lat = geo.centres(shapes)
    polygons = pl.DataFrame({"code": np.asarray(codes, dtype=object)[ok].tolist(), "lon": lon, "lat": lat,
                             "superficie_km2": geo.area_km2(shapes)}).unique("code", keep="first")

    arr = arrondissements.join(communes.select(pl.col("code").alias("code_commune"), "code_epci"), on="code_commune")
    nodes = pl.concat([
        communes.filter(~pl.col("code").is_in(list(PLM))).select("code", "nom", "code_departement", "code_epci",
                                                                  "population"),
        arr.select("code", "nom", "code_departement", "code_epci", "population"),
    ]).filter(~pl.col("code_departement").str.starts_with("97"))
    targets = dict(totals.select("code", "trajets").iter_rows())
    nodes = nodes.filter(pl.col("code_epci").is_in([k for k, v in targets.items() if v > 0]))
    located = nodes.join(polygons, on="code", how="left")
    missing = located.filter(pl.col("lon").is_null())
    notes = []
    if missing.height:
        notes.append(f"simulateur : {missing.height} commune(s) sans contour, sans trajet simulé : "
                     + ", ".join(missing["code"].to_list()))
    nodes = (
        located.filter(pl.col("lon").is_not_null())
        .join(epci, on="code_epci", how="left")
        .with_columns(
            pays=pl.lit("France"), code_pays=pl.lit(None, pl.String),
            rayon_km=(pl.col("superficie_km2") / math.pi).sqrt(),
            dense=(pl.col("population") / pl.col("superficie_km2")) >= DENSE_HAB_KM2,
            poids=pl.col("population").cast(pl.Float64),
        )
    )
    foreign = pl.DataFrame(
        [(None, name, None, None, pop, lon_, lat_, None, None, country, code, 3.0, True, float(pop))
         for name, country, code, lon_, lat_, pop in FOREIGN],
        schema={"code": pl.String, "nom": pl.String, "code_departement": pl.String, "code_epci": pl.String,
                "population": pl.Int64, "lon": pl.Float64, "lat": pl.Float64, "superficie_km2": pl.Float64,
                "nom_epci": pl.String, "pays": pl.String, "code_pays": pl.String, "rayon_km": pl.Float64,
                "dense": pl.Boolean, "poids": pl.Float64},
        orient="row",
    )
    cols = foreign.columns
    nodes = pl.concat([nodes.select(cols).sort("code"), foreign], how="vertical_relaxed")
    return Reference(nodes=nodes, targets=targets, campaigns=campaigns, notes=notes)


def restrict(ref: Reference, departements: list[str]) -> Reference:
    """Only the EPCI with communes in these départements (all their communes) and the foreign cities.

    A small, quick sample for tests: the same model, calibrated on the same real totals.
    """
    epci = set(ref.nodes.filter(pl.col("code_departement").is_in(departements))["code_epci"].drop_nulls().to_list())
    nodes = ref.nodes.filter(pl.col("code_epci").is_in(list(epci)) | pl.col("code").is_null())
    targets = {k: v for k, v in ref.targets.items() if k in epci}
    return Reference(nodes=nodes, targets=targets, campaigns=ref.campaigns, notes=ref.notes)


# -- the year's journeys ----------------------------------------------------------------------
@dataclass
class YearPlan:
    """The year's journeys as node pairs: every count per EPCI is already exact."""

    year: int
    src: np.ndarray  # node index of each pair's first end
    dst: np.ndarray
    journeys: np.ndarray  # pair index of each journey
    flip: np.ndarray  # journey goes dst -> src
    month: np.ndarray  # 0-11
    epci_codes: list[str]
    targets: np.ndarray  # per EPCI, what was calibrated

    def month_counts(self) -> np.ndarray:
        return np.bincount(self.month, minlength=12)


def _pairs(ref: Reference, params: Params) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate pairs (origin, destination, distance km): the top-k attracted destinations of each node."""
    nodes = ref.nodes
    tr = pyproj.Transformer.from_crs("EPSG:4326", geo.EQUAL_AREA, always_xy=True)
    x, y = tr.transform(nodes["lon"].to_numpy(), nodes["lat"].to_numpy())
    x, y = np.asarray(x) / 1000, np.asarray(y) / 1000
    weight = nodes["poids"].to_numpy()
    foreign = nodes["code"].is_null().to_numpy()
    self_d = 0.6 * nodes["rayon_km"].to_numpy()
    points = shapely.points(x, y)
    tree = shapely.STRtree(points)
    out_s, out_d, out_km = [], [], []
    chunk = 2_000
    for start in range(0, len(points), chunk):
        a, b = tree.query(points[start:start + chunk], predicate="dwithin", distance=params.radius_km)
        a = a + start
        keep = ~(foreign[a] & foreign[b])
        a, b = a[keep], b[keep]
        d = np.hypot(x[a] - x[b], y[a] - y[b])
        d = np.where(a == b, self_d[a], d)
        # one sort key: origin first, then the most attracted destination (itself always first)
        log_score = np.log1p(weight[b]) - d / params.decay_km
        rel = (log_score.max() - log_score) / (np.ptp(log_score) + 1.0)  # in [0, 1)
        rel = np.where(a == b, -0.5, rel)  # a commune always keeps its own journeys
        order = np.argsort(a + 0.9 * (rel + 0.5) / 1.5)
        a, b, d = a[order], b[order], d[order]
        first = np.r_[True, a[1:] != a[:-1]]
        group_start = np.maximum.accumulate(np.where(first, np.arange(len(a)), 0))
        rank = np.arange(len(a)) - group_start
        keep = rank < params.top_k + 1
        out_s.append(a[keep])
        out_d.append(b[keep])
        out_km.append(d[keep])
    return (np.concatenate(out_s).astype(np.int32), np.concatenate(out_d).astype(np.int32),
            np.concatenate(out_km))


def _counts(n: np.ndarray, ei: np.ndarray, ej: np.ndarray, n_epci: int) -> np.ndarray:
    """Journeys with origin or destination in each EPCI (an internal journey counts once)."""
    n = n.astype(np.float64)
    out = np.bincount(ei[ei >= 0], n[ei >= 0], minlength=n_epci)
    other = (ej >= 0) & (ej != ei)
    out += np.bincount(ej[other], n[other], minlength=n_epci)
    return out


def _draw_in_groups(group: np.ndarray, weight: np.ndarray, k: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each group g, k[g] item indices drawn with probability ∝ weight (with replacement)."""
    order = np.argsort(group, kind="stable")
    g, w = group[order], weight[order].astype(np.float64)
    cum = np.cumsum(w)
    n_groups = len(k)
    bounds = np.searchsorted(g, np.arange(n_groups + 1))
    before = np.r_[0.0, cum][bounds[:-1]]
    total = np.r_[0.0, cum][bounds[1:]] - before
    k = np.where(total > 0, k, 0)
    reps = np.repeat(np.arange(n_groups), k)
    u = before[reps] + rng.random(len(reps)) * total[reps]
    pos = np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1)
    return order[pos]


def plan_year(ref: Reference, *, year: int = 2024, scale: float = 1.0, seed: int = SEED,
              params: Params = Params()) -> YearPlan:
    """Journeys of a year between nodes, each EPCI's count equal to its real total × `scale`."""
    rng = np.random.default_rng([seed, year])
    src, dst, km = _pairs(ref, params)
    epci_codes = sorted(k for k, v in ref.targets.items() if v > 0)
    index = {c: i for i, c in enumerate(epci_codes)}
    node_epci = np.array([index.get(c, -1) if c else -1 for c in ref.nodes["code_epci"].to_list()], dtype=np.int64)
    ei, ej = node_epci[src], node_epci[dst]
    target = np.array([ref.targets[c] for c in epci_codes]) * scale
    target = np.rint(target)
    weight = ref.nodes["poids"].to_numpy()
    base = weight[src] * weight[dst] * np.exp(-km / params.decay_km)
    n_epci = len(epci_codes)

    # iterative proportional fitting of one factor per EPCI (foreign nodes keep the mean factor)
    a = np.full(n_epci + 1, math.sqrt(target.sum() / base.sum()))
    for _ in range(1_000):
        flow = a[ei] * a[ej] * base
        counts = _counts(flow, ei, ej, n_epci)
        ratio = np.divide(target, counts, out=np.zeros_like(target), where=counts > 0)
        a[:n_epci] *= ratio ** 0.6
        if np.nanmax(np.abs(counts - target) / np.maximum(target, 1)) < 1e-7:
            break
    flow = a[ei] * a[ej] * base

    # whole journeys: random rounding, then exact counts by journeys inside each EPCI
    n = np.floor(flow).astype(np.int64)
    n += rng.random(len(n)) < (flow - n)
    internal = (ei == ej) & (ei >= 0)
    for _ in range(200):
        delta = target - _counts(n, ei, ej, n_epci)
        if not delta.any():
            break
        add = np.maximum(delta, 0).astype(np.int64)
        if add.any():
            picked = _draw_in_groups(np.where(internal, ei, n_epci), flow, np.r_[add, 0], rng)
            n += np.bincount(picked, minlength=len(n))
        remove = np.maximum(-delta, 0).astype(np.int64)
        if remove.any():
            inside = np.bincount(ei[internal], n[internal], minlength=n_epci)
            short = remove > inside  # not enough journeys inside: take journeys crossing its border too
            pool = np.where(internal, ei, n_epci)
            picked = _draw_in_groups(pool, n, np.r_[np.where(short, 0, remove), 0], rng)
            # pairs crossing the EPCI's border, whichever end the EPCI is
            side_i = ~internal & (ei >= 0) & short[np.maximum(ei, 0)]
            side_j = ~internal & (ej >= 0) & short[np.maximum(ej, 0)]
            items = np.r_[np.flatnonzero(side_i), np.flatnonzero(side_j)]
            drawn = _draw_in_groups(np.r_[ei[side_i], ej[side_j]], n[items], np.where(short, remove, 0), rng)
            picked = np.r_[picked, items[drawn]]
            n = np.maximum(n - np.bincount(picked, minlength=len(n)), 0)
    final = _counts(n, ei, ej, n_epci)
    if not np.array_equal(final, target):
        worst = int(np.argmax(np.abs(final - target)))
        raise RuntimeError(f"simulateur : calibrage inexact pour l'EPCI {epci_codes[worst]}")

    used = n > 0
    src, dst, n = src[used], dst[used], n[used]
    journeys = np.repeat(np.arange(len(n), dtype=np.int32), n)
    flip = rng.random(len(journeys)) < 0.5
    month = rng.choice(12, size=len(journeys), p=SEASON / SEASON.sum()).astype(np.int8)
    return YearPlan(year=year, src=src, dst=dst, journeys=journeys, flip=flip, month=month,
                    epci_codes=epci_codes, targets=target)


def plan_counts(ref: Reference, plan: YearPlan) -> dict[str, int]:
    """What the plan gives per EPCI (journeys with origin or destination in it): the calibration check."""
    index = {c: i for i, c in enumerate(plan.epci_codes)}
    node_epci = np.array([index.get(c, -1) if c else -1 for c in ref.nodes["code_epci"].to_list()])
    n = np.bincount(plan.journeys, minlength=len(plan.src))
    counts = _counts(n, node_epci[plan.src], node_epci[plan.dst], len(plan.epci_codes))
    return {c: int(v) for c, v in zip(plan.epci_codes, counts, strict=True)}


# -- one month's file -------------------------------------------------------------------------
def _offsets(year: int) -> tuple[int, int]:
    """Minutes since 1 January 00:00 of the switches to and from summer time (last Sundays)."""
    def last_sunday(month: int) -> date:
        last = date(year, month, calendar.monthrange(year, month)[1])
        return last.replace(day=last.day - (last.weekday() + 1) % 7)

    start = (last_sunday(3) - date(year, 1, 1)).days * 1440 + 120
    end = (last_sunday(10) - date(year, 1, 1)).days * 1440 + 180
    return start, end


def _scramble(values: np.ndarray) -> np.ndarray:
    """A bijection of 32-bit integers (so trip ids look random yet never collide)."""
    v = values.astype(np.uint64) & 0xFFFFFFFF
    v = (v * 0x9E3779B1) & 0xFFFFFFFF
    v ^= v >> 15
    v = (v * 0x85EBCA77) & 0xFFFFFFFF
    v ^= v >> 13
    return v.astype(np.uint32)


def _coord_text(values: pl.Expr, dense: pl.Expr) -> pl.Expr:
    """Coordinates truncated to 3 decimals (dense communes) or 2, written "43.610" / "-1.25"."""
    scale = pl.when(dense).then(1000).otherwise(100)
    v = (values * scale).cast(pl.Int64)  # truncation toward zero
    a = v.abs()
    frac = (a % scale).cast(pl.String)
    frac = pl.when(dense).then(frac.str.zfill(3)).otherwise(frac.str.zfill(2))
    sign = pl.when(v < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.concat_str([sign, (a // scale).cast(pl.String), pl.lit("."), frac])


def _q(expr: pl.Expr) -> pl.Expr:
    """A quoted text field (inner quotes doubled, null -> "")."""
    return pl.concat_str([pl.lit('"'), expr.fill_null("").str.replace_all('"', '""', literal=True), pl.lit('"')])


def month_frame(ref: Reference, plan: YearPlan, month: int, *, seed: int = SEED,
                params: Params = Params()) -> pl.DataFrame:
    """The rows of one month, as the 27 text fields of the file (quotes included)."""
    from etl.sources.rpc import COLUMNS

    year = plan.year
    rng = np.random.default_rng([seed, year, month])
    sel = np.flatnonzero(plan.month == month - 1)
    pair, flip = plan.journeys[sel], plan.flip[sel]
    # same pair, same direction, in random order: consecutive journeys may share a car
    key = pair.astype(np.int64) * 2 + flip
    shuffle = rng.permutation(len(key))
    order = shuffle[np.argsort(key[shuffle], kind="stable")]
    pair, flip, key = pair[order], flip[order], key[order]
    n = len(pair)
    origin = np.where(flip, plan.dst[pair], plan.src[pair])
    dest = np.where(flip, plan.src[pair], plan.dst[pair])
    new_car = np.r_[True, key[1:] != key[:-1]] | (rng.random(n) < params.new_car)
    car = np.cumsum(new_car) - 1
    n_cars = int(car[-1]) + 1 if n else 0

    # departure of each car: day (weekday-weighted), hour (profile), minutes on the 10-minute grid
    days = calendar.monthrange(year, month)[1]
    weekday = np.array([date(year, month, d + 1).weekday() for d in range(days)])
    day_w = WEEKDAY_WEIGHT[weekday]
    day = rng.choice(days, size=n_cars, p=day_w / day_w.sum())
    weekend = weekday[day] >= 5
    hour = np.where(weekend, rng.choice(24, n_cars, p=HOURS_WEEKEND / HOURS_WEEKEND.sum()),
                    rng.choice(24, n_cars, p=HOURS_WEEKDAY / HOURS_WEEKDAY.sum()))
    start_min = (day * 1440 + hour * 60 + rng.integers(0, 6, n_cars) * 10)[car]
    cls_names = [c for c, _ in params.operator_classes]
    cls_p = np.array([p for _, p in params.operator_classes])
    cls = rng.choice(len(cls_names), n_cars, p=cls_p / cls_p.sum())[car]

    # points around the communes' centres, road distance, duration
    lon = ref.nodes["lon"].to_numpy()
    lat = ref.nodes["lat"].to_numpy()
    radius = ref.nodes["rayon_km"].to_numpy()

    def jitter(node: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = radius[node] * np.sqrt(rng.random(len(node)))
        t = rng.random(len(node)) * 2 * np.pi
        la = lat[node] + r * np.sin(t) / 111.32
        lo = lon[node] + r * np.cos(t) / (111.32 * np.cos(np.radians(lat[node])))
        return lo, la

    lon1, lat1 = jitter(origin)
    lon2, lat2 = jitter(dest)
    crow = geo.haversine_km(lon1, lat1, lon2, lat2)
    km = np.clip(crow * rng.uniform(*params.detour, n), 1.0, 79.9)
    speed = 25 + 35 * (1 - np.exp(-km / 22))
    duration = np.maximum(np.rint(km / speed * 60 * rng.lognormal(0, 0.15, n)), 2).astype(np.int64)
    end_min = np.ceil((start_min + duration) / 10).astype(np.int64) * 10

    # seats: 1 or 2, so that occupancy = 1 + seats per car ≈ params.occupancy
    p2 = float(np.clip((params.occupancy - 1) * n_cars / max(n, 1) - 1, 0, 0.9))
    seats = 1 + (rng.random(n) < p2)
    campaign = np.array([c in ref.campaigns for c in ref.nodes["code_epci"].fill_null("").to_list()])
    p_inc = np.where(campaign[origin] | campaign[dest], params.incentive_campaign, params.incentive_other)
    incentive = rng.random(n) < p_inc

    trip = _scramble((np.int64(month) << 24) | car)
    journey_id = (year % 100) * 10**9 + month * 10**7 + np.arange(1, n + 1)

    nodes = ref.nodes
    after_99 = (year, month) >= (2025, 2)
    quoted_numbers = year <= 2025
    dst_start, dst_end = _offsets(year)
    month_start = (date(year, month, 1) - date(year, 1, 1)).days * 1440

    df = pl.DataFrame({
        "o": origin, "d": dest, "start": start_min, "end": end_min,
        "lon1": lon1, "lat1": lat1, "lon2": lon2, "lat2": lat2,
        "km": km, "dur": duration, "seats": seats.astype(np.int8), "inc": incentive,
        "cls": np.asarray(cls_names)[cls], "trip": trip, "jid": journey_id,
    }).sort("start", "jid")
    trip_hex = pl.Series([f"{v:08x}" for v in df["trip"].to_list()], dtype=pl.String)

    def ends(col: str) -> dict[str, pl.Expr]:
        idx = pl.col(col)
        code = pl.lit(nodes["code"]).gather(idx)
        foreign = code.is_null()
        foreign_code = pl.lit(nodes["code_pays"]).gather(idx) if after_99 else pl.lit("XXXXX")
        return {
            "insee": pl.when(foreign).then(foreign_code).otherwise(code),
            "department": pl.lit(nodes["code_departement"]).gather(idx),
            "town": pl.when(foreign).then(None).otherwise(pl.lit(nodes["nom"]).gather(idx)),
            "towngroup": pl.lit(nodes["nom_epci"]).gather(idx),
            "country": pl.lit(nodes["pays"]).gather(idx),
            "dense": pl.lit(nodes["dense"]).gather(idx),
        }

    def stamp(minutes: pl.Expr) -> dict[str, pl.Expr]:
        t = pl.datetime(year, 1, 1) + pl.duration(minutes=minutes + month_start)
        summer = ((minutes + month_start) >= dst_start) & ((minutes + month_start) < dst_end)
        d, h = t.dt.strftime("%Y-%m-%d"), t.dt.strftime("%H:%M:%S")
        return {"datetime": pl.concat_str([d, pl.lit("T"), h, pl.when(summer).then(pl.lit("+0200"))
                                           .otherwise(pl.lit("+0100"))]), "date": d, "time": h}

    def num(expr: pl.Expr, quote: bool) -> pl.Expr:
        return _q(expr) if quote else expr

    s, e = ends("o"), ends("d")
    ts, te = stamp(pl.col("start")), stamp(pl.col("end"))
    qn = quoted_numbers
    fields = [
        num(pl.col("jid").cast(pl.String), qn),
        _q(pl.lit(trip_hex)),
        _q(ts["datetime"]), _q(ts["date"]), _q(ts["time"]),
        num(_coord_text(pl.col("lon1"), s["dense"]), qn), num(_coord_text(pl.col("lat1"), s["dense"]), qn),
        _q(s["insee"]), _q(s["department"]), _q(s["town"]), _q(s["towngroup"]), _q(s["country"]),
        _q(te["datetime"]), _q(te["date"]), _q(te["time"]),
        num(_coord_text(pl.col("lon2"), e["dense"]), qn), num(_coord_text(pl.col("lat2"), e["dense"]), qn),
        _q(e["insee"]), _q(e["department"]), _q(e["town"]), _q(e["towngroup"]), _q(e["country"]),
        pl.col("seats").cast(pl.String),
        _q(pl.col("cls")),
        (pl.col("km") * 1000).round(0).cast(pl.Int64).cast(pl.String),
        num(pl.col("dur").cast(pl.String), qn),
        _q(pl.when(pl.col("inc")).then(pl.lit("OUI")).otherwise(pl.lit("NON"))),
    ]
    return df.select([f.alias(f'"{c}"') for f, c in zip(fields, COLUMNS, strict=True)])


def write_month(frame: pl.DataFrame, path: Path) -> Path:
    """Write a month as the publisher does: `;`, quoted header, gzip-compressed."""
    # a unique temporary name: two runs at once must not write the same file (etl.store.atomic_path)
    with atomic_path(path) as tmp:
        frame.write_csv(tmp, separator=";", quote_style="never", compression="gzip", compression_level=1,
                        check_extension=False)
    return path


# -- running it -------------------------------------------------------------------------------
def _fingerprint(files: dict[str, Path], months: list[str], scale: float, seed: int) -> str:
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(json.dumps([months, scale, seed]).encode())
    for key in sorted(files):
        h.update(key.encode())
        h.update(Path(files[key]).read_bytes())
    return h.hexdigest()


def simulate(ref: Reference, months: list[str], out_dir: Path, *, scale: float = 1.0, seed: int = SEED,
             progress: bool = False) -> dict[str, Path]:
    """Write the months asked for (one year's plan per year, month by month) into `out_dir`."""
    out: dict[str, Path] = {}
    for year in sorted({int(m[:4]) for m in months}):
        plan = plan_year(ref, year=year, scale=scale, seed=seed)
        for m in sorted(x for x in months if int(x[:4]) == year):
            if progress:
                print(f"simulation de {m}…", file=sys.stderr)
            out[m] = write_month(month_frame(ref, plan, int(m[5:]), seed=seed), Path(out_dir) / f"{m}.csv.gz")
    return out


def default_months(year: int = 2024) -> list[str]:
    return [f"{year}-{m:02d}" for m in range(1, 13)]


def simulate_for_source(files: dict[str, Path], ctx: FetchContext) -> tuple[dict[str, Path], list[str]]:
    """Mirror mode of the `rpc` source: simulate the months asked for, reusing files already written."""
    from etl.sources.rpc import COLUMNS, parse_months, read_header

    if tuple(read_header(files["format"])) != COLUMNS:
        raise SourceError("rpc: l'en-tête de l'échantillon du miroir ne correspond plus aux 27 colonnes attendues")
    months = parse_months(ctx.options.get("months")) or default_months()
    scale = float(ctx.options.get("rpc_scale", 1.0))
    out_dir = Path(ctx.raw_dir) / "rpc-simule"
    stamp_path = out_dir / "simulation.json"
    fingerprint = _fingerprint(files, months, scale, SEED)
    paths = {m: out_dir / f"{m}.csv.gz" for m in months}
    notes = [f"mois simulés ({len(months)}) par etl/simulate_rpc.py, graine {SEED}, échelle {scale:g}, "
             f"calés sur les totaux 2024 par EPCI de mobilites_durables"]
    # files written by an earlier run from the same inputs and the same code are reused; the notes
    # of that simulation are replayed, so that the manifest says the same thing either way
    stamp = json.loads(stamp_path.read_text()) if stamp_path.exists() else {}
    if stamp.get("empreinte") == fingerprint and all(p.exists() for p in paths.values()):
        return paths, notes + stamp.get("notes", [])
    ref = reference_from_files(files)
    paths = simulate(ref, months, out_dir, scale=scale, progress=ctx.progress)
    with atomic_path(stamp_path) as tmp:  # a half-written stamp would fail every later run
        tmp.write_text(json.dumps({"empreinte": fingerprint, "mois": months, "notes": ref.notes}, indent=2))
    return paths, notes + ref.notes


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `python -m etl simulate-rpc`."""
    from etl import config

    p.add_argument("--months", default="2024-01..2024-12", help="mois à simuler (défaut : 2024-01..2024-12)")
    p.add_argument("--out", required=True, help="dossier où écrire les fichiers AAAA-MM.csv.gz")
    p.add_argument("--mirror", default=str(config.mirror_dir()), help="miroir des sources (défaut : ../shared/opendata)")
    p.add_argument("--scale", type=float, default=1.0, help="multiplie les volumes (1 = totaux réels 2024)")
    p.add_argument("--seed", type=int, default=SEED, help=f"graine (défaut : {SEED})")


def run_cli(args: argparse.Namespace) -> int:
    """Write the simulated files asked for on the command line; print one line per month."""
    from etl.sources.rpc import parse_months

    try:
        months = parse_months(args.months) or default_months()
        ref = reference_from_mirror(Path(args.mirror))
        paths = simulate(ref, months, Path(args.out), scale=args.scale, seed=args.seed, progress=True)
    except (SourceError, OSError) as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        return 2
    for m, path in paths.items():
        print(f"{m}\t{path}")
    return 0
