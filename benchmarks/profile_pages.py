"""Where a page view spends the server's CPU: every page x five territories through AppTest, profiled.

Each view is run as a deep link opens it on the server: a new session runs the entry script and
the page (`tests.conftest.run_app`). The first run of each page warms the caches; the next one is
measured: process CPU time (all threads, polars' pool included) and, with `--profile`, a cProfile
of the script thread (entry script + page), summed over the views and printed by cumulative time.

    .venv/bin/python benchmarks/profile_pages.py                    # CPU per page and territory
    .venv/bin/python benchmarks/profile_pages.py --profile 40       # and the 40 costliest functions
    .venv/bin/python benchmarks/profile_pages.py --pages dictionnaire --levels france --profile 30

It measures the script only: the server's transport (websocket, protobuf, compression) is measured
by `benchmarks/bench_serve.py`, which drives a real server.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.serve_load import PAGES, TERRITORIES  # noqa: E402

FILES = {"mon-territoire": "mon_territoire.py", "equilibre": "equilibre.py", "covoiturage": "covoiturage.py",
         "tiers-lieux": "tiers_lieux.py", "locations-courte-duree": "locations_courte_duree.py",
         "vtc-taxis": "vtc_taxis.py", "donnees": "donnees.py", "dictionnaire": "dictionnaire.py"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", nargs="*", default=PAGES)
    ap.add_argument("--levels", nargs="*")
    ap.add_argument("--profile", type=int, default=0, help="print the N functions of highest cumulative time")
    ap.add_argument("--only", default="", help="print only the functions whose file matches this regex (e.g. dashboard)")
    ap.add_argument("--save", help="write the profile's statistics to this file (pstats), to sort it otherwise")
    ap.add_argument("--repeat", type=int, default=1, help="measured runs per view (the median is kept)")
    args = ap.parse_args()

    from streamlit.runtime.scriptrunner import exec_code, script_runner
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import AppTest, app_test

    # A server's runtime compiles each page once for all sessions; AppTest gives each test its own
    # script cache, so every view would pay the compilation and Streamlit's "magic" AST rewrite
    # (about 0.3 s here): share one, as the server does
    shared_cache = ScriptCache()
    app_test.ScriptCache = lambda: shared_cache

    profiler = cProfile.Profile() if args.profile else None
    measuring = {"on": False}
    original = exec_code.exec_func_with_error_handling

    def profiled(func, ctx):  # runs in the script thread
        if profiler is None or not measuring["on"]:
            return original(func, ctx)
        profiler.enable()
        try:
            return original(func, ctx)
        finally:
            profiler.disable()

    script_runner.exec_func_with_error_handling = profiled

    def view(page: str, niveau: str, code: str) -> tuple[float, float]:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        # before its first run, AppTest finds a page by its file name, which matches no custom url_path
        # ("tiers_lieux.py" is "tiers-lieux"): it then ran the default page ("Mon territoire") in its
        # place. Run the default page bare first (as tests.conftest.run_app does), then switch
        measuring_was, measuring["on"] = measuring["on"], False
        at.run()
        measuring["on"] = measuring_was
        at.switch_page(f"dashboard/pages/{FILES[page]}")
        at.query_params.update({"niveau": niveau, "code": code})
        c0, t0 = time.process_time(), time.perf_counter()
        at.run()
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        if at.exception:
            print(f"  ! {page} {niveau} {code}: {at.exception[0].value[:200]}")
        return cpu, wall

    territories = [t for t in TERRITORIES if not args.levels or t[0] in args.levels]
    t0 = time.process_time()
    for page in args.pages:  # warm every page once (caches filled: what a started server has)
        view(page, "france", "FR")
    print(f"warm-up: {time.process_time() - t0:.1f} s CPU for {len(args.pages)} pages")
    cpu: dict[tuple[str, str], float] = {}
    measuring["on"] = True
    for page in args.pages:
        for niveau, code in territories:
            runs = [view(page, niveau, code) for _ in range(args.repeat)]
            cpu[(page, niveau)] = statistics.median(c for c, _ in runs)
            print(f"{page:<24}{niveau:<16}{cpu[(page, niveau)] * 1000:8.0f} ms CPU "
                  f"{statistics.median(w for _, w in runs) * 1000:8.0f} ms wall", flush=True)
    print("\nmedian per page, ms CPU:")
    for page in args.pages:
        print(f"  {page:<24}{statistics.median(c for (p, _), c in cpu.items() if p == page) * 1000:8.0f}")
    print(f"  {'MEDIAN':<24}{statistics.median(cpu.values()) * 1000:8.0f}")
    if profiler is not None:
        stats = pstats.Stats(profiler)
        if args.save:
            stats.dump_stats(args.save)
        stats.sort_stats("cumulative").print_stats(*([args.only] if args.only else []), args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
