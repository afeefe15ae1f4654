"""Aggregation of the registry's journeys per territory and month, through a compact month.

Two steps, so that a monthly refresh costs one month and not the whole history:

1. `compact_rows`, called by the `rpc` source once per version of a monthly file: the month's
   valid journeys reduced to the finest grain the marts need, independent of the territory
   reference. A *place* is the INSEE code as the file writes it, or `etranger:<country>` for
   a point abroad. Tables (`Compact`): `paires`, per (journey month, origin, destination):
   journeys, passengers, passenger metres, journeys with an incentive, journeys under 80 km and
   their passengers, cars and their driven metres (a car counts in the pair that holds all its
   journeys); `horaires`, journeys per (month, origin, destination, departure hour, distance
   class); `mixtes`, the rare cars whose journeys span several pairs, car by car; `etranger`,
   coordinate sums of the ends abroad; `lieux`, the places. A simulated month of 0.9 million
   journeys gives about 0.3 million pairs and 0.65 million hour-class rows, written once in
   `raw/rpc/mois/<month>/` and read back by every later run.
2. `aggregate_month`, in the mart, on every run: places to today's territories (`code_table`:
   current communes, arrondissements municipaux, former codes brought to today's commune; a
   code known nowhere is rejected and counted), then per level (commune, arrondissement when
   the files carry arrondissement codes, EPCI, département, région, France) and month:

- `trajets`: journeys with their origin or their destination in the territory (a journey
  internal to the territory counts once); `trajets_internes`: both ends in it (a journey
  between two communes of one EPCI is internal to that EPCI, not to either commune);
- `passagers` (sum of `passenger_seats`), `vehicules` (distinct `trip_id`), `km_passagers`
  (seats × distance), `km_conducteurs` (per car, its longest journey: the distance the car
  drove), `trajets_incites` (journeys with an incentive);
- distributions of journeys by departure hour and by distance class;
- origin-destination flows between communes and between EPCI (pairs below a threshold of
  passengers in the month are not kept, as the observatory does; journeys of 80 km and more
  are left out of flows, as the observatory does; a journey whose end has no territory at the
  level, such as an island commune outside any EPCI, is not an EPCI flow).

Every sum is an integer (metres, not km) until the end, in 64 bits: a month of France's
passenger metres is about 2e13. Rates (occupancy, shares, CO2) are computed from the sums by
`rates`, at each level. The grouping uses sorted integer keys and `numpy.bincount` rather than
hash group-bys on text: `benchmarks/bench_covoiturage.py` measures it against a bare polars scan.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from etl.levels import FRANCE_CODE

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
#: A point abroad as the registry writes it: `99xxx` (INSEE country code, from February 2025) or `XXXXX`.
FOREIGN_RE = r"^(99\d{3}|XXXXX)$"
CODE_COLUMNS = ("commune", "arrondissement", "epci", "departement", "region")
#: Integer sums of a territory and month, before metres become km.
_INT_SUMS = ("trajets", "trajets_internes", "passagers", "vehicules", "metres_passagers", "metres_conducteurs",
             "trajets_incites")
#: Bits of the hour (0-99 as written) and of the distance class (0-5) in a packed key.
_HOUR_BITS, _CLASS_BITS = 7, 3
#: The columns of the valid rows that `compact_rows` reads (the `rpc` source's typed rows).
ROW_COLUMNS = ("trip_id", "mois", "heure", "insee_depart", "insee_arrivee", "pays_depart", "pays_arrivee",
               "lon_depart", "lat_depart", "lon_arrivee", "lat_arrivee", "passagers", "distance_m", "incitation")


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
    return pl.concat([communes, arrondissements, former]).unique("insee", keep="first").sort("insee")


# -- step 1: one month's journeys to the compact month ------------------------------------------
COMPACT_TABLES = ("lieux", "paires", "horaires", "mixtes", "etranger")


@dataclass
class Compact:
    """One month file's journeys at the finest grain the marts need (see the module docstring).

    `o`, `d` and `lieu`/`autre` are ids of `lieux` (`id`, `cle`: an INSEE code as written, or
    `etranger:<country>`); sums are 64-bit integers, distances in metres.
    """

    lieux: pl.DataFrame
    paires: pl.DataFrame
    horaires: pl.DataFrame
    mixtes: pl.DataFrame
    etranger: pl.DataFrame

    def write(self, folder: Path) -> None:
        """Write the tables (zstd Parquet) into `folder`; the caller writes the marker that validates them."""
        folder.mkdir(parents=True, exist_ok=True)
        for name in COMPACT_TABLES:
            getattr(self, name).write_parquet(folder / f"{name}.parquet", compression="zstd", compression_level=3)

    @classmethod
    def read(cls, folder: Path) -> Compact:
        return cls(**{name: pl.read_parquet(Path(folder) / f"{name}.parquet") for name in COMPACT_TABLES})

    @property
    def months(self) -> list[str]:
        return sorted(self.paires["mois"].unique().to_list())


def _segments(keys: np.ndarray) -> np.ndarray:
    """Start of each run of equal values in a sorted array."""
    if keys.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])


def _sum_at(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.add.reduceat(values, starts) if starts.size else np.zeros(0, dtype=np.int64)


def compact_rows(rows: pl.DataFrame) -> Compact:
    """The valid journeys of one file (columns `ROW_COLUMNS`) -> `Compact`.

    Rows are sorted once on a packed 64-bit key (origin, destination, month, hour, distance
    class): pairs and hour-class cells are then runs of equal keys, summed with `reduceat`.
    The codes are not checked here: the source checks the places of the result (`bad_places`).
    """
    c = pl.col
    o, d, names = _place_ids(rows)
    months = rows["mois"].unique().sort()
    m = _ids_in(rows["mois"], months)
    place_bits = max(1, (len(names) - 1).bit_length())
    month_bits = max(1, (months.len() - 1).bit_length())
    low = month_bits + _HOUR_BITS + _CLASS_BITS
    if 2 * place_bits + low > 64:
        raise ValueError(f"trop de lieux ({len(names)}) ou de mois ({months.len()}) dans un fichier pour une clé de 64 bits")
    dist = rows["distance_m"].to_numpy().astype(np.int64)
    hour = rows["heure"].to_numpy().astype(np.uint64)
    cls = np.clip(dist // 10_000, 0, len(DISTANCE_LABELS) - 1).astype(np.uint64)
    key = ((((o << np.uint64(place_bits)) | d) << np.uint64(month_bits) | m) << np.uint64(_HOUR_BITS) | hour) << np.uint64(
        _CLASS_BITS) | cls
    order = np.argsort(key, kind="stable")
    k = key[order]
    dist = dist[order]
    p = rows["passagers"].to_numpy().astype(np.int64)[order]
    inc = rows["incitation"].to_numpy()[order]
    # a car: its trip_id as a 64-bit hash (odds of two ids colliding in a month: about 1e-8)
    car = rows.select(c("trip_id").hash(seed=0))[:, 0].to_numpy()[order]
    seul = _unique_mask(car)

    pair_key = k >> np.uint64(_HOUR_BITS + _CLASS_BITS)
    cells, pairs = _segments(k), _segments(pair_key)
    short = dist < FLOW_MAX_KM * 1000
    vehicles = _sum_at(seul.astype(np.int64), pairs)
    driven = _sum_at(np.where(seul, dist, 0), pairs)
    # cars with several journeys: per car and pair, the longest journey; a car inside one pair
    # counts there, a car across pairs (passengers picked up in different communes) stays apart
    multi = pl.DataFrame({"vehicule": car[~seul], "pk": pair_key[~seul], "dist": dist[~seul]}).group_by(
        "vehicule", "pk").agg(pl.col("dist").max())
    alone = multi["vehicule"].is_unique()
    per_pair = multi.filter(alone).group_by("pk").agg(pl.len().cast(pl.Int64).alias("n"), pl.col("dist").sum())
    at = np.searchsorted(pair_key[pairs], per_pair["pk"].to_numpy())
    np.add.at(vehicles, at, per_pair["n"].to_numpy())
    np.add.at(driven, at, per_pair["dist"].to_numpy())
    mixed = multi.filter(~alone)

    def decode(keys: np.ndarray, shift: int) -> dict[str, pl.Series]:
        keys = keys >> np.uint64(shift)
        return {"mois": months.gather((keys & np.uint64((1 << month_bits) - 1)).astype(np.int64)),
                "o": pl.Series(keys >> np.uint64(month_bits + place_bits), dtype=pl.UInt32),
                "d": pl.Series((keys >> np.uint64(month_bits)) & np.uint64((1 << place_bits) - 1), dtype=pl.UInt32)}

    paires = pl.DataFrame({
        **decode(pair_key[pairs], 0), "trajets": np.diff(np.r_[pairs, k.size]).astype(np.int64),
        "passagers": _sum_at(p, pairs), "metres_passagers": _sum_at(p * dist, pairs),
        "trajets_incites": _sum_at(inc.astype(np.int64), pairs), "trajets_courts": _sum_at(short.astype(np.int64), pairs),
        "passagers_courts": _sum_at(np.where(short, p, 0), pairs), "vehicules": vehicles, "metres_conducteurs": driven,
    })
    cell_keys = k[cells]
    horaires = pl.DataFrame({
        **decode(cell_keys, _HOUR_BITS + _CLASS_BITS),
        "heure": pl.Series((cell_keys >> np.uint64(_CLASS_BITS)) & np.uint64((1 << _HOUR_BITS) - 1), dtype=pl.Int8),
        "classe_distance": pl.Series(cell_keys & np.uint64((1 << _CLASS_BITS) - 1), dtype=pl.Int8),
        "trajets": np.diff(np.r_[cells, k.size]).astype(np.int64),
    })
    mixtes = pl.DataFrame({**decode(mixed["pk"].to_numpy(), 0), "vehicule": mixed["vehicule"],
                           "metres_conducteurs": mixed["dist"]})
    return Compact(
        lieux=pl.DataFrame({"id": pl.Series(range(names.len()), dtype=pl.UInt32), "cle": names}),
        paires=paires, horaires=horaires, mixtes=mixtes,
        etranger=_foreign_sums(rows, o, d, names.str.starts_with(FOREIGN_PREFIX).to_numpy()),
    )


def _ids_in(values: pl.Series, names: pl.Series) -> np.ndarray:
    """Position of each value in `names` (a short sorted list: the months of a file)."""
    out = np.zeros(values.len(), dtype=np.uint64)
    for i, name in enumerate(names.to_list()[1:], start=1):
        out[(values == name).to_numpy()] = i
    return out


def _unique_mask(values: np.ndarray) -> np.ndarray:
    """True where a value occurs once (one sort: cheaper than a hash table for a million values)."""
    ordered = np.sort(values)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if not repeated.size:
        return np.ones(values.size, dtype=bool)
    return ~pl.Series(values).is_in(pl.Series(np.unique(repeated)).implode()).to_numpy()


def _place_ids(rows: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, pl.Series]:
    """Ids of the origin and destination places, and the places' keys (in id order).

    A place is the code as written; a point abroad (`99xxx`, `XXXXX`) is `etranger:<country>`,
    so that flows and maps keep the country. Codes are dictionary-encoded (a categorical cast),
    the rare ends abroad re-keyed afterwards.
    """
    cats = pl.Categories.random()
    coded = rows.select(pl.col("insee_depart", "insee_arrivee").cast(pl.Categorical(cats)))
    seen = pl.concat([coded[:, 0].unique(), coded[:, 1].unique()]).unique()
    names = pl.Series([None] * (int(seen.to_physical().max()) + 1 if seen.len() else 0), dtype=pl.String).scatter(
        seen.to_physical(), seen.cast(pl.String))
    ids = [coded[:, i].to_physical().to_numpy().astype(np.uint64) for i in (0, 1)]
    abroad = names.str.contains(FOREIGN_RE).fill_null(False).to_numpy()
    at = [np.flatnonzero(abroad[i]) for i in ids]
    countries = [FOREIGN_PREFIX + rows["pays_" + side].gather(a).fill_null("inconnu")
                 for side, a in zip(("depart", "arrivee"), at, strict=True)]
    extra = pl.concat(countries).unique(maintain_order=True)
    new_ids = pl.Series(range(names.len(), names.len() + extra.len()), dtype=pl.UInt64)
    for i, a, keys in zip(ids, at, countries, strict=True):
        i[a] = keys.replace_strict(extra, new_ids).to_numpy()
    keys = pl.concat([names, extra])
    return ids[0], ids[1], keys


def _foreign_sums(rows: pl.DataFrame, o: np.ndarray, d: np.ndarray, abroad: np.ndarray) -> pl.DataFrame:
    """Per end abroad and place at the other end: sums of coordinates (1e-5 degrees as integers), count.

    Integers make the sums independent of the order of addition; the other end is kept so that
    the mart can leave out the journeys it rejects (unknown code, both ends abroad).
    """
    c = pl.col
    parts = []
    for side, here, other in (("depart", o, d), ("arrivee", d, o)):
        at = np.flatnonzero(abroad[here])
        located = rows[f"lon_{side}"].gather(at).is_not_null() & rows[f"lat_{side}"].gather(at).is_not_null()
        at = at[located.to_numpy()]
        parts.append(rows.select(
            *[(c(f"{x}_{side}").gather(at).cast(pl.Float64) * 1e5).round(0).cast(pl.Int64).alias(x) for x in ("lon", "lat")]
        ).with_columns(lieu=pl.Series(here[at], dtype=pl.UInt32), autre=pl.Series(other[at], dtype=pl.UInt32)))
    return pl.concat(parts).group_by("lieu", "autre").agg(
        c("lon").sum(), c("lat").sum(), pl.len().cast(pl.Int64).alias("n")).sort("lieu", "autre")


# -- step 2: a compact month to territories ------------------------------------------------------
@dataclass
class MonthAggregates:
    """One month file's sums per territory (all levels), flows before the threshold, foreign ends."""

    mensuel: pl.DataFrame
    heures: pl.DataFrame
    distances: pl.DataFrame
    flux: pl.DataFrame
    etranger: pl.DataFrame
    rejected: Counter


