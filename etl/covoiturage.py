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

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable
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
        """Write the tables into `folder`; the caller writes the marker that validates them.

        Arrow IPC with LZ4 (`_write_cache`): a cache read back by this code only, where Parquet's
        encoding cost a month 0.15 s of CPU against 0.07 s.
        """
        folder.mkdir(parents=True, exist_ok=True)
        for name in COMPACT_TABLES:
            _write_cache(getattr(self, name), folder / f"{name}.arrow")

    @classmethod
    def read(cls, folder: Path) -> Compact:
        return cls(**{name: _read_cache(Path(folder) / f"{name}.arrow") for name in COMPACT_TABLES})

    @property
    def months(self) -> list[str]:
        return sorted(self.paires["mois"].unique().to_list())


def _write_cache(df: pl.DataFrame, path: Path) -> None:
    """An intermediate table (compact month, month aggregates): Arrow IPC, LZ4 (cheap to write and read)."""
    df.write_ipc(path, compression="lz4")


def _read_cache(path: Path, columns: list[str] | None = None) -> pl.DataFrame:
    return pl.read_ipc(path, columns=columns)


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
    # arrays of a row each (7 MB a month) are let go as soon as they are used: a month's peak
    # memory is the file's, not the sum of every intermediate
    c = pl.col
    o, d, names = _place_ids(rows)
    etranger = _foreign_sums(rows, o, d, names.str.starts_with(FOREIGN_PREFIX).to_numpy())
    months = rows["mois"].unique().sort()
    place_bits = max(1, (len(names) - 1).bit_length())
    month_bits = max(1, (months.len() - 1).bit_length())
    low = month_bits + _HOUR_BITS + _CLASS_BITS
    if 2 * place_bits + low > 64:
        raise ValueError(f"trop de lieux ({len(names)}) ou de mois ({months.len()}) dans un fichier pour une clé de 64 bits")
    key = o << np.uint64(place_bits)
    del o
    key |= d
    del d
    key <<= np.uint64(month_bits)
    key |= _ids_in(rows["mois"], months)
    key <<= np.uint64(_HOUR_BITS)
    key |= rows["heure"].to_numpy().astype(np.uint64)
    key <<= np.uint64(_CLASS_BITS)
    dist = rows["distance_m"].to_numpy().astype(np.int64)
    key |= np.clip(dist // 10_000, 0, len(DISTANCE_LABELS) - 1).astype(np.uint64)
    order = pl.Series(key, dtype=pl.UInt64).arg_sort().to_numpy()
    k = key[order]
    del key
    dist = dist[order]
    p = rows["passagers"].to_numpy().astype(np.int64)[order]
    inc = rows["incitation"].to_numpy()[order]
    # a car: its trip_id as a 64-bit hash (odds of two ids colliding in a month: about 1e-8)
    car = rows.select(c("trip_id").hash(seed=0))[:, 0].to_numpy()[order]
    del order
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
    del multi, per_pair, car

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
    del p, inc, dist, short, seul, pair_key
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
        paires=paires, horaires=horaires, mixtes=mixtes, etranger=etranger,
    )


def _ids_in(values: pl.Series, names: pl.Series) -> np.ndarray:
    """Position of each value in `names` (a short sorted list: the months of a file)."""
    out = np.zeros(values.len(), dtype=np.uint64)
    for i, name in enumerate(names.to_list()[1:], start=1):
        out[(values == name).to_numpy()] = i
    return out


def _unique_mask(values: np.ndarray) -> np.ndarray:
    """True where a 64-bit value occurs once.

    A count per bucket of the low 22 bits says which values surely occur once; only the rest
    (values repeated, and the values sharing their bucket) go through an exact hash check.
    """
    bucket = (values & np.uint64((1 << 22) - 1)).astype(np.intp)
    maybe = np.flatnonzero(np.bincount(bucket, minlength=1 << 22)[bucket] > 1)
    out = np.ones(values.size, dtype=bool)
    if maybe.size:
        out[maybe] = ~pl.Series(values[maybe], dtype=pl.UInt64).is_duplicated().to_numpy()
    return out


#: Place numbers before they are made dense: a 5-digit code is its number, Corsica's 2A/2B codes
#: follow, then the countries of the ends abroad.
_CORSICA = {"2A": 100_000, "2B": 101_000}
_ABROAD_BASE = 102_000


