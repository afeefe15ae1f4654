"""Benchmark: placing 1 million listings in their commune, against indexed joins.

    .venv/bin/python benchmarks/bench_str_geo.py [--points 1000000] [--loop-sample 20000]

Points: the real coordinates of every listing of the mirror (Bordeaux and Lyon, both snapshots),
resampled with replacement and jittered (normal, 0.01° ≈ 1 km, seeded). Polygons: the 34,867
current communes of France (contours source). In the same run, each on all the points unless
said otherwise, CPU time (`getrusage`, robust to the machine's load) and wall time:

- `etl.geo.locate_points`, what the marts use: an STRtree over all polygons, one bulk query
  of all points (predicate `intersects`), the first polygon kept for each point;
- indexed join, bare: the same bulk `STRtree.query` of shapely alone (tree built, pairs
  returned), the floor of any indexed point-in-polygon join: our overhead above it is the
  first-match selection;
- indexed join, `within`: the bulk query with the reverse predicate (the tree still prunes);
- indexed, one point at a time: a Python loop of `STRtree.query(point, predicate="intersects")`,
  on `--loop-sample` points, extrapolated: what an indexed but row-by-row code pays;
- geopandas `sjoin` (predicate `within`), when geopandas is installed (it is not a dependency
  of the project; the side is skipped with a message otherwise).

The answers of every side are checked against `locate_points` (same commune for every point
found by both). The earlier version of this benchmark compared with an unindexed Python loop
(×4,326): a strawman, since any competent code uses an index.
"""

from __future__ import annotations

import argparse
import resource
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


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(fn):
    """Run `fn`; return its result, CPU seconds, wall seconds and peak memory growth (MB)."""
    can_peak = _reset_peak()
    rss0 = _status("VmRSS")
    c0, t0 = _cpu(), time.perf_counter()
    out = fn()
    cpu, wall = _cpu() - c0, time.perf_counter() - t0
    peak = (_status("VmHWM") - rss0) / 1024 if can_peak else float("nan")
    return out, cpu, wall, peak


def _first_match(n: int, point_idx: np.ndarray, poly_idx: np.ndarray, codes: np.ndarray) -> np.ndarray:
    order = np.argsort(point_idx, kind="stable")
    point_idx, poly_idx = point_idx[order], poly_idx[order]
    first = np.r_[True, point_idx[1:] != point_idx[:-1]] if point_idx.size else np.zeros(0, bool)
    out = np.full(n, None, dtype=object)
    out[point_idx[first]] = codes[poly_idx[first]]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--loop-sample", type=int, default=20_000, help="points of the point-by-point loop")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()

    ctx = FetchContext(mirror=mirror_dir(), raw_dir=Path("/nonexistent"), progress=False)
    contours = fetch(registry.sources()["contours"], ctx)[0].tables["communes"]
    communes = contours.filter(pl.col("niveau") == "commune")
    polygons = geo.from_wkb(communes["geometry"])
    codes = np.asarray(communes["code"].to_list(), dtype=object)
    listings = fetch(registry.sources()["insideairbnb"], ctx)[0].frame
    rng = np.random.default_rng(args.seed)
    pick = rng.integers(0, listings.height, args.points)
    lon = listings["longitude"].to_numpy()[pick] + rng.normal(0, 0.01, args.points)
    lat = listings["latitude"].to_numpy()[pick] + rng.normal(0, 0.01, args.points)
    print(f"{args.points:,} points (from {listings.height:,} real listings, jitter 0.01°), "
          f"{len(polygons):,} commune polygons")
    rows = []

    found, cpu, wall, peak = _timed(lambda: geo.locate_points(lon, lat, polygons, codes))
    rows.append(("etl.geo.locate_points (STRtree, bulk query, first match)", cpu, wall, peak, args.points))
    points = shapely.points(lon, lat)

    def bulk(predicate: str):
        tree = shapely.STRtree(polygons)
        if predicate == "within":
            return tree.query(points, predicate="within")
        return tree.query(points, predicate=predicate)

    pairs, cpu, wall, peak = _timed(lambda: bulk("intersects"))
    rows.append(("shapely STRtree.query bulk, intersects (indexed join, bare)", cpu, wall, peak, args.points))
    same = _first_match(args.points, pairs[0], pairs[1], codes)
    checks = [("bulk intersects", same)]
    pairs, cpu, wall, peak = _timed(lambda: bulk("within"))
    rows.append(("shapely STRtree.query bulk, within", cpu, wall, peak, args.points))
    checks.append(("bulk within", _first_match(args.points, pairs[0], pairs[1], codes)))

    sample = rng.choice(args.points, min(args.loop_sample, args.points), replace=False)

    def loop():
        tree = shapely.STRtree(polygons)
        out = []
        for p in points[sample]:
            hit = tree.query(p, predicate="intersects")
            out.append(codes[hit.min()] if hit.size else None)
        return out

    looped, cpu, wall, peak = _timed(loop)
    scale = args.points / sample.size
    rows.append((f"STRtree.query point by point, Python loop ({sample.size:,} points, extrapolated)",
                 cpu * scale, wall * scale, peak, args.points))
    agree_loop = sum(a == b for a, b in zip(looped, found[sample], strict=True) if a is not None and b is not None)

    try:
        import geopandas as gpd
    except ImportError:
        print("geopandas n'est pas installé : côté sjoin sauté")
    else:
        def sjoin():
            left = gpd.GeoDataFrame(geometry=points)
            right = gpd.GeoDataFrame({"code": codes}, geometry=polygons)
            return gpd.sjoin(left, right, predicate="within", how="left")
        joined, cpu, wall, peak = _timed(sjoin)
        rows.append(("geopandas sjoin, within", cpu, wall, peak, args.points))

    base = rows[1][1]
    print()
    print("| méthode | CPU (s) | durée (s) | mémoire (+Mo) | points/s (CPU) | CPU / jointure indexée nue |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, cpu, wall, peak, n in rows:
        print(f"| {name} | {cpu:,.2f} | {wall:,.2f} | {peak:,.0f} | {n / cpu:,.0f} | × {cpu / base:.2f} |")
    for name, other in checks:
        both = [(a, b) for a, b in zip(found, other, strict=True) if a is not None and b is not None]
        print(f"{name}: même commune pour {sum(a == b for a, b in both):,} des {len(both):,} points placés par les deux")
    print(f"boucle point par point : même commune pour {agree_loop:,} points de l'échantillon")


if __name__ == "__main__":
    main()
