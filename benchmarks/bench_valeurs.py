"""Benchmark of "one value per figure": the balance mart's build, and a page's lookup of a figure.

    .venv/bin/python benchmarks/bench_valeurs.py            # on data/ (or OBSERVATOIRE_DATA)

Prints figures and ratios against baselines measured in the same run:
- the mart (`etl/marts/equilibre.py`: current values of every figure, ranks, indices) against
  merely reading the indicator files it starts from;
- a page's lookup of the figures of one territory: `dashboard.valeurs` (the ETL's answer,
  sliced by territory once per process) against what pages did before, the latest row of each
  indicator picked from the whole `indicateurs` table per view (`compare.latest`, now typed);
- memory: the resident size of the table of current values and its index, against the
  `indicateurs` table every page already holds.
Peak memory is the process's resident set size (polars allocates outside Python).
"""

from __future__ import annotations

import random
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402

from etl.config import data_dir  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 1e6


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = None
    for _ in range(repeat):
        out = fn()
    return (time.perf_counter() - t0) / repeat, out


def main() -> None:
    folder = data_dir()
    if not (folder / "valeurs" / "courantes.parquet").exists():
        sys.exit(f"{folder} has no valeurs/courantes.parquet: rebuild the data first")
    print(f"data: {folder}")

    # -- the mart ------------------------------------------------------------------------------------
    from etl import registry
    from etl.marts.base import BuildContext

    files = sorted(p for p in (folder / "indicateurs").glob("*.parquet") if p.stem != "equilibre")
    base_s, ind = timed(lambda: pl.concat([pl.read_parquet(p) for p in files], how="vertical_relaxed"))
    mart_s, result = timed(lambda: registry.marts()["equilibre"].build(BuildContext(out_dir=folder, progress=False),
                                                                        {}))
    current = result.tables["valeurs/courantes.parquet"]
    print(f"mart: {mart_s:.1f} s for {ind.height:,} indicator rows -> {current.height:,} current values "
          f"({mart_s / base_s:.1f} x reading the indicator files, {base_s:.2f} s)")

    # -- a page's lookups -------------------------------------------------------------------------------
    import streamlit as st  # noqa: F401  (the cached loaders run outside a server: bare mode)

    from dashboard import compare, valeurs

    before = rss_mb()
    indicateurs = pl.concat([pl.read_parquet(p) for p in sorted((folder / "indicateurs").glob("*.parquet"))],
                            how="vertical_relaxed")
    ind_mb = rss_mb() - before
    before = rss_mb()
    valeurs._index()  # loads valeurs/courantes.parquet and slices it by territory
    cur_mb = rss_mb() - before
    territoires = pl.read_parquet(folder / "territoires.parquet")
    random.seed(7)
    keys = random.sample(list(zip(territoires["niveau"], territoires["code"], strict=True)), 200)

    def old() -> None:
        for k in keys:
            compare.latest(indicateurs, [k])

    def new() -> None:
        for n, c in keys:
            rows = valeurs.rows_of(n, c)
            for ind_id in rows["indicateur"].to_list():
                valeurs.valeur(n, c, ind_id)

    old_s, _ = timed(old)
    new_s, _ = timed(new)
    print(f"lookup of every figure of one territory: {new_s / len(keys) * 1000:.1f} ms with dashboard.valeurs, "
          f"{old_s / len(keys) * 1000:.1f} ms picking the latest rows from indicateurs per view "
          f"(x{old_s / new_s:.1f})")
    print(f"memory: current values and their index +{cur_mb:.0f} MB resident, beside the indicateurs table "
          f"+{ind_mb:.0f} MB ({cur_mb / ind_mb:.2f} x)")


if __name__ == "__main__":
    main()