def _place_ids(rows: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, pl.Series]:
    """Dense ids of the origin and destination places, and the places' keys (in id order).

    A place is the code as written (5 characters, checked by the source); a point abroad
    (`99xxx`, `XXXXX`) is `etranger:<country>`, so that flows and maps keep the country. A code
    of digits is read as its number (cheaper than hashing text); the few others apart.
    """
    numbers, abroad_keys = [], []
    for side in ("depart", "arrivee"):
        code = rows["insee_" + side]
        number = code.str.to_integer(strict=False).fill_null(-1).to_numpy().astype(np.int64)
        other = np.flatnonzero(number < 0)
        if other.size:  # 2A/2B (Corsica) and XXXXX
            text = code.gather(other)
            base = text.str.slice(0, 2).replace_strict(_CORSICA, default=-1, return_dtype=pl.Int64).to_numpy()
            tail = text.str.slice(2).str.to_integer(strict=False).fill_null(0).to_numpy()
            number[other] = np.where(base >= 0, base + tail, -2)
        abroad = np.flatnonzero(((number >= 99_000) & (number < 100_000)) | (number == -2))
        abroad_keys.append((abroad, FOREIGN_PREFIX + rows["pays_" + side].gather(abroad).fill_null("inconnu")))
        numbers.append(number)
    extra = pl.concat([k for _, k in abroad_keys]).unique(maintain_order=True)
    for number, (abroad, keys) in zip(numbers, abroad_keys, strict=True):
        number[abroad] = _ABROAD_BASE + keys.replace_strict(extra, pl.int_range(extra.len(), eager=True),
                                                              return_dtype=pl.Int64).to_numpy()
    present = np.zeros(_ABROAD_BASE + extra.len(), dtype=bool)
    for number in numbers:
        present[number] = True
    dense = np.cumsum(present) - 1
    kept = np.flatnonzero(present[:_ABROAD_BASE])
    c = pl.col("n")
    codes = pl.DataFrame({"n": kept}).select(
        pl.when(c < 100_000).then(c.cast(pl.String).str.zfill(5)).otherwise(pl.concat_str(
            pl.when(c < _CORSICA["2B"]).then(pl.lit("2A")).otherwise(pl.lit("2B")), (c % 1000).cast(pl.String).str.zfill(3)))
    )[:, 0]
    keys = pl.concat([codes, extra])  # every country key is used by some row: all present, in order
    o, d = (dense[n].astype(np.uint64) for n in numbers)
    return o, d, keys


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


# -- step 2: compact months to territories -----------------------------------------------------
LOCAL_LEVELS = ("commune", "arrondissement")
#: The distributions: hours as written (0-99), distance classes (0-5); arrays as wide as the bins used.
_BINS = ("heure", "classe_distance")


@dataclass
class Territories:
    """Today's territories of each level with a fixed id (the rank of their code), and the code table.

    Fixed ids let the months be summed into plain arrays, whatever places each month holds.
    """

    codes: pl.DataFrame
    names: dict[str, pl.Series]

    @classmethod
    def of(cls, codes: pl.DataFrame) -> Territories:
        names = {lv: codes[lv].drop_nulls().unique().sort() for lv in CODE_COLUMNS}
        return cls(codes, {**names, "france": pl.Series([FRANCE_CODE], dtype=pl.String)})

    def places(self, lieux: pl.DataFrame) -> pl.DataFrame:
        """A month's places (in id order): abroad and known flags, and the id of each level (-1: none)."""
        places = lieux.sort("id").join(self.codes, left_on="cle", right_on="insee", how="left", maintain_order="left")
        abroad = pl.col("cle").str.starts_with(FOREIGN_PREFIX)
        places = places.with_columns(abroad.alias("etranger"), (abroad | pl.col("commune").is_not_null()).alias("connu"),
                                     pl.when(~abroad).then(pl.lit(FRANCE_CODE)).alias("france"))
        for level in LEVELS:
            index = pl.DataFrame({level: self.names[level], f"_{level}": pl.int_range(self.names[level].len(),
                                                                                      eager=True)})
            places = places.join(index, on=level, how="left", maintain_order="left").with_columns(
                pl.col(f"_{level}").fill_null(-1))
        return places


#: Levels in the order of their names (the order of the published tables), and their rank.
_LEVELS_SORTED = tuple(sorted(LEVELS))
_LEVEL_RANK = {level: i for i, level in enumerate(_LEVELS_SORTED)}


