"""Benchmark: registry trip files (CSV) to the carpooling marts, against a bare scan and fair peers.

    .venv/bin/python benchmarks/bench_covoiturage.py --files /tmp/carpool-rpc     # files already simulated
    .venv/bin/python benchmarks/bench_covoiturage.py                              # simulate them first (long)
    .venv/bin/python benchmarks/bench_covoiturage.py --files DIR --avant /tmp/main-src   # also the code of main
    .venv/bin/python benchmarks/bench_covoiturage.py --files DIR --repetitions 2         # each side twice, cheapest kept

The files: months of the simulator (`python -m etl simulate-rpc --months 2024-01..2025-12 --scale
1.4 --out DIR`: 0.9 million rows a month in the real format, gzip). Each side runs in its own
process, on the same files, one month file at a time, and computes the same aggregates: per
level (commune, arrondissement, EPCI, département, région, France) and month the sums of the
mart (journeys, internal journeys, passengers, distinct cars, passenger and driver km, journeys
with an incentive), journeys by hour and by distance class, commune and EPCI flows of 10
passengers or more under 80 km:

- `ours`: `etl.sources.rpc.parse_files` (one typed read per file, compact month) then
  `etl.covoiturage.aggregate_files` and the mart's tables, written by the runner's `write_tables` (one at a time);
  `ours, refresh`: the same after a run on the months before it (the new month only is read);
- `bare`: the essential work and nothing else, a polars lazy scan of the 5 columns needed
  (trip_id, both INSEE codes, seats, distance) grouped by origin × destination with sums and
  distinct cars: the floor any pipeline pays (reading, decompressing, one group-by);
- `pandas`: a fair pandas version (`usecols` and dtypes with the pyarrow reader, one file at a
  time, codes merged, keys factorised, groupby per level, results combined), as a competent
  analyst writes it;
- `duckdb`: one SQL query per month file (DuckDB's CSV reader, the code table joined), results
  combined; skipped with a message when DuckDB is not installed
  (`.venv/bin/pip install -e ".[bench]"`);
- `avant` (with `--avant DIR`, a checkout of an earlier version): that version's own pipeline.

CPU time is the child process's user + system time over the measured work (`getrusage`, all
its threads: robust to the other jobs on a shared machine, unlike wall time), libraries being
imported before the clock starts; peak memory is the child's `VmHWM`. The script checks that
all sides give the same France totals (rows, journeys, distinct cars, passengers; the bare scan
has no flows) and the same number of flows, and prints the ratios. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ALL_MONTHS = [f"{y}-{m:02d}" for y in (2024, 2025) for m in range(1, 13)]
USED = ["journey_start_date", "journey_start_time", "trip_id", "journey_start_insee", "journey_end_insee",
        "journey_start_country", "journey_end_country", "passenger_seats", "journey_distance", "has_incentive"]


def reference_tables():
    """The territories (embedded data) and the code table every side uses."""
    import polars as pl

    from etl.config import mirror_dir

    territoires = pl.read_parquet(ROOT / "data" / "territoires.parquet")
    passage = pl.read_csv(mirror_dir() / "cog-passage" / "passage-codes-communes-cog2026.csv", separator=";",
                          infer_schema=False).rename({"code_2026": "code_actuel"})
    return territoires, passage


def france_result(rows: int, mensuel, flux_rows: int) -> dict:
    """The figures compared across sides (`mensuel`: a polars frame with niveau, trajets...)."""
    import polars as pl

    fr = mensuel.filter(pl.col("niveau") == "france")
    return {"rows": rows, "trajets_france": int(fr["trajets"].sum()), "vehicules_france": int(fr["vehicules"].sum()),
            "passagers_france": int(fr["passagers"].sum()), "flux": flux_rows}


# -- ours ----------------------------------------------------------------------------------------
def ours(files: list[Path], work: Path) -> dict:
    """The registry path of `etl` (this checkout, or the one on PYTHONPATH for `avant`)."""
    import polars as pl

    from etl import covoiturage as cv
    from etl.indicators import conform
    from etl.marts.covoiturage import build_tables
    from etl.sources.rpc import parse_files

    territoires, passage = reference_tables()
    parsed = parse_files({p.name[:7]: p for p in files}, work / "mois")
    column = "intermediaire" if "intermediaire" in parsed.frame.columns else "fichier_type"  # earlier versions
    codes = cv.code_table(territoires, passage)
    agg = cv.aggregate_files([Path(p) for p in parsed.frame[column].to_list()], codes)
    tables, indicateurs = build_tables(agg, territoires, "simule")
    out = work / "out"
    try:  # the runner's writer: each table computed, written and let go before the next
        from etl.runner import write_tables
    except ImportError:  # an earlier version (`avant`): frames computed already, written one by one
        from etl.store import write_parquet

        for rel, df in {**tables, "indicateurs/covoiturage.parquet": conform(indicateurs)}.items():
            write_parquet(df, out / rel)
    else:
        write_tables({**tables, "indicateurs/covoiturage.parquet": lambda ind=indicateurs: conform(ind())}, out)
    del tables, indicateurs, agg
    reread = int(parsed.frame["relu"].sum()) if "relu" in parsed.frame.columns else len(files)
    flux_rows = pl.scan_parquet(out / "covoiturage" / "flux.parquet").select(pl.len()).collect().item()
    mensuel = pl.read_parquet(out / "covoiturage" / "mensuel.parquet", columns=["niveau", "trajets", "vehicules",
                                                                                "passagers"])
    return {**france_result(parsed.rows_read, mensuel, flux_rows), "fichiers_lus": reread}


# -- bare scan -----------------------------------------------------------------------------------
def bare(files: list[Path]) -> dict:
    """A polars lazy scan of the 5 columns needed, grouped by origin × destination, per file."""
    import polars as pl

    types = {"trip_id": pl.String, "journey_start_insee": pl.String, "journey_end_insee": pl.String,
             "passenger_seats": pl.Int64, "journey_distance": pl.Int64}
    parts = [
        pl.scan_csv(f, separator=";", schema_overrides=types).select(list(types))
        .group_by("journey_start_insee", "journey_end_insee")
        .agg(pl.len().alias("trajets"), pl.col("passenger_seats").sum().alias("passagers"),
             pl.col("journey_distance").sum().alias("metres"), pl.col("trip_id").n_unique().alias("vehicules"))
        .collect()
        for f in files
    ]
    pairs = pl.concat(parts)
    france = pairs.select(pl.lit("france").alias("niveau"), "trajets", "vehicules", "passagers")
    return {**france_result(int(pairs["trajets"].sum()), france, -1)}


# -- pandas, fair --------------------------------------------------------------------------------
def pandas_side(files: list[Path]) -> dict:
    """pandas as a competent analyst writes it: usecols and dtypes (pyarrow reader), one file at a
    time, keys factorised to integers, groupby per level, results combined."""
    import numpy as np
    import pandas as pd
    import polars as pl

    from etl import covoiturage as cv

    territoires, passage = reference_tables()
    codes = cv.code_table(territoires, passage).to_pandas().set_index("insee")
    dtypes = {c: "string" for c in USED} | {"passenger_seats": "int8", "journey_distance": "int64"}
    sums, flows = [], []
    rows = 0
    for path in files:
        df = pd.read_csv(path, sep=";", usecols=USED, dtype=dtypes, engine="pyarrow")
        rows += len(df)
        df["mois"] = df["journey_start_date"].str.slice(0, 7)
        df["heure"] = df["journey_start_time"].str.slice(0, 2).astype("int8")
        df["classe"] = np.minimum(df["journey_distance"] // 10_000, 5).astype("int8")
        df["pm"] = df["passenger_seats"].astype("int64") * df["journey_distance"]
        df["inc"] = (df["has_incentive"] == "OUI").astype("int64")
        df["car"] = pd.factorize(df["trip_id"])[0]
        ends = {}
        for end, col, country in (("o", "journey_start_insee", "journey_start_country"),
                                  ("d", "journey_end_insee", "journey_end_country")):
            abroad = (df[col].str.startswith("99") | (df[col] == "XXXXX")).to_numpy(dtype=bool)
            mapped = codes.reindex(df[col].to_numpy())
            ends[end] = {lv: mapped[lv].to_numpy(dtype=object) for lv in cv.LEVELS[:-1]}
            ends[end]["france"] = np.where(abroad, None, "FR")
            ends[end]["etranger"] = np.where(abroad, ("etranger:" + df[country].fillna("inconnu")).to_numpy(), None)
        months, month_names = pd.factorize(df["mois"])
        base = pd.DataFrame({"mois": months, "car": df["car"].to_numpy(), "p": df["passenger_seats"].to_numpy(),
                             "pm": df["pm"].to_numpy(), "dm": df["journey_distance"].to_numpy(),
                             "inc": df["inc"].to_numpy(), "heure": df["heure"].to_numpy(),
                             "classe": df["classe"].to_numpy()})
        n = len(df)
        for level in cv.LEVELS:
            ids, names = pd.factorize(np.concatenate([ends["o"][level], ends["d"][level]]))
            o, d = ids[:n], ids[n:]
            a, b = o >= 0, (d >= 0) & ((o < 0) | (o != d))
            st = pd.concat([base[a].assign(code=o[a], interne=(o == d)[a].astype("int64")),
                            base[b].assign(code=d[b], interne=0)])
            car = st.groupby(["code", "mois", "car"], sort=False).agg(
                n=("inc", "size"), p=("p", "sum"), pm=("pm", "sum"), dm=("dm", "max"), i=("inc", "sum"),
                it=("interne", "sum"))
            s = car.groupby(level=["code", "mois"], sort=False).agg(
                trajets=("n", "sum"), trajets_internes=("it", "sum"), passagers=("p", "sum"), vehicules=("n", "size"),
                metres_passagers=("pm", "sum"), metres_conducteurs=("dm", "sum"), trajets_incites=("i", "sum"))
            s = s.reset_index()
            sums.append(s.assign(niveau=level, code=np.asarray(names, dtype=object)[s["code"].to_numpy()],
                                 mois=np.asarray(month_names, dtype=object)[s["mois"].to_numpy()]))
            st.groupby(["code", "mois", "heure"], sort=False).size()
            st.groupby(["code", "mois", "classe"], sort=False).size()
        short = (df["journey_distance"] < cv.FLOW_MAX_KM * 1000).to_numpy()
        for level in cv.FLOW_LEVELS:
            o = pd.Series(ends["o"]["etranger"]).fillna(pd.Series(ends["o"][level]))[short]
            d = pd.Series(ends["d"]["etranger"]).fillna(pd.Series(ends["d"][level]))[short]
            ok = (o.notna() & d.notna()).to_numpy()
            o, d = o[ok].to_numpy(dtype=object), d[ok].to_numpy(dtype=object)
            first = o <= d
            pairs = pd.DataFrame({"mois": df["mois"].to_numpy()[short][ok], "code_1": np.where(first, o, d),
                                  "code_2": np.where(first, d, o), "p": df["passenger_seats"].to_numpy()[short][ok]})
            f = pairs.groupby(["mois", "code_1", "code_2"], sort=False).agg(
                trajets=("p", "size"), passagers=("p", "sum")).reset_index()
            flows.append(f[f["passagers"] >= cv.FLOW_THRESHOLD].assign(niveau=level))
        del df
    mensuel = pd.concat(sums).groupby(["niveau", "code", "mois"]).sum().reset_index()
    flux = pd.concat(flows).groupby(["niveau", "mois", "code_1", "code_2"]).sum()
    return france_result(rows, pl.from_pandas(mensuel), len(flux))


# -- DuckDB --------------------------------------------------------------------------------------
def duckdb_side(files: list[Path]) -> dict:
    """One DuckDB query per month file (its CSV reader, the code table joined), combined in polars."""
    import duckdb
    import polars as pl

    from etl import covoiturage as cv

    territoires, passage = reference_tables()
    codes = cv.code_table(territoires, passage).to_arrow()
    con = duckdb.connect()
    con.register("codes", codes)
    levels = list(cv.LEVELS)
    ends = ", ".join(f"co.{lv} AS {lv}_o, cd.{lv} AS {lv}_d" for lv in levels[:-1])
    kept = "mois, heure, trip_id, passenger_seats, journey_distance, inc"
    stacked = " UNION ALL ".join(
        f"SELECT '{lv}' AS niveau, {lv}_o AS code, ({lv}_o = {lv}_d) IS TRUE AS interne, {kept} FROM j "
        f"WHERE {lv}_o IS NOT NULL UNION ALL SELECT '{lv}', {lv}_d, FALSE, {kept} FROM j "
        f"WHERE {lv}_d IS NOT NULL AND ({lv}_o IS NULL OR {lv}_o <> {lv}_d)"
        for lv in levels)
    flows = " UNION ALL ".join(
        f"SELECT '{lv}' AS niveau, mois, least(coalesce(ab_o, {lv}_o), coalesce(ab_d, {lv}_d)) AS code_1, "
        f"greatest(coalesce(ab_o, {lv}_o), coalesce(ab_d, {lv}_d)) AS code_2, passenger_seats FROM j "
        f"WHERE journey_distance < {cv.FLOW_MAX_KM * 1000} AND coalesce(ab_o, {lv}_o) IS NOT NULL "
        f"AND coalesce(ab_d, {lv}_d) IS NOT NULL" for lv in cv.FLOW_LEVELS)
    sums, flux_parts, rows = [], [], 0
    for path in files:
        con.sql(f"""
            CREATE OR REPLACE TEMP TABLE j AS
            WITH r AS (SELECT * FROM read_csv('{path}', delim=';', header=true, quote='"', escape='"',
                       columns={{{", ".join(f"'{c}': 'VARCHAR'" for c in _rpc_columns())}}}))
            SELECT substr(journey_start_date, 1, 7) AS mois, CAST(substr(journey_start_time, 1, 2) AS INTEGER) AS heure,
                   trip_id, CAST(passenger_seats AS INTEGER) AS passenger_seats,
                   CAST(journey_distance AS BIGINT) AS journey_distance, has_incentive = 'OUI' AS inc,
                   CASE WHEN journey_start_insee LIKE '99%' OR journey_start_insee = 'XXXXX'
                        THEN 'etranger:' || coalesce(journey_start_country, 'inconnu') END AS ab_o,
                   CASE WHEN journey_end_insee LIKE '99%' OR journey_end_insee = 'XXXXX'
                        THEN 'etranger:' || coalesce(journey_end_country, 'inconnu') END AS ab_d,
                   {ends},
                   CASE WHEN NOT (journey_start_insee LIKE '99%' OR journey_start_insee = 'XXXXX') THEN 'FR' END AS france_o,
                   CASE WHEN NOT (journey_end_insee LIKE '99%' OR journey_end_insee = 'XXXXX') THEN 'FR' END AS france_d
            FROM r LEFT JOIN codes co ON co.insee = r.journey_start_insee LEFT JOIN codes cd ON cd.insee = r.journey_end_insee
        """)
        rows += con.sql("SELECT count(*) FROM j").fetchall()[0][0]
        st = f"st AS ({stacked})"  # stacked per level on the fly, not materialised (memory)
        sums.append(con.sql(f"""
            WITH {st}, car AS (SELECT niveau, code, mois, trip_id, count(*) AS n, sum(passenger_seats) AS p,
                                max(journey_distance) AS dm, sum(passenger_seats * journey_distance) AS pm,
                                sum(inc::INT) AS i, sum(interne::INT) AS it FROM st GROUP BY ALL)
            SELECT niveau, code, mois, sum(n) AS trajets, sum(it) AS trajets_internes, sum(p) AS passagers,
                   count(*) AS vehicules, sum(pm) AS metres_passagers, sum(dm) AS metres_conducteurs,
                   sum(i) AS trajets_incites FROM car GROUP BY ALL""").pl())
        con.sql(f"WITH {st} SELECT niveau, code, mois, heure, count(*) FROM st GROUP BY ALL").pl()
        con.sql(f"WITH {st} SELECT niveau, code, mois, least(journey_distance // 10000, 5), count(*) FROM st "
                    "GROUP BY ALL").pl()
        flux_parts.append(con.sql(f"""
            SELECT niveau, mois, code_1, code_2, count(*) AS trajets, sum(passenger_seats) AS passagers
            FROM ({flows}) GROUP BY ALL HAVING sum(passenger_seats) >= {cv.FLOW_THRESHOLD}""").pl())
    mensuel = pl.concat(sums).group_by("niveau", "code", "mois").agg(pl.all().sum())
    flux = pl.concat(flux_parts).group_by("niveau", "mois", "code_1", "code_2").agg(pl.all().sum())
    return france_result(rows, mensuel, flux.height)


def _rpc_columns() -> tuple[str, ...]:
    from etl.sources.rpc import COLUMNS

    return COLUMNS


# -- measuring -----------------------------------------------------------------------------------
def worker(kind: str, files: list[Path], refresh_from: int | None) -> None:
    """One measured run, in its own process: prints a JSON line with its figures.

    CPU is this process's user + system time (all its threads, `getrusage`) over the measured
    work only: not the interpreter's start, nor, for a refresh, the earlier run on the months
    before. Peak memory is the process's `VmHWM`.
    """
    import resource

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    sides = {"ours": ours, "avant": ours, "bare": lambda f, _: bare(f), "pandas": lambda f, _: pandas_side(f),
             "duckdb": lambda f, _: duckdb_side(f)}
    if kind in ("ours", "avant"):  # our pipeline runs with the allocator settings of `python -m etl`
        try:
            from etl import allocator
        except ImportError:  # a version from before etl/allocator.py
            pass
        else:
            allocator.tune()
    # libraries imported before the clock starts: each side is measured on its work, not its imports
    import numpy  # noqa: F401
    import polars  # noqa: F401

    if kind in ("ours", "avant"):
        import etl.covoiturage  # noqa: F401
        import etl.marts.covoiturage  # noqa: F401
        import etl.sources.rpc  # noqa: F401
    elif kind == "pandas":
        import pandas  # noqa: F401
        import pyarrow.csv  # noqa: F401
    elif kind == "duckdb":
        import duckdb  # noqa: F401
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as tmp:
        if refresh_from is not None:
            ours(files[:refresh_from], Path(tmp))
        cpu0, start = cpu(), time.perf_counter()
        result = sides[kind](files, Path(tmp))
        seconds, cpu_s = time.perf_counter() - start, cpu() - cpu0
    status = Path("/proc/self/status").read_text().splitlines()
    peak = next(int(x.split()[1]) for x in status if x.startswith("VmHWM")) / 1024
    print(json.dumps({"cpu_s": cpu_s, "wall_s": seconds, "peak_mb": peak, **result}))


def measure(kind: str, files: list[Path], *, refresh_from: int | None = None, tree: Path | None = None) -> dict:
    """Run `kind` on `files` in a child process (see `worker`)."""
    cmd = [sys.executable, __file__, "--worker", kind, "--files", str(files[0].parent),
           "--months", ",".join(p.name[:7] for p in files)]
    if refresh_from is not None:
        cmd += ["--refresh-from", str(refresh_from)]
    env = dict(os.environ)
    if tree is not None:  # the earlier version's `etl` first on the path
        env["PYTHONPATH"] = str(tree)
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tree or ROOT, env=env)
    if out.returncode:
        raise RuntimeError(f"{kind} ({len(files)} mois) a échoué :\n{out.stderr[-2000:]}")
    return {"kind": kind, "months": len(files), **json.loads(out.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", help="dossier des fichiers simulés AAAA-MM.csv.gz (sinon : simulés ici, long)")
    parser.add_argument("--scale", type=float, default=1.4, help="échelle du simulateur (1,4 : 0,9 million de lignes par mois)")
    parser.add_argument("--mois", default="1,3,6,12,24", help="nombres de mois mesurés pour notre chaîne et le scan nu")
    parser.add_argument("--pairs", type=int, default=12, help="nombre de mois des mesures de pandas et DuckDB")
    parser.add_argument("--avant", help="une copie d'une version antérieure du dépôt, mesurée sur --pairs mois")
    parser.add_argument("--repetitions", type=int, default=1,
                        help="mesures de chaque côté, alternées ; la moins chère en CPU est gardée (machine partagée)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--months", help=argparse.SUPPRESS)
    parser.add_argument("--refresh-from", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, [Path(args.files) / f"{m}.csv.gz" for m in args.months.split(",")], args.refresh_from)
        return

    counts = [int(x) for x in args.mois.split(",")]
    needed = ALL_MONTHS[: max(counts + [args.pairs])]
    if args.files:
        folder = Path(args.files)
    else:
        folder = Path(tempfile.mkdtemp(prefix="bench-rpc-"))
        print(f"Simulation de {len(needed)} mois (échelle {args.scale}) dans {folder}…", flush=True)
        subprocess.run([sys.executable, "-m", "etl", "simulate-rpc", "--months", f"{needed[0]}..{needed[-1]}",
                        "--out", str(folder), "--scale", str(args.scale)], check=True, cwd=ROOT, capture_output=True)
    files = [folder / f"{m}.csv.gz" for m in needed]
    missing = [f.name for f in files if not f.exists()]
    if missing:
        sys.exit(f"fichiers absents de {folder} : {', '.join(missing)}")
    try:
        import duckdb  # noqa: F401
        peers = ["pandas", "duckdb"]
    except ImportError:
        peers = ["pandas"]
        print("DuckDB n'est pas installé : côté DuckDB sauté (.venv/bin/pip install -e \".[bench]\")", flush=True)

    load_before = os.getloadavg()
    runs: list[tuple[str, int, dict]] = []
    for n in counts:
        runs += [("bare", n, {}), ("ours", n, {})]
    runs.append(("ours", args.pairs, {"refresh_from": args.pairs - 1}))
    runs += [(p, args.pairs, {}) for p in peers]
    if args.avant:
        runs.append(("avant", args.pairs, {"tree": Path(args.avant)}))
    # each side measured --repetitions times, the rounds alternating (all sides once, then again),
    # so that a burst of the other developers' load hits every side alike; the run with the least
    # CPU is kept (the least disturbed: the work is the same), its peak memory with it
    best: dict[int, dict] = {}
    for round_ in range(max(1, args.repetitions)):
        for i, (kind, n, extra) in enumerate(runs):
            label = kind + (", rafraîchissement" if "refresh_from" in extra else "")
            print(f"mesure : {label}, {n} mois (tour {round_ + 1})…", flush=True)
            r = measure(kind, files[:n], **extra)
            r["label"] = label
            print(f"  CPU {r['cpu_s']:.1f} s, durée {r['wall_s']:.1f} s, pic {r['peak_mb']:.0f} Mo", flush=True)
            if i not in best or r["cpu_s"] < best[i]["cpu_s"]:
                best[i] = r
    results = [best[i] for i in range(len(runs))]
    load_after = os.getloadavg()
    report(results, folder, files, load_before, load_after, args.pairs, args.repetitions)


def report(results: list[dict], folder: Path, files: list[Path], load_before, load_after, pairs: int,
           repetitions: int = 1) -> None:
    """The table of docs/benchmarks.md: CPU, wall, peak per side, ratios, equality of results."""
    def n(x: float, digits: int = 1) -> str:
        return f"{x:,.{digits}f}".replace(",", " ").replace(".", ",")

    size = sum(f.stat().st_size for f in files) / 1e6
    print()
    print(f"Fichiers : {folder}, {len(files)} mois, {n(size, 0)} Mo en gzip")
    print(f"Charge de la machine (load average 1 min, 2 cœurs) : {n(load_before[0])} au début, {n(load_after[0])} à la fin")
    if repetitions > 1:
        print(f"Chaque côté mesuré {repetitions} fois (tours alternés) : la mesure la moins chère en CPU est gardée")
    print()
    print("| côté | mois | lignes | CPU (s) | durée (s) | pic mémoire (Mo) | CPU / scan nu |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    bare = {r["months"]: r for r in results if r["kind"] == "bare"}
    for r in results:
        ratio = f"× {n(r['cpu_s'] / bare[r['months']]['cpu_s'], 2)}" if r["months"] in bare and r["kind"] != "bare" else ""
        print(f"| {r['label']} | {r['months']} | {n(r['rows'], 0)} | {n(r['cpu_s'])} | {n(r['wall_s'])} | "
              f"{n(r['peak_mb'], 0)} | {ratio} |")
    ours = next(r for r in results if r["kind"] == "ours" and r["months"] == pairs and r["label"] == "ours")
    refresh = next((r for r in results if r["label"].endswith("rafraîchissement")), None)
    print()
    for r in results:
        if r["kind"] in ("pandas", "duckdb", "avant") and r["months"] == pairs:
            print(f"{r['kind']} / nôtre ({pairs} mois) : CPU × {n(r['cpu_s'] / ours['cpu_s'], 2)}, "
                  f"mémoire × {n(r['peak_mb'] / ours['peak_mb'], 2)}")
    if refresh:
        print(f"Rafraîchissement d'un mois ({pairs - 1} mois déjà lus) : {refresh['fichiers_lus']} fichier lu, "
              f"CPU {n(refresh['cpu_s'])} s contre {n(ours['cpu_s'])} s pour les {pairs} mois")
    peaks = [r["peak_mb"] for r in results if r["label"] == "ours"]
    print(f"Pic mémoire de notre chaîne selon le nombre de mois : {', '.join(n(p, 0) for p in peaks)} Mo")
    keys = ("rows", "trajets_france", "vehicules_france", "passagers_france")
    same = all(r[k] == ours[k] for r in results if r["months"] == pairs for k in keys)
    same_flows = all(r["flux"] == ours["flux"] for r in results if r["months"] == pairs and r["kind"] != "bare")
    print(f"Mêmes totaux France ({pairs} mois : {n(ours['trajets_france'], 0)} trajets, "
          f"{n(ours['vehicules_france'], 0)} véhicules) sur tous les côtés : {'oui' if same else 'NON'} ; "
          f"même nombre de flux ({n(ours['flux'], 0)}) : {'oui' if same_flows else 'NON'}")
    if not (same and same_flows):
        for r in results:
            if r["months"] == pairs:
                print("  ", r["label"], {k: r[k] for k in (*keys, "flux")})


if __name__ == "__main__":
    main()
