"""Benchmark of the territory search as you type (issue #12, point 6).

    .venv/bin/python benchmarks/bench_search.py            # on data/ (or OBSERVATOIRE_DATA)

The sidebar's box searches after each pause in typing (`layout.SEARCH_PAUSE`) and lists at most
`layout.SEARCH_RESULTS` results. Prints, for queries typed letter by letter, the time of one search
(`dashboard.territory.search` on the cached index) and the bytes sent to the browser, against the
alternative of one `st.selectbox` over every territory: its labels built once per process and the
options sent to the browser on every page view (Streamlit sends a selectbox's options with the page).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402

from dashboard.territory import label, search, with_search_names  # noqa: E402
from etl.config import data_dir  # noqa: E402

QUERIES = ["s", "sa", "sai", "sain", "saint", "sainte", "sainte c", "sainte col", "sainte colombe",
           "b", "bo", "bor", "bordeaux", "33063", "33000", "243300316", "st etienne", "lyon 3"]


def main() -> None:
    folder = data_dir()
    territoires = pl.read_parquet(folder / "territoires.parquet")
    postal = pl.read_parquet(folder / "codes_postaux.parquet")
    t0 = time.perf_counter()
    index = with_search_names(territoires)
    index_s = time.perf_counter() - t0
    times, sizes = [], []
    for q in QUERIES * 3:
        t0 = time.perf_counter()
        hits = search(index, postal, q, limit=9)
        times.append(time.perf_counter() - t0)
        sizes.append(len(json.dumps(hits["libelle"].head(8).to_list(), ensure_ascii=False).encode()))
    deps = dict(territoires.filter(pl.col("niveau") == "departement").select("code", "nom").iter_rows())
    t0 = time.perf_counter()
    labels = [label(r, deps) for r in territoires.iter_rows(named=True)]
    labels_s = time.perf_counter() - t0
    options_bytes = len(json.dumps(labels, ensure_ascii=False).encode())
    print(f"territories: {territoires.height:,}")
    print(f"search index (once per data version): {index_s * 1000:.0f} ms")
    print(f"one search: median {statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms "
          f"over {len(times)} queries")
    print(f"sent per search: at most {max(sizes):,} bytes of labels")
    print(f"selectbox over every territory: labels {labels_s * 1000:.0f} ms once, {options_bytes:,} bytes "
          f"sent with every page view ({options_bytes / max(sizes):.0f}× a search's results)")


if __name__ == "__main__":
    main()
