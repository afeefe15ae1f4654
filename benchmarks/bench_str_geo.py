"""Benchmark: placing 1 million listings in their commune, STRtree against naive point-in-polygon.

    python benchmarks/bench_str_geo.py [--points 1000000] [--naive-sample 20]

Points: the real coordinates of every listing of the mirror (Bordeaux and Lyon, both snapshots),
resampled with replacement and jittered (normal, 0.01° ≈ 1 km, seeded). Polygons: the 34,867
current communes of France (contours source). Three ways, in the same run:

- `etl.geo.locate_points`: an STRtree built over all polygons and queried in bulk (what the
  mart uses), on all points; time and peak memory (resident set growth, from /proc);
- naive: for each point, a Python loop calling shapely `contains` on every polygon until one
  contains it, on a sample of points, extrapolated to all points;
- vectorised without index: for each point, `shapely.contains` over the whole polygon array in
  one call, on a sample, extrapolated.

The naive answers are checked against the STRtree's on the sample. Figures go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from etl import geo, registry  # noqa: E402
from etl.config import mirror_dir  # noqa: E402
from etl.sources.base import FetchContext, fetch  # noqa: E402


def _status(field: str) -> int:
    """A memory figure of this process in kB (VmRSS, VmHWM) from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux)
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--naive-sample", type=int, default=20, help="points for the naive baselines")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()

    ctx = FetchContext(mirror=mirror_dir(), raw_dir=Path("/nonexistent"), progress=False)
    contours = fetch(registry.sources()["contours"], ctx)[0].tables["communes"]
    communes = contours.filter(pl.col("type") == "commune-actuelle")
    polygons = geo.from_wkb(communes["geometry"])
    codes = communes["code"].to_list()
    listings = fetch(registry.sources()["insideairbnb"], ctx)[0].frame
    rng = np.random.default_rng(args.seed)
    pick = rng.integers(0, listings.height, args.points)
    lon = listings["longitude"].to_numpy()[pick] + rng.normal(0, 0.01, args.points)
    lat = listings["latitude"].to_numpy()[pick] + rng.normal(0, 0.01, args.points)
    print(f"{args.points:,} points (from {listings.height:,} real listings, jitter 0.01°), "
          f"{len(polygons):,} commune polygons")

    # -- STRtree, bulk query --------------------------------------------------------------------
    can_peak = _reset_peak()
    rss0 = _status("VmRSS")
    t0 = time.perf_counter()
    found = geo.locate_points(lon, lat, polygons, codes)
    fast = time.perf_counter() - t0
    peak_mb = (_status("VmHWM") - rss0) / 1024 if can_peak else float("nan")
    located = sum(c is not None for c in found)
    print(f"STRtree (etl.geo.locate_points): {fast:.2f} s for {args.points:,} points "
          f"({args.points / fast:,.0f} points/s), peak memory +{peak_mb:,.0f} MB, "
          f"{located:,} located, {args.points - located:,} in no polygon")

    # -- naive baselines on a sample ------------------------------------------------------------
    sample = rng.choice(args.points, args.naive_sample, replace=False)
    points = shapely.points(lon[sample], lat[sample])
    t0 = time.perf_counter()
    naive = []
    for p in points:
        hit = None
        for code, poly in zip(codes, polygons, strict=True):
            if poly.contains(p):
                hit = code
                break
        naive.append(hit)
    loop = (time.perf_counter() - t0) / args.naive_sample * args.points
    t0 = time.perf_counter()
    vector = []
    for p in points:
        idx = np.flatnonzero(shapely.contains(polygons, p))
        vector.append(codes[idx[0]] if idx.size else None)
    vec = (time.perf_counter() - t0) / args.naive_sample * args.points
    agree = sum(a == b == c for a, b, c in zip(naive, vector, found[sample], strict=True))
    print(f"naive loop of shapely contains over every polygon: {loop:,.0f} s extrapolated "
          f"(measured on {args.naive_sample} points)")
    print(f"vectorised contains over all polygons, no index: {vec:,.0f} s extrapolated")
    print(f"same commune for {agree}/{args.naive_sample} sample points (borders: points on an edge may differ)")
    print(f"speed-up: {loop / fast:,.0f}x against the naive loop, {vec / fast:,.0f}x against the unindexed "
          f"vectorised contains (goal: 50x)")


if __name__ == "__main__":
    main()