@dataclass
class MonthAggregates:
    """One month file's sums per territory: frames for every level but the local distributions.

    In `mensuel`, `heures` and `distances`, `niveau` is the level's rank in `_LEVELS_SORTED` and
    `code` the territory's id in `Territories.names` (sorted codes): small integers that sort
    as the text does, turned into text once all months are combined (`_named`).

    `local` holds the commune and arrondissement distributions as arrays: (level, column, year)
    -> journeys per (territory id, bin), summed into the year by `aggregate_files`.
    """

    mensuel: pl.DataFrame
    heures: pl.DataFrame
    distances: pl.DataFrame
    flux: pl.DataFrame
    etranger: pl.DataFrame
    local: dict[tuple[str, str, str], np.ndarray]
    rejected: Counter


def _bincount(keys: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """Integer sums of `weights` per key 0..size-1 (exact: every partial sum stays under 2^53)."""
    return np.bincount(keys, weights=weights, minlength=size).astype(np.int64)


def _stack(lo: np.ndarray, ld: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row positions counted at their origin's territory, then at their destination's (when different),
    and the territory of each: a journey with both ends in a territory counts once there."""
    at_origin = np.flatnonzero(lo >= 0)
    at_destination = np.flatnonzero((ld >= 0) & ((lo < 0) | (lo != ld)))
    return np.r_[at_origin, at_destination], np.r_[lo[at_origin], ld[at_destination]]


def _ends(lo: np.ndarray, ld: np.ndarray, months: np.ndarray, n_months: int,
          size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bins of each row at its origin's territory and at its destination's (territory × month),
    `size` (a spare bin) where the row does not count there: no territory at this level, or the
    destination's territory is the origin's (a journey internal to a territory counts once)."""
    same = (lo >= 0) & (lo == ld)
    key_o = np.where(lo >= 0, lo * n_months + months, size)
    key_d = np.where((ld >= 0) & ~same, ld * n_months + months, size)
    return key_o, key_d, same


def _month_ids(values: pl.Series, names: pl.Series) -> np.ndarray:
    out = np.zeros(values.len(), dtype=np.int64)
    for i, name in enumerate(names.to_list()[1:], start=1):
        out[(values == name).to_numpy()] = i
    return out


def aggregate_month(month: Compact, territories: Territories) -> MonthAggregates:
    """Every per-territory aggregate of one compact month (unfiltered flows, per-month distributions)."""
    places = territories.places(month.lieux)
    abroad, known = places["etranger"].to_numpy(), places["connu"].to_numpy()
    rejected: Counter = Counter()

    def kept(df: pl.DataFrame, counted: bool = False) -> pl.DataFrame:
        o, d = df["o"].to_numpy(), df["d"].to_numpy()
        unknown = ~known[o] | ~known[d]
        both_abroad = ~unknown & abroad[o] & abroad[d]
        if counted:
            trips = df["trajets"].to_numpy()
            if unknown.any():
                rejected["code commune inconnu du COG 2026 (ni actuel, ni ancien, ni arrondissement)"] += int(
                    trips[unknown].sum())
            if both_abroad.any():
                rejected["départ et arrivée à l'étranger"] += int(trips[both_abroad].sum())
        ok = ~unknown & ~both_abroad
        return df if ok.all() else df.filter(pl.Series(ok))

    pairs, cells, mixed = kept(month.paires, counted=True), kept(month.horaires), kept(month.mixtes)
    month_names = pl.concat([pairs["mois"], cells["mois"], mixed["mois"]]).unique().sort()
    n_months = max(1, month_names.len())
    po, pd_, pm = pairs["o"].to_numpy(), pairs["d"].to_numpy(), _month_ids(pairs["mois"], month_names)
    ho, hd, hm = cells["o"].to_numpy(), cells["d"].to_numpy(), _month_ids(cells["mois"], month_names)
    # weights as floats once (bincount's own type; exact under 2^53)
    pair_values = {name: pairs[name].to_numpy().astype(np.float64) for name in (
        "trajets", "passagers", "metres_passagers", "trajets_incites", "vehicules", "metres_conducteurs")}
    cell_values = {name: cells[name].to_numpy().astype(np.int64) for name in ("heure", "classe_distance")}
    cell_trips = cells["trajets"].to_numpy().astype(np.float64)
    # bins as used this month (24 hours, 6 classes), within the fixed widths of the yearly arrays
    bins_used = {c: int(cell_values[c].max()) + 1 if cells.height else 1 for c in _BINS}
    years = sorted({m[:4] for m in month_names.to_list()})
    sums, dists, local = [], {"heure": [], "classe_distance": []}, {}
    for level in LEVELS:
        lut = places[f"_{level}"].to_numpy()
        names = territories.names[level]
        size = names.len() * n_months
        # sums per territory and month: each pair counted at its origin's territory, and at its
        # destination's when different; rows without a territory there go to a spare last bin
        key_o, key_d, same = _ends(lut[po], lut[pd_], pm, n_months, size)
        got = {name: _bincount(key_o, values, size + 1)[:size] + _bincount(key_d, values, size + 1)[:size]
               for name, values in pair_values.items()}
        got["trajets_internes"] = _bincount(key_o, np.where(same, pair_values["trajets"], 0.0), size + 1)[:size]
        _add_mixed_cars(got, lut, mixed, month_names, n_months)
        present = np.flatnonzero(got["trajets"] > 0)
        sums.append(pl.DataFrame({
            "niveau": pl.Series(np.full(present.size, _LEVEL_RANK[level]), dtype=pl.UInt8),
            "code": pl.Series(present // n_months, dtype=pl.UInt32), "mois": month_names.gather(present % n_months),
            **{name: got[name][present] for name in _INT_SUMS},
        }))
        # journeys by hour and by distance class
        key_o, key_d, _ = _ends(lut[ho], lut[hd], hm, n_months, size)
        for column in _BINS:
            bins = bins_used[column]
            value = cell_values[column]
            counts = (_bincount(key_o * bins + value, cell_trips, (size + 1) * bins)
                      + _bincount(key_d * bins + value, cell_trips, (size + 1) * bins))[: size * bins]
            if level in LOCAL_LEVELS:  # kept per year, as arrays over every territory of the level
                grid = counts.reshape(names.len(), n_months, bins)
                for year in years:
                    in_year = [i for i, m in enumerate(month_names.to_list()) if m.startswith(year)]
                    # as wide as the bins used (24 hours, not the 128 the key allows): 3 MB a year, not 36
                    local[(level, column, year)] = grid[:, in_year, :].sum(axis=1)
                continue
            nz = np.flatnonzero(counts)
            dists[column].append(pl.DataFrame({
                "niveau": pl.Series(np.full(nz.size, _LEVEL_RANK[level]), dtype=pl.UInt8),
                "code": pl.Series(nz // bins // n_months, dtype=pl.UInt32),
                "periode": month_names.gather(nz // bins % n_months),
                column: pl.Series(nz % bins, dtype=pl.Int8), "trajets": counts[nz],
            }))
    flows = [_flows(places, level, pairs, po, pd_, pm, month_names) for level in FLOW_LEVELS]
    return MonthAggregates(
        mensuel=pl.concat(sums), heures=pl.concat(dists["heure"]), distances=pl.concat(dists["classe_distance"]),
        flux=pl.concat(flows), etranger=_foreign_points(places, month.etranger), local=local, rejected=rejected,
    )


def _add_mixed_cars(got: dict[str, np.ndarray], lut: np.ndarray, mixed: pl.DataFrame, month_names: pl.Series,
                    n_months: int) -> None:
    """Cars across several pairs: once per territory they touch, their longest journey there."""
    if not mixed.height:
        return
    rows, code = _stack(lut[mixed["o"].to_numpy()], lut[mixed["d"].to_numpy()])
    per_car = pl.DataFrame({
        "key": code * n_months + _month_ids(mixed["mois"], month_names)[rows],
        "vehicule": mixed["vehicule"].gather(rows), "metres": mixed["metres_conducteurs"].to_numpy()[rows],
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
    names = ends.drop_nulls().unique().sort()
    lut = places.select(ends.alias("e")).join(
        pl.DataFrame({"e": names, "i": pl.int_range(names.len(), eager=True)}), on="e", how="left",
        maintain_order="left")["i"].fill_null(-1).to_numpy()
    fo, fd = lut[o], lut[d]
    short = pairs["trajets_courts"].to_numpy()
    ok = (short > 0) & (fo >= 0) & (fd >= 0)
    width = max(1, names.len())
    first, second = np.minimum(fo[ok], fd[ok]), np.maximum(fo[ok], fd[ok])
    key = (months[ok] * width + first) * width + second
    trips, passengers = short[ok].astype(np.float64), pairs["passagers_courts"].to_numpy()[ok].astype(np.float64)
    cells = max(1, month_names.len()) * width * width
    if cells <= 1 << 16:  # few territories: one bin per possible pair (EPCI: 1.6 million cells, 25 MB: not)
        trips, passengers = _bincount(key, trips, cells), _bincount(key, passengers, cells)
        uniq = np.flatnonzero(trips)
        trips, passengers = trips[uniq], passengers[uniq]
    else:  # communes: the pairs present only
        uniq, inverse = np.unique(key, return_inverse=True)
        trips, passengers = _bincount(inverse, trips, uniq.size), _bincount(inverse, passengers, uniq.size)
    return pl.DataFrame({
        "mois": month_names.gather(uniq // (width * width)), "code_1": names.gather((uniq // width) % width),
        "code_2": names.gather(uniq % width), "trajets": trips, "passagers": passengers,
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
    """Everything the mart needs from the journeys, summed over the months read.

    The months' sums stay on disk (each month's `agregats/` folder, `_month_aggregates`): each of
    `mensuel`, `heures`, `distances`, `flux` and `etranger` reads back only its own frame of
    every month and combines them when asked, and nothing is kept afterwards. Memory thus holds
    one table at a time (the runner writes and lets go of each before the next), not the sums of
    every month and every table at once, which grew with the months (about 3 MB a month and the
    five tables together, 130 MB at 24 months). Each access combines again: read a table once.
    """

    caches: list[Path]
    territories: Territories
    #: each month's key (`_month_aggregates`): a folder since aggregated with other codes is refused
    keys: list[dict] = field(default_factory=list)
    threshold: int = FLOW_THRESHOLD
    #: a month found in several files (a file holding some journeys of the month before): summed
    repeated: bool = False
    rows: int = 0
    rejected: Counter = field(default_factory=Counter)
    months: list[str] = field(default_factory=list)

    def _checked(self) -> list[Path]:
        """The months' folders, once checked to still hold the sums aggregated here."""
        for cache, key in zip(self.caches, self.keys, strict=True):
            meta = json.loads((cache / "meta.json").read_text(encoding="utf-8"))
            if meta.get("cle") != key:
                raise ValueError(f"agrégats de {cache.parent.name} recalculés depuis (autre table des codes ?) : "
                                 "agréger à nouveau les mois")
        return self.caches

    def _combined(self, name: str, keys: list[str], kept: Callable[[pl.DataFrame], pl.DataFrame] | None = None
                  ) -> pl.DataFrame:
        """Frame `name` of every month as one, sorted on `keys` (integers but the flows' codes).

        While combined, months are integers (they sort as the text does) and the flows' codes
        a categorical of one dictionary (4 bytes a row instead of 16); text again once combined.
        """
        text = pl.Categorical(pl.Categories.random())
        frames = []
        for cache in self._checked():
            df = _read_cache(cache / f"{name}.arrow")
            if kept is not None:
                df = kept(df)
            frames.append(df.with_columns(_month_number(pl.col(c)) for c in ("mois", "periode") if c in df.columns)
                          .with_columns(pl.col(pl.String).cast(text)))
        out = pl.concat(frames, how="vertical_relaxed")
        frames.clear()  # memory holds the result once
        if self.repeated:
            out = out.group_by(keys).agg(pl.exclude(keys).sum())
        return out.with_columns(pl.col(pl.Categorical).cast(pl.String)).sort(keys)

    def _local(self, column: str) -> pl.DataFrame:
        """The yearly distributions of communes and arrondissements over `column`, summed from the
        months' arrays as they are read (one year's array per level at a time held)."""
        local: dict[tuple[str, str, str], np.ndarray] = {}
        for cache in self._checked():
            with np.load(cache / "local.npz") as arrays:
                for name in arrays.files:
                    key = tuple(name.split("|"))
                    if key[1] == column:
                        local[key] = _add_counts(local.get(key), arrays[name])
        return _local_frame(local, column)

    @property
    def mensuel(self) -> pl.DataFrame:
        """Per level, territory and month: the sums (km as floats)."""
        keys = ["niveau", "code", "mois"]
        return _month_text(_named(self._combined("mensuel", keys), self.territories), "mois").select(
            *keys, "trajets", "trajets_internes", "passagers", "vehicules",
            (pl.col("metres_passagers") / 1000).alias("km_passagers"),
            (pl.col("metres_conducteurs") / 1000).alias("km_conducteurs"), "trajets_incites")

    def _distribution(self, name: str, column: str) -> pl.DataFrame:
        dist_keys = ["niveau", "code", "periode"]
        # the yearly distributions of communes and arrondissements come first: their levels' names
        # sort before the others' (arrondissement, commune < departement, epci, france, region)
        assert max(_LEVEL_RANK[lv] for lv in LOCAL_LEVELS) < min(_LEVEL_RANK[lv] for lv in MONTHLY_DISTRIBUTION_LEVELS)
        return _named(pl.concat([self._local(column),
                                 _month_text(self._combined(name, dist_keys + [column]), "periode")],
                                how="vertical_relaxed").select(*dist_keys, column, "trajets"), self.territories)

    @property
    def heures(self) -> pl.DataFrame:
        """Journeys by departure hour: per year for communes and arrondissements, per month above."""
        return self._distribution("heures", "heure")

    @property
    def distances(self) -> pl.DataFrame:
        """Journeys by distance class, as `heures`."""
        return self._distribution("distances", "classe_distance").with_columns(
            pl.col("classe_distance").replace_strict(dict(enumerate(DISTANCE_LABELS)), return_dtype=pl.String))

    @property
    def flux(self) -> pl.DataFrame:
        """Origin-destination pairs per month with at least `threshold` passengers."""
        out = _month_text(self._combined("flux", ["niveau", "mois", "code_1", "code_2"],
                                         lambda df: df.filter(pl.col("passagers") >= self.threshold)), "mois")
        return out.select("niveau", "mois", "code_1", "code_2", "trajets", "passagers")

    @property
    def etranger(self) -> pl.DataFrame:
        """Where the foreign ends of flows are drawn: the mean of their points."""
        pts = pl.concat([_read_cache(cache / "etranger.arrow") for cache in self._checked()]).group_by("code", "nom").agg(
            pl.col("lon").sum(), pl.col("lat").sum(), pl.col("n").sum())
        return pts.select("code", "nom", (pl.col("lon") / pl.col("n") / 1e5).alias("longitude"),
                          (pl.col("lat") / pl.col("n") / 1e5).alias("latitude")).sort("code")


def aggregate_files(folders: Iterable[Path], codes: pl.DataFrame, *, threshold: int = FLOW_THRESHOLD) -> Aggregates:
    """Aggregate the compact months (folders written by the `rpc` source) one after the other.

    Each month's aggregates are kept beside its compact month (`agregats/`) and reused by later
    runs; memory holds one month being aggregated, then nothing of it: the tables are combined
    from those folders when asked (`Aggregates`). The flows of each month are cut at the
    threshold when combined, the communes' distributions summed per calendar year.
    """
    territories = Territories.of(codes)
    codes_key = hashlib.sha256(codes.sort("insee").write_csv().encode()).hexdigest()[:16]
    caches, keys, rows, rejected, per_file = [], [], 0, Counter(), []
    for folder in folders:
        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        rows += int(meta["lignes"])
        cache, month_rejected = _month_aggregates(folder, meta.get("cle"), territories, codes_key)
        keys.append(json.loads((cache / "meta.json").read_text(encoding="utf-8"))["cle"])
        rejected.update(month_rejected)
        per_file.append(set(_read_cache(cache / "mensuel.arrow", columns=["mois"])["mois"].to_list()))
        caches.append(cache)
    if not caches:
        raise ValueError("aucun mois à agréger")
    months = set().union(*per_file)
    return Aggregates(caches=caches, keys=keys, territories=territories, threshold=threshold,
                      repeated=len(months) < sum(len(m) for m in per_file), rows=rows, rejected=rejected,
                      months=sorted(months))


def _month_number(month: pl.Expr) -> pl.Expr:
    """"YYYY-MM" -> year × 12 + month - 1 (an integer that sorts as the text does)."""
    return month.str.slice(0, 4).cast(pl.Int32) * 12 + month.str.slice(5, 2).cast(pl.Int32) - 1


def _month_text(df: pl.DataFrame, column: str) -> pl.DataFrame:
    """The months of `column` (`_month_number`) back to "YYYY-MM", through the few distinct months."""
    numbers = df[column].unique().sort()
    names = pl.Series([f"{n // 12:04d}-{n % 12 + 1:02d}" for n in numbers.to_list()], dtype=pl.String)
    return df.with_columns(pl.col(column).replace_strict(numbers, names, return_dtype=pl.String))


def _add_counts(total: np.ndarray | None, counts: np.ndarray) -> np.ndarray:
    """A year's distribution so far plus a month's, the narrower widened (a month may use fewer hours)."""
    counts = counts.astype(np.int64)
    if total is None:
        return counts
    width = max(total.shape[1], counts.shape[1])
    if total.shape[1] < width:
        total = np.pad(total, ((0, 0), (0, width - total.shape[1])))
    total[:, : counts.shape[1]] += counts
    return total


def _named(df: pl.DataFrame, territories: Territories) -> pl.DataFrame:
    """Level ranks and territory ids to their text, in place (two gathers: no copy of the other columns)."""
    all_names = pl.concat([territories.names[level] for level in _LEVELS_SORTED])
    offsets = np.cumsum([0] + [territories.names[level].len() for level in _LEVELS_SORTED])[:-1]
    rank = df["niveau"].to_numpy()
    at = pl.Series(offsets[rank] + df["code"].to_numpy(), dtype=pl.UInt32)
    return df.with_columns(pl.Series(_LEVELS_SORTED, dtype=pl.String).gather(rank).alias("niveau"),
                           all_names.gather(at).alias("code"))


#: What a month's aggregates depend on besides its compact month and the code table: this module.
AGGREGATION_VERSION = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
_FRAMES = ("mensuel", "heures", "distances", "flux", "etranger")


def _month_aggregates(folder: Path, compact_key: object, territories: Territories,
                      codes_key: str) -> tuple[Path, Counter]:
    """A compact month's aggregates, from the `agregats/` folder beside it when they were computed
    from the same compact month, the same code table and the same code; else computed and kept.
    Returns that folder and the month's rejected rows: the frames are read back when combined.

    A refresh thus aggregates the new month only; the other months are read back (flows are
    kept before the threshold, which is applied when the months are combined).
    """
    cache = Path(folder) / "agregats"
    key = {"mois": compact_key, "codes": codes_key, "code": AGGREGATION_VERSION}
    meta_path = cache / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("cle") == key:
            return cache, Counter(meta["rejets"])
    agg = aggregate_month(Compact.read(folder), territories)
    cache.mkdir(parents=True, exist_ok=True)
    meta_path.unlink(missing_ok=True)
    for n in _FRAMES:
        _write_cache(getattr(agg, n), cache / f"{n}.arrow")
    for counts in agg.local.values():  # journeys of one month per territory and bin: far below 2^31
        if counts.size and counts.max() >= 1 << 31:
            raise ValueError("répartition d'un mois au-delà de 2^31 trajets")
    with open(cache / "local.npz", "wb") as fh:
        np.savez(fh, **{"|".join(k): v.astype(np.int32) for k, v in agg.local.items()})
    meta_path.write_text(json.dumps({"cle": key, "rejets": dict(agg.rejected)}), encoding="utf-8")
    return cache, agg.rejected


def _local_frame(local: dict[tuple[str, str, str], np.ndarray], column: str) -> pl.DataFrame:
    """The yearly distributions of communes and arrondissements, from their arrays (ids, as the
    months'), sorted by level, territory, year and bin."""
    frames = [pl.DataFrame(schema={"niveau": pl.UInt8, "code": pl.UInt32, "periode": pl.Int32, column: pl.Int8,
                                   "trajets": pl.Int64})]
    for (level, col, year), counts in sorted(local.items()):
        if col != column:
            continue
        code, value = np.nonzero(counts)
        frames.append(pl.DataFrame({
            "niveau": pl.Series(np.full(code.size, _LEVEL_RANK[level]), dtype=pl.UInt8),
            "code": pl.Series(code, dtype=pl.UInt32), "periode": pl.Series(np.full(code.size, int(year)), dtype=pl.Int32),
            column: pl.Series(value, dtype=pl.Int8), "trajets": counts[code, value],
        }))
    years = pl.concat(frames).sort("niveau", "code", "periode", column)
    return years.with_columns(pl.col("periode").cast(pl.String).str.zfill(4))


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
