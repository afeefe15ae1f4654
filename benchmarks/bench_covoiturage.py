"""Benchmark: registry trip files (CSV) to carpooling marts, our pipeline against plain pandas.

    python benchmarks/bench_covoiturage.py                  # simulate 12 months (scale 1.4), then measure
    python benchmarks/bench_covoiturage.py --files DIR      # reuse simulated files (YYYY-MM.csv.gz)

Both implementations read the same 12 gzip-compressed monthly files of the simulator
(`etl/simulate_rpc.py`; scale 1.4 gives more than 10 million rows, the real 2024 totals give
7.3 million) and compute the same aggregates: per level (commune, arrondissement, EPCI,
département, région, France) and month, journeys with origin or destination in the territory,
internal journeys, passengers, distinct cars, passenger and driver km, journeys with an
incentive; journeys by hour and by distance class; commune and EPCI flows of 10 passengers or
more; and write them to Parquet.

- ours: `etl.sources.rpc.parse_files` (CSV -> typed Parquet per month, streaming) then
  `etl.covoiturage.aggregate_files` (one month at a time) and the mart's `build_tables`;
- baseline: a straightforward pandas version, as one would write it first: each month read with
  `read_csv`, merged with the code table, grouped, the results concatenated and summed.

Each run is a fresh subprocess, so that its peak memory (max RSS) is its own. Nothing is
asserted: the script prints times, peaks and ratios (docs/benchmarks.md), and checks that both
implementations give the same totals.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]


# -- the baseline -----------------------------------------------------------------------------
def pandas_pipeline(files: list[Path], codes, out: Path) -> dict:
    """Plain pandas: read_csv each month, merge codes, group, concatenate, sum."""
    import numpy as np
    import pandas as pd

    from etl.covoiturage import DISTANCE_LABELS, FLOW_MAX_KM, FLOW_THRESHOLD, LEVELS

    text = {c: str for c in ("journey_start_insee", "journey_end_insee", "journey_start_department",
                             "journey_end_department", "trip_id", "journey_id")}
    sums, hours, classes, flows = [], [], [], []
    rows = 0
    for path in files:
        df = pd.read_csv(path, sep=";", dtype=text)
        rows += len(df)
        df = df.dropna(subset=["journey_id", "trip_id", "journey_start_date", "passenger_seats", "journey_distance"])
        df["mois"] = df["journey_start_date"].str[:7]
        df["heure"] = df["journey_start_time"].str[:2].astype(int)
        df["classe"] = np.minimum(df["journey_distance"] // 10_000, 5).astype(int)
        df["pm"] = df["passenger_seats"] * df["journey_distance"]
        df["inc"] = df["has_incentive"] == "OUI"
        for end, col in (("o", "journey_start_insee"), ("d", "journey_end_insee")):
            df = df.merge(codes.add_suffix(f"_{end}"), left_on=col, right_on=f"insee_{end}", how="left")
            df[f"france_{end}"] = np.where(df[col].str.match(r"^(99\d{3}|XXXXX)$"), None, "FR")
        for level in LEVELS:
            o, d = df[f"{level}_o"], df[f"{level}_d"]
            a = df[o.notna()].assign(code=o[o.notna()], interne=(o == d)[o.notna()])
            keep = d.notna() & (o.isna() | (o != d))
            b = df[keep].assign(code=d[keep], interne=False)
            st = pd.concat([a, b])
            car = st.groupby(["code", "mois", "trip_id"]).agg(
                n=("journey_id", "size"), p=("passenger_seats", "sum"), pm=("pm", "sum"),
                dm=("journey_distance", "max"), i=("inc", "sum"), it=("interne", "sum"))
            s = car.groupby(["code", "mois"]).agg(
                trajets=("n", "sum"), trajets_internes=("it", "sum"), passagers=("p", "sum"), vehicules=("n", "size"),
                km_passagers=("pm", "sum"), km_conducteurs=("dm", "sum"), trajets_incites=("i", "sum")).reset_index()
            s["niveau"] = level
            sums.append(s)
            h = st.groupby(["code", "mois", "heure"]).size().rename("trajets").reset_index()
            h["niveau"] = level
            hours.append(h)
            c = st.groupby(["code", "mois", "classe"]).size().rename("trajets").reset_index()
            c["niveau"] = level
            classes.append(c)
        short = df[df["journey_distance"] < FLOW_MAX_KM * 1000]
        for level in ("commune", "epci"):
            o = short[f"{level}_o"].where(short["france_o"].notna(), "etranger:" + short["journey_start_country"])
            d = short[f"{level}_d"].where(short["france_d"].notna(), "etranger:" + short["journey_end_country"])
            pairs = pd.DataFrame({"mois": short["mois"], "code_1": np.minimum(o.fillna("~"), d.fillna("~")),
                                  "code_2": np.maximum(o.fillna("~"), d.fillna("~")), "p": short["passenger_seats"]})
            pairs = pairs[(pairs["code_1"] != "~") & (pairs["code_2"] != "~")]
            f = pairs.groupby(["mois", "code_1", "code_2"]).agg(trajets=("p", "size"), passagers=("p", "sum")).reset_index()
            f = f[f["passagers"] >= FLOW_THRESHOLD]
            f["niveau"] = level
            flows.append(f)
        del df
    mensuel = pd.concat(sums).groupby(["niveau", "code", "mois"]).sum().reset_index()
    mensuel["km_passagers"] /= 1000
    mensuel["km_conducteurs"] /= 1000
    heures = pd.concat(hours).groupby(["niveau", "code", "mois", "heure"]).sum().reset_index()
    distances = pd.concat(classes).groupby(["niveau", "code", "mois", "classe"]).sum().reset_index()
    distances["classe"] = distances["classe"].map(dict(enumerate(DISTANCE_LABELS)))
    flux = pd.concat(flows)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("mensuel", mensuel), ("heures", heures), ("distances", distances), ("flux", flux)):
        frame.to_parquet(out / f"{name}.parquet")
    fr = mensuel[mensuel["niveau"] == "france"]
    return {"rows": rows, "trajets_france": int(fr["trajets"].sum()), "vehicules_france": int(fr["vehicules"].sum()),
            "flux": len(flux)}


# -- ours -------------------------------------------------------------------------------------
def polars_pipeline(files: list[Path], territoires, passage, out: Path) -> dict:
    import polars as pl

    from etl import covoiturage as cv
    from etl.marts.covoiturage import build_tables
    from etl.sources.rpc import parse_files
    from etl.store import write_parquet

    parsed = parse_files({p.name[:7]: p for p in files}, out / "types")
    codes = cv.code_table(territoires, passage)
    agg = cv.aggregate_files([Path(p) for p in parsed.frame["fichier_type"].to_list()], codes)
    tables, indicateurs = build_tables(agg, territoires, "simule")
    for rel, df in {**tables, "indicateurs.parquet": indicateurs}.items():
        write_parquet(df, out / rel)
    fr = agg.mensuel.filter(pl.col("niveau") == "france")
    return {"rows": parsed.rows_read, "trajets_france": int(fr["trajets"].sum()),
            "vehicules_france": int(fr["vehicules"].sum()), "flux": agg.flux.height}


def worker(kind: str, files: list[Path]) -> None:
    """One measured run (in its own process): prints a JSON line."""
    import polars as pl

    from etl.config import mirror_dir
    from etl.covoiturage import code_table

    territoires = pl.read_parquet(ROOT / "data" / "territoires.parquet")
    passage = pl.read_csv(mirror_dir() / "cog-passage" / "passage-codes-communes-cog2026.csv", separator=";",
                          infer_schema=False).rename({"code_2026": "code_actuel"})
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as tmp:
        start = time.perf_counter()
        if kind == "polars":
            result = polars_pipeline(files, territoires, passage, Path(tmp))
        else:
            codes = code_table(territoires, passage).with_columns(pl.all().cast(pl.String)).to_pandas()
            del territoires
            result = pandas_pipeline(files, codes, Path(tmp))
        seconds = time.perf_counter() - start
    # VmHWM: this process's own high-water mark (ru_maxrss may carry the parent's across fork/exec)
    status = Path("/proc/self/status").read_text().splitlines()
    peak = next(int(x.split()[1]) for x in status if x.startswith("VmHWM")) / 1024
    print(json.dumps({"kind": kind, "months": len(files), "seconds": seconds, "peak_mb": peak, **result}))


def measure(kind: str, files: list[Path]) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--files", str(files[0].parent), "--months",
           ",".join(p.name[:7] for p in files)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", help="dossier de fichiers simulés AAAA-MM.csv.gz (sinon : simulés ici)")
    parser.add_argument("--scale", type=float, default=1.4, help="échelle du simulateur (1,4 : plus de 10 millions de lignes)")
    parser.add_argument("--worker", choices=["polars", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--months", default=",".join(MONTHS), help=argparse.SUPPRESS)
    parser.add_argument("--skip-pandas-3", action="store_true", help="ne pas mesurer pandas sur 3 mois")
    args = parser.parse_args()
    months = args.months.split(",")
    if args.worker:
        worker(args.worker, [Path(args.files) / f"{m}.csv.gz" for m in months])
        return

    tmp = None
    if args.files:
        folder = Path(args.files)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-rpc-")
        folder = Path(tmp.name)
        print(f"Simulation de 12 mois (échelle {args.scale}) dans {folder}…", flush=True)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "etl", "simulate-rpc", "--months", "2024-01..2024-12", "--out",
                        str(folder), "--scale", str(args.scale)], check=True, cwd=ROOT, capture_output=True)
        print(f"  {time.perf_counter() - t0:.0f} s", flush=True)
    files = [folder / f"{m}.csv.gz" for m in MONTHS]
    size = sum(f.stat().st_size for f in files) / 1e6

    runs = [("polars", files), ("pandas", files), ("polars", files[:3])]
    if not args.skip_pandas_3:
        runs.append(("pandas", files[:3]))
    results = []
    for kind, fs in runs:
        print(f"mesure : {kind}, {len(fs)} mois…", flush=True)
        results.append(measure(kind, fs))

    ours12, base12, ours3 = results[0], results[1], results[2]
    print()
    print(f"Fichiers : 12 mois, {ours12['rows']:,} lignes, {size:,.0f} Mo compressés (gzip)".replace(",", " "))
    print(f"{'pipeline':<34}{'mois':>5}{'durée (s)':>12}{'pic mémoire (Mo)':>19}")
    labels = {"polars": "nôtre (polars, mois par mois)", "pandas": "référence (pandas read_csv)"}
    for r in results:
        print(f"{labels[r['kind']]:<34}{r['months']:>5}{r['seconds']:>12.1f}{r['peak_mb']:>19.0f}")
    print()
    print(f"Vitesse : {base12['seconds'] / ours12['seconds']:.1f} fois plus rapide que pandas (12 mois)")
    print(f"Mémoire : {ours12['peak_mb'] / base12['peak_mb'] * 100:.0f} % du pic de pandas (12 mois)")
    print(f"Mémoire de notre pipeline : {ours3['peak_mb']:.0f} Mo pour 3 mois, {ours12['peak_mb']:.0f} Mo pour 12 mois "
          f"(× {ours12['peak_mb'] / ours3['peak_mb']:.2f})")
    if len(results) > 3:
        base3 = results[3]
        print(f"Mémoire de pandas : {base3['peak_mb']:.0f} Mo pour 3 mois, {base12['peak_mb']:.0f} Mo pour 12 mois "
              f"(× {base12['peak_mb'] / base3['peak_mb']:.2f})")
    same = all(ours12[k] == base12[k] for k in ("rows", "trajets_france", "vehicules_france", "flux"))
    print(f"Mêmes résultats (lignes, trajets et véhicules France, paires de flux) : {'oui' if same else 'NON'}"
          + ("" if same else f" {ours12} {base12}"))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