def _dense(codes: pl.Series) -> tuple[np.ndarray, pl.Series]:
    """Ids 0..k-1 of a short series of codes in sorted order (-1 for null), and the sorted codes."""
    ranks = codes.rank("dense")
    names = codes.drop_nulls().unique().sort()
    return (ranks.cast(pl.Int64) - 1).fill_null(-1).to_numpy(), names


def _places(lieux: pl.DataFrame, codes: pl.DataFrame) -> pl.DataFrame:
    """The month's places (in id order) with today's territories; abroad and unknown flagged."""
    places = lieux.sort("id").join(codes, left_on="cle", right_on="insee", how="left", maintain_order="left")
    abroad = pl.col("cle").str.starts_with(FOREIGN_PREFIX)
    return places.with_columns(
        abroad.alias("etranger"), (abroad | pl.col("commune").is_not_null()).alias("connu"),
        pl.when(~abroad).then(pl.lit(FRANCE_CODE)).alias("france"),
    )


def _bincount(keys: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """Integer sums of `weights` per key 0..size-1 (exact: every partial sum stays under 2^53)."""
    return np.bincount(keys, weights=weights, minlength=size).astype(np.int64)


def _stack(lo: np.ndarray, ld: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows counted at their origin's territory, and rows counted at their destination's (when different)."""
    at_origin = lo >= 0
    at_destination = (ld >= 0) & ((lo < 0) | (lo != ld))
    return at_origin, at_destination


def aggregate_month(month: Compact, codes: pl.DataFrame) -> MonthAggregates:
    """Every per-territory aggregate of one compact month (unfiltered flows, per-month distributions)."""
    places = _places(month.lieux, codes)
    abroad = places["etranger"].to_numpy()
    known = places["connu"].to_numpy()
    rejected: Counter = Counter()

    def keep(o: np.ndarray, d: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
        unknown = ~known[o] | ~known[d]
        both_abroad = ~unknown & abroad[o] & abroad[d]
        if weight is not None:
            if unknown.any():
                rejected["code commune inconnu du COG 2026 (ni actuel, ni ancien, ni arrondissement)"] += int(
                    weight[unknown].sum())
            if both_abroad.any():
                rejected["départ et arrivée à l'étranger"] += int(weight[both_abroad].sum())
        return ~unknown & ~both_abroad

    def arrays(df: pl.DataFrame, counted: bool = False) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
        o, d = df["o"].to_numpy().astype(np.int64), df["d"].to_numpy().astype(np.int64)
        ok = keep(o, d, df["trajets"].to_numpy() if counted else None)
        return df.filter(pl.Series(ok)), o[ok], d[ok]

    pairs, po, pd_ = arrays(month.paires, counted=True)
    cells, ho, hd = arrays(month.horaires)
    mixed, mo, md = arrays(month.mixtes)
    month_names = pl.concat([pairs["mois"], cells["mois"], mixed["mois"]]).unique().sort()
    n_months = max(1, month_names.len())

    def month_ids(df: pl.DataFrame) -> np.ndarray:
        return df.select(pl.col("mois").replace_strict(month_names, pl.int_range(month_names.len(), eager=True),
                                                      return_dtype=pl.Int64))["mois"].to_numpy()

    pm, hm, mm = month_ids(pairs), month_ids(cells), month_ids(mixed)
    sums, hours, classes = [], [], []
    for level in LEVELS:
        lut, names = _dense(places[level])
        size = max(1, names.len()) * n_months
        # sums per territory and month
        lo, ld = lut[po], lut[pd_]
        a, b = _stack(lo, ld)
        key = np.r_[lo[a], ld[b]] * n_months + np.r_[pm[a], pm[b]]
        got = {}
        for name in ("trajets", "passagers", "metres_passagers", "trajets_incites", "vehicules", "metres_conducteurs"):
            values = pairs[name].to_numpy()
            got[name] = _bincount(key, np.r_[values[a], values[b]], size)
        trips = pairs["trajets"].to_numpy()
        internal = np.r_[np.where(lo[a] == ld[a], trips[a], 0), np.zeros(int(b.sum()), dtype=np.int64)]
        got["trajets_internes"] = _bincount(key, internal, size)
        _add_mixed_cars(got, lut[mo], lut[md], mm, mixed, n_months)
        present = np.flatnonzero(got["trajets"] > 0)
        sums.append(pl.DataFrame({
            "niveau": pl.Series([level] * present.size, dtype=pl.String),
            "code": names.gather(present // n_months), "mois": month_names.gather(present % n_months),
            **{name: got[name][present] for name in _INT_SUMS},
        }))
        # journeys by hour and by distance class
        lo, ld = lut[ho], lut[hd]
        a, b = _stack(lo, ld)
        cell = np.r_[lo[a], ld[b]] * n_months + np.r_[hm[a], hm[b]]
        weight = cells["trajets"].to_numpy()
        weight = np.r_[weight[a], weight[b]]
        for column, bits, out in (("heure", _HOUR_BITS, hours), ("classe_distance", _CLASS_BITS, classes)):
            values = cells[column].to_numpy().astype(np.int64)
            full = (cell << bits) + np.r_[values[a], values[b]]
            counts = _bincount(full, weight, size << bits)
            nz = np.flatnonzero(counts)
            out.append(pl.DataFrame({
                "niveau": pl.Series([level] * nz.size, dtype=pl.String),
                "code": names.gather((nz >> bits) // n_months), "mois": month_names.gather((nz >> bits) % n_months),
                column: pl.Series(nz & ((1 << bits) - 1), dtype=pl.Int8), "trajets": counts[nz],
            }))
    flows = [_flows(places, level, pairs, po, pd_, pm, month_names) for level in FLOW_LEVELS]
    return MonthAggregates(
        mensuel=pl.concat(sums), heures=pl.concat(hours), distances=pl.concat(classes), flux=pl.concat(flows),
        etranger=_foreign_points(places, month.etranger), rejected=rejected,
    )


def _add_mixed_cars(got: dict[str, np.ndarray], lo: np.ndarray, ld: np.ndarray, months: np.ndarray,
                    mixed: pl.DataFrame, n_months: int) -> None:
    """Cars across several pairs: once per territory they touch, their longest journey there."""
    if not mixed.height:
        return
    a, b = _stack(lo, ld)
    per_car = pl.DataFrame({
        "key": np.r_[lo[a], ld[b]] * n_months + np.r_[months[a], months[b]],
        "vehicule": pl.concat([mixed["vehicule"].filter(pl.Series(a)), mixed["vehicule"].filter(pl.Series(b))]),
        "metres": np.r_[mixed["metres_conducteurs"].to_numpy()[a], mixed["metres_conducteurs"].to_numpy()[b]],
    }).group_by("key", "vehicule").agg(pl.col("metres").max()).group_by("key").agg(
        pl.len().cast(pl.Int64).alias("n"), pl.col("metres").sum())
    at = per_car["key"].to_numpy()
    np.add.at(got["vehicules"], at, per_car["n"].to_numpy())
    np.add.at(got["metres_conducteurs"], at, per_car["metres"].to_numpy())


def _flows(places: pl.DataFrame, level: str, pairs: pl.DataFrame, o: np.ndarray, d: np.ndarray,
           months: np.ndarray, month_names: pl.Series) -> pl.DataFrame:
    """Unordered pairs (code_1 <= code_2) of `level` under 80 km, ends abroad keyed by country.

    An end without a territory at this level (a commune outside any EPCI) has no flow there:
    it is left out, not paired with itself.
    """
    ends = places.select(pl.when(pl.col("etranger")).then(pl.col("cle")).otherwise(pl.col(level)))[:, 0]
    lut, names = _dense(ends)
    fo, fd = lut[o], lut[d]
    short = pairs["trajets_courts"].to_numpy()
    ok = (short > 0) & (fo >= 0) & (fd >= 0)
    width = max(1, names.len())
    first, second = np.minimum(fo[ok], fd[ok]), np.maximum(fo[ok], fd[ok])
    key = (months[ok] * width + first) * width + second
    uniq, inverse = np.unique(key, return_inverse=True)
    return pl.DataFrame({
        "mois": month_names.gather(uniq // (width * width)), "code_1": names.gather((uniq // width) % width),
        "code_2": names.gather(uniq % width),
        "trajets": _bincount(inverse, short[ok], uniq.size),
        "passagers": _bincount(inverse, pairs["passagers_courts"].to_numpy()[ok], uniq.size),
    }).with_columns(pl.lit(level).alias("niveau"))


def _foreign_points(places: pl.DataFrame, points: pl.DataFrame) -> pl.DataFrame:
    """Coordinate sums per country of the ends abroad of the journeys kept."""
    other = places.select(pl.col("id").cast(pl.UInt32).alias("autre"), (pl.col("connu") & ~pl.col("etranger")).alias("ok"))
    names = places.select(pl.col("id").cast(pl.UInt32).alias("lieu"), pl.col("cle").alias("code"))
    return (
        points.join(other, on="autre", how="left").filter(pl.col("ok")).join(names, on="lieu", how="left")
        .group_by("code").agg(pl.col("lon").sum(), pl.col("lat").sum(), pl.col("n").sum())
        .with_columns(pl.col("code").str.strip_prefix(FOREIGN_PREFIX).alias("nom"))
    )


# -- all months ----------------------------------------------------------------------------------
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


def aggregate_files(folders: Iterable[Path], codes: pl.DataFrame, *, threshold: int = FLOW_THRESHOLD) -> Aggregates:
    """Aggregate the compact months (folders written by the `rpc` source) one after the other.

    Memory holds one compact month and the sums so far: the communes' yearly distributions are
    summed as the months come (one per calendar year, `periode` = the year), the flows of each
    month are cut at the threshold before being kept.
    """
    mensuel, heures, distances, flux, foreign = [], [], [], [], []
    yearly_h = yearly_c = None
    rows, rejected, months = 0, Counter(), set()
    local = pl.col("niveau").is_in(["commune", "arrondissement"])
    for folder in folders:
        folder = Path(folder)
        rows += int(json.loads((folder / "meta.json").read_text(encoding="utf-8"))["lignes"])
        agg = aggregate_month(Compact.read(folder), codes)
        rejected.update(agg.rejected)
        months.update(agg.mensuel["mois"].to_list())
        mensuel.append(agg.mensuel)
        heures.append(agg.heures.filter(~local))
        distances.append(agg.distances.filter(~local))
        # communes and arrondissements: summed per year as the months come (bounded memory)
        yearly_h = _running_sum(yearly_h, agg.heures.filter(local), "heure")
        yearly_c = _running_sum(yearly_c, agg.distances.filter(local), "classe_distance")
        flux.append(agg.flux.filter(pl.col("passagers") >= threshold))
        foreign.append(agg.etranger)
    if not mensuel:
        raise ValueError("aucun mois à agréger")
    keys = ["niveau", "code", "mois"]
    out_m = pl.concat(mensuel).group_by(keys).agg([pl.col(c).sum() for c in _INT_SUMS]).select(
        *keys, "trajets", "trajets_internes", "passagers", "vehicules",
        (pl.col("metres_passagers") / 1000).alias("km_passagers"),
        (pl.col("metres_conducteurs") / 1000).alias("km_conducteurs"), "trajets_incites")
    dist_keys = ["niveau", "code", "periode"]
    out_h = pl.concat([pl.concat(heures).rename({"mois": "periode"}), yearly_h], how="diagonal_relaxed").group_by(
        dist_keys + ["heure"]).agg(pl.col("trajets").sum())
    out_c = pl.concat([pl.concat(distances).rename({"mois": "periode"}), yearly_c], how="diagonal_relaxed").group_by(
        dist_keys + ["classe_distance"]).agg(pl.col("trajets").sum())
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


def _running_sum(acc: pl.DataFrame | None, new: pl.DataFrame, column: str) -> pl.DataFrame:
    """Journeys per (level, code, year, `column`), adding one month's rows."""
    keys = ["niveau", "code", "periode", column]
    new = new.with_columns(pl.col("mois").str.slice(0, 4).alias("periode")).drop("mois")
    if acc is None:
        return new.group_by(keys).agg(pl.col("trajets").sum())
    return pl.concat([acc, new], how="diagonal_relaxed").group_by(keys).agg(pl.col("trajets").sum())


def complete_years(months: Iterable[str]) -> list[str]:
    """The calendar years whose 12 months are all there: only they get yearly figures."""
    months = set(months)
    years = sorted({m[:4] for m in months})
    return [y for y in years if all(f"{y}-{m:02d}" in months for m in range(1, 13))]


# -- rates, from the sums (the same formulas for the mart and the pages) ------------------------
CO2_G_PER_KM = 195  # ADEME, per vehicle-km avoided, as the observatory


def rates() -> list[pl.Expr]:
    """Occupancy, internal share, incentive share and CO2 avoided, from the summed columns.

    - occupancy (observatory): (passenger km + driver km) / driver km, in people per car;
    - CO2 avoided: each passenger km is a car km avoided, × 195 g (ADEME), in tonnes.

    The sums are read as floats first: the mart stores km as 32-bit integers, and France's
    monthly passenger km × 195 g exceeds 2^31 (it wrapped to a negative CO2 before).
    """
    def f(name: str) -> pl.Expr:
        return pl.col(name).cast(pl.Float64)

    def ratio(num: str, den: str, scale: float = 1.0) -> pl.Expr:
        return pl.when(f(den) > 0).then(f(num) / f(den) * scale)

    return [
        ratio("trajets_internes", "trajets", 100).alias("part_interne"),
        pl.when(f("km_conducteurs") > 0)
        .then((f("km_passagers") + f("km_conducteurs")) / f("km_conducteurs")).alias("taux_occupation"),
        ratio("trajets_incites", "trajets", 100).alias("part_incitation"),
        (f("km_passagers") * CO2_G_PER_KM / 1e6).alias("co2_evite_t"),
    ]
