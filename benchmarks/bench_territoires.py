"""Benchmark of the foundation: building the territory marts, running "Mon territoire", map payloads.

    python benchmarks/bench_territoires.py

Prints figures, and ratios against (a) a baseline measured in the same run (for the build:
merely decoding the mirror's JSON files with the standard library, the floor any ETL pays),
and (b) the issue's targets (warm page run under 300 ms, France map under 3 MB).
Peak memory is the child process's maximum resident set size (polars allocates outside
Python, so tracemalloc would miss it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from etl.config import mirror_dir  # noqa: E402

WARM_TARGET_MS = 300
PAYLOAD_TARGET_MB = 3.0
PAGES = [("Paris", "commune", "75056"), ("village (L'Abergement-de-Varey, 270 hab.)", "commune", "01002"),
         ("département (Gironde)", "departement", "33"), ("France", "france", "FR")]


def child(code: str) -> tuple[float, float]:
    """Run Python code in a fresh process; return (seconds, its own peak RSS in MB)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"benchmark child failed ({proc.returncode})")
    return seconds, usage.ru_maxrss / 1024


def bench_build() -> None:
    mirror = mirror_dir()
    with tempfile.TemporaryDirectory() as out:
        code = "\n".join([
            "from pathlib import Path",
            "from etl import registry",
            "from etl.marts.base import BuildContext",
            "from etl.sources.base import FetchContext, fetch",
            "from etl.store import write_parquet",
            "mart = registry.marts()['territoires']",
            f"ctx = FetchContext(mirror=Path({str(mirror)!r}), raw_dir=Path({out!r}), progress=False)",
            "parsed = {s: fetch(registry.sources()[s], ctx)[0] for s in mart.sources}",
            f"result = mart.build(BuildContext(out_dir=Path({out!r}), progress=False), parsed)",
            "tables = {**result.tables, 'indicateurs/territoires.parquet': result.indicateurs}",
            f"[write_parquet(df, Path({out!r}) / rel) for rel, df in tables.items()]",
        ])
        t_build, m_build = child(code)
    baseline = "\n".join([
        "import json, gzip, pathlib",
        f"m = pathlib.Path({str(mirror)!r})",
        "for f in ['communes.json', 'epcis.json', 'arrondissements-municipaux.json']:",
        "    json.load(open(m / 'geo-api-gouv' / f))",
        "for f in ['communes', 'epci', 'departements', 'regions']:",
        "    json.load(gzip.open(m / 'contours-administratifs' / (f + '-simplifie.geojson.gz')))",
        "open(m / 'insee-logement/base-cc-logement-2021-extrait.csv').read()",
    ])
    t_base, m_base = child(baseline)
    print("Territory marts from the mirror (the 8 sources parsed, the mart built and written, in a fresh process)")
    print(f"  build            : {t_build:6.1f} s   peak {m_build:7.0f} MB")
    print(f"  baseline (decode the mirror's JSON/GeoJSON/CSV with the stdlib): {t_base:6.1f} s   peak {m_base:7.0f} MB")
    print(f"  ratio build / baseline: time x{t_build / t_base:.1f}, memory x{m_build / m_base:.1f}")


def bench_pages() -> None:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    print("\nPage 'Mon territoire' (AppTest: entry script + page; cold = caches cleared)")
    print(f"  {'territory':<44}{'cold':>9}{'warm':>9}{'map payload':>14}   warm vs target {WARM_TARGET_MS} ms")
    for name, niveau, code in PAGES:
        st.cache_data.clear()
        st.cache_resource.clear()
        timings = []
        payload = 0
        for _ in range(4):
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
            at.query_params["niveau"] = niveau
            at.query_params["code"] = code
            t0 = time.perf_counter()
            at.run()
            timings.append(time.perf_counter() - t0)
            assert not at.exception, [e.value for e in at.exception]
            decks = at.get("deck_gl_json_chart")
            payload = len(decks[0].proto.json.encode()) if decks else 0
        cold, warm = timings[0] * 1000, min(timings[1:]) * 1000
        print(f"  {name:<44}{cold:8.0f}ms{warm:8.0f}ms{payload / 1e6:11.2f} MB   x{warm / WARM_TARGET_MS:.2f}")
        if niveau == "france":
            print(f"  France map payload vs target {PAYLOAD_TARGET_MB} MB: x{payload / 1e6 / PAYLOAD_TARGET_MB:.2f}")


def main() -> None:
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    bench_build()
    bench_pages()


if __name__ == "__main__":
    main()
