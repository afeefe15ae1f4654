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


def child(code: str) -> dict:
    """Run Python code in a fresh process: wall seconds, CPU seconds (`os.wait4`: user + system of
    the child, robust to the machine's load), its peak memory (`VmHWM`, printed by the child) and
    the JSON it prints last."""
    code += "\nimport json as _j, resource as _r\n_u = _r.getrusage(_r.RUSAGE_SELF)\n" \
        "print(_j.dumps({**globals().get('phases', {}), 'vmhwm_mb': next(int(x.split()[1]) for x in " \
        "open('/proc/self/status') if x.startswith('VmHWM')) / 1024}))"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError("benchmark child failed")
    import json

    return {"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime, **json.loads(out.strip().splitlines()[-1])}


def bench_build() -> None:
    mirror = mirror_dir()
    with tempfile.TemporaryDirectory() as out:
        code = "\n".join([
            "from etl import allocator",
            "allocator.tune()  # polars' allocator set as `python -m etl` sets it (etl/allocator.py)",
            "import resource",
            "from pathlib import Path",
            "from etl import registry",
            "from etl.marts.base import BuildContext",
            "from etl.sources.base import FetchContext, fetch",
            "from etl.store import write_parquet",
            "def cpu():",
            "    u = resource.getrusage(resource.RUSAGE_SELF)",
            "    return u.ru_utime + u.ru_stime",
            "phases = {}",
            "c0 = cpu()",
            "mart = registry.marts()['territoires']",
            f"ctx = FetchContext(mirror=Path({str(mirror)!r}), raw_dir=Path({out!r}), progress=False)",
            "parsed = {s: fetch(registry.sources()[s], ctx)[0] for s in mart.sources}",
            "phases['sources'] = cpu() - c0; c0 = cpu()",
            f"result = mart.build(BuildContext(out_dir=Path({out!r}), progress=False), parsed)",
            "phases['mart'] = cpu() - c0; c0 = cpu()",
            "from etl.marts.base import materialise",
            "from etl.runner import write_tables",
            "geo_communes = result.tables['geo/communes.parquet']",
            # as the runner writes them: one table computed, written and let go at a time (the map
            # polygons are deferred: their simplification is counted in the writing step)
            f"write_tables({{**result.tables, 'indicateurs/territoires.parquet': result.indicateurs}}, Path({out!r}))",
            "phases['ecriture'] = cpu() - c0",
            "phases['pic_mb'] = next(int(x.split()[1]) for x in open('/proc/self/status') "
            "if x.startswith('VmHWM')) / 1024  # the build's peak, before the probe below",
            "geo_communes = materialise(geo_communes)",
            f"phases['geo_communes_zstd9'] = (lambda t: (write_parquet(geo_communes, "
            f"Path({out!r}) / 'x.parquet'), cpu() - t)[1])(cpu())",
            "import polars as pl",
            f"phases['geo_communes_zstd3'] = (lambda t: (geo_communes.write_parquet("
            f"Path({out!r}) / 'y.parquet', compression='zstd', compression_level=3), cpu() - t)[1])(cpu())",
        ])
        build = child(code)
    baseline = "\n".join([
        "import json, gzip, pathlib",
        f"m = pathlib.Path({str(mirror)!r})",
        "for f in ['communes.json', 'epcis.json', 'arrondissements-municipaux.json']:",
        "    json.load(open(m / 'geo-api-gouv' / f))",
        "for f in ['communes', 'epci', 'departements', 'regions']:",
        "    json.load(gzip.open(m / 'contours-administratifs' / (f + '-simplifie.geojson.gz')))",
        "open(m / 'insee-logement/base-cc-logement-2021-extrait.csv').read()",
    ])
    base = child(baseline)
    print("Territory marts from the mirror (the 8 sources parsed, the mart built and written, in a fresh process)")
    print("| | CPU (s) | durée (s) | pic mémoire (Mo) |")
    print("|---|---:|---:|---:|")
    # the build's CPU: its three steps (the two extra writes of geo/communes after them are a probe)
    build["cpu"] = build["sources"] + build["mart"] + build["ecriture"]
    print(f"| construction | {build['cpu']:.1f} | {build['seconds']:.1f} (avec la sonde) | {build['pic_mb']:.0f} |")
    print(f"| référence : décoder les fichiers du miroir (stdlib) | {base['cpu']:.1f} | {base['seconds']:.1f} | "
          f"{base['vmhwm_mb']:.0f} |")
    print(f"ratio construction / référence : CPU × {build['cpu'] / base['cpu']:.1f}, "
          f"mémoire × {build['pic_mb'] / base['vmhwm_mb']:.1f}")
    print(f"CPU par étape : sources {build['sources']:.1f} s, mart {build['mart']:.1f} s, écriture "
          f"{build['ecriture']:.1f} s (dont geo/communes.parquet : {build['geo_communes_zstd9']:.1f} s en zstd 9, "
          f"{build['geo_communes_zstd3']:.1f} s en zstd 3)")


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
