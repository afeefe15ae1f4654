"""Benchmark of the tiers-lieux and VTC domains: coverage with a spatial index, mart builds, sizes.

    python benchmarks/tiers_lieux_vtc.py

Prints figures and ratios against a baseline measured in the same run (nothing is asserted):
- nearest tiers-lieu for all 34,875 communes: k-d tree (`etl.geo.nearest_km`) against the
  brute-force distance matrix (numpy, by blocks) and against a pure-Python double loop
  (timed on a sample, extrapolated);
- the `tiers_lieux` and `vtc` marts built from the mirror (sources parsed once, outside the timing);
- the size of what the domains add to `data/`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from etl import registry  # noqa: E402
from etl.config import DEFAULT_DATA_DIR, mirror_dir  # noqa: E402
from etl.geo import haversine_km, nearest_km  # noqa: E402
from etl.marts.base import BuildContext  # noqa: E402
from etl.sources.base import FetchContext, fetch  # noqa: E402


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def brute_force(lon, lat, plon, plat, block: int = 2_000) -> np.ndarray:
    out = np.empty(len(lon))
    for i in range(0, len(lon), block):
        out[i:i + block] = haversine_km(lon[i:i + block, None], lat[i:i + block, None], plon[None, :],
                                        plat[None, :]).min(axis=1)
    return out


def python_loop(lon, lat, plon, plat) -> list[float]:
    return [min(float(haversine_km(x, y, px, py)) for px, py in zip(plon, plat, strict=True))
            for x, y in zip(lon, lat, strict=True)]


def main() -> None:
    data = DEFAULT_DATA_DIR
    territoires = pl.read_parquet(data / "territoires.parquet")
    communes = territoires.filter(pl.col("niveau") == "commune").drop_nulls("longitude")
    lieux = pl.read_parquet(data / "tiers_lieux" / "lieux.parquet")
    lon, lat = communes["longitude"].to_numpy(), communes["latitude"].to_numpy()
    plon, plat = lieux["longitude"].to_numpy(), lieux["latitude"].to_numpy()
    print(f"communes avec un centre : {len(lon)} ; tiers-lieux : {len(plon)}")

    t_tree, (dist, _) = timed(lambda: nearest_km(lon, lat, plon, plat))
    t_brute, brute = timed(lambda: brute_force(lon, lat, plon, plat), repeat=1)
    sample = 300
    t_loop, _ = timed(lambda: python_loop(lon[:sample], lat[:sample], plon, plat), repeat=1)
    t_loop_all = t_loop * len(lon) / sample
    assert np.allclose(dist, brute)
    print(f"plus proche tiers-lieu, k-d tree          : {t_tree * 1000:8.1f} ms")
    print(f"matrice de distances numpy (par blocs)     : {t_brute * 1000:8.1f} ms  (x{t_brute / t_tree:,.0f})")
    print(f"double boucle Python (extrapolée de {sample}) : {t_loop_all:8.1f} s   (x{t_loop_all / t_tree:,.0f})")

    mirror = mirror_dir()
    ctx = FetchContext(mirror=mirror, raw_dir=Path("/nonexistent"), progress=False)
    names = {"tiers_lieux_anct", "contours", "cog_passage", "bpe_historique"}
    parsed = {n: fetch(registry.sources()[n], ctx)[0] for n in sorted(names)}
    bctx = BuildContext(out_dir=data, progress=False)
    for mart_name in ("tiers_lieux", "vtc"):
        mart = registry.marts()[mart_name]
        t_mart, result = timed(lambda m=mart: m.build(bctx, {s: parsed[s] for s in m.sources}))
        rows = result.indicateurs.height + sum(df.height for df in result.tables.values())
        print(f"mart {mart_name:<12}: {t_mart:6.2f} s, {rows:,} lignes".replace(",", " "))

    files = [*data.glob("tiers_lieux/*.parquet"), *data.glob("vtc/*.parquet"),
             data / "indicateurs" / "tiers_lieux.parquet", data / "indicateurs" / "vtc.parquet"]
    total = 0
    for f in sorted(files):
        size = f.stat().st_size
        total += size
        print(f"  {f.relative_to(data)} : {size / 1024:7.1f} Kio")
    print(f"taille des deux domaines dans data/ : {total / 1024:.0f} Kio")


if __name__ == "__main__":
    main()
