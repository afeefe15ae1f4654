"""Reproducer of the server deadlock of issue #13, outside Streamlit.

Threads stand for concurrent sessions: some run a Python UDF (`map_elements`) on a struct
column, as `dashboard/equilibre.py` did, others convert a wide frame with `DataFrame.to_pandas`.
The UDF runs on polars' thread pool and needs the GIL; a thread holding the GIL may wait for
that pool. When every thread stops progressing for `--stall` seconds the script prints their
stacks (faulthandler) and exits with status 1; with `--native` the UDF is replaced by the native
expression the dashboard now uses, and the same load must finish (status 0).

    .venv/bin/python benchmarks/repro_deadlock.py               # the UDF: hangs on a 2-core machine
    .venv/bin/python benchmarks/repro_deadlock.py --native      # native expression: finishes

Bounded: `--seconds` of load at most, then a verdict; it never runs forever. The load runs in a
child process, watched from this one (a deadlocked thread may hold the GIL).
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import select
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import polars as pl

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from dashboard.equilibre import quadrant_expr  # noqa: E402
from etl.indices import quadrant  # noqa: E402


def frames(rows: int, wide_cols: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A frame of two indices (like the balance table) and a wide frame (like an extract preview)."""
    rng = np.random.default_rng(13)
    indices = pl.DataFrame({
        "indice_collaboratif": rng.uniform(0, 100, rows),
        "indice_plateformes": rng.uniform(0, 100, rows),
    }).with_columns(pl.when(pl.int_range(pl.len()) % 17 == 0).then(None)
                    .otherwise(pl.col("indice_plateformes")).alias("indice_plateformes"))
    wide = pl.DataFrame({f"c{i}": rng.uniform(0, 1, rows) for i in range(wide_cols)}).with_columns(
        code=pl.int_range(pl.len()).cast(pl.String).str.zfill(5))
    return indices, wide


def udf_work(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(quadrant=pl.struct("indice_collaboratif", "indice_plateformes").map_elements(
        lambda s: quadrant(s["indice_collaboratif"], s["indice_plateformes"]), return_dtype=pl.String))


def native_work(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(quadrant=quadrant_expr("indice_collaboratif", "indice_plateformes"))


def child(args: argparse.Namespace) -> None:
    """The load: prints one character per finished operation (u, n or p) on stdout."""
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # C-level dump: works without the GIL
    indices, wide = frames(args.rows, args.wide_cols)
    work, mark = (native_work, b"n") if args.native else (udf_work, b"u")
    out = sys.stdout.buffer

    def loop(fn, char: bytes) -> None:
        while True:
            fn()
            out.write(char)
            out.flush()

    threads = [threading.Thread(target=loop, args=(lambda: work(indices), mark), daemon=True)
               for _ in range(args.udf_threads)]
    threads += [threading.Thread(target=loop, args=(wide.to_pandas, b"p"), daemon=True)
                for _ in range(args.pandas_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def in_process(args: argparse.Namespace) -> int:
    """The load in this process, as in a server: the watchdog is faulthandler's own C thread, re-armed
    at each progress; if no thread progresses for `--stall` seconds it prints the stacks and exits 1."""
    indices, wide = frames(args.rows, args.wide_cols)
    work, kind = (native_work, "native") if args.native else (udf_work, "udf")
    counts = {kind: 0, "to_pandas": 0}
    lock = threading.Lock()
    stop = threading.Event()

    def loop(name: str, fn) -> None:
        while not stop.is_set():
            fn()
            with lock:
                counts[name] += 1

    threads = [threading.Thread(target=loop, args=(kind, lambda: work(indices)), daemon=True)
               for _ in range(args.udf_threads)]
    threads += [threading.Thread(target=loop, args=("to_pandas", wide.to_pandas), daemon=True)
                for _ in range(args.pandas_threads)]
    print(f"polars {pl.__version__}, in process: {args.udf_threads} thread(s) {kind}, "
          f"{args.pandas_threads} thread(s) to_pandas, {args.seconds:.0f} s at most; a dump of the "
          f"threads' stacks below means no progress for {args.stall:.0f} s (deadlock)", flush=True)
    t0 = time.monotonic()
    for t in threads:
        t.start()
    last = -1
    while time.monotonic() - t0 < args.seconds:
        with lock:
            total = sum(counts.values())
        if total != last:
            last = total
            faulthandler.dump_traceback_later(args.stall, exit=True)  # re-armed: C thread, no GIL needed
        time.sleep(0.5)
    faulthandler.cancel_dump_traceback_later()
    stop.set()
    print(f"no hang in {time.monotonic() - t0:.0f} s: {counts}", flush=True)
    os._exit(0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--native", action="store_true", help="native expression instead of the UDF")
    ap.add_argument("--udf-threads", type=int, default=2)
    ap.add_argument("--pandas-threads", type=int, default=2)
    ap.add_argument("--rows", type=int, default=35_000, help="rows (35,000: about the communes of France)")
    ap.add_argument("--wide-cols", type=int, default=60)
    ap.add_argument("--seconds", type=float, default=60, help="load duration")
    ap.add_argument("--stall", type=float, default=20, help="no progress for this long = deadlock")
    ap.add_argument("--in-process", action="store_true",
                    help="the load in this process, watched by faulthandler's C thread (needs no GIL)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return 0
    if args.in_process:
        return in_process(args)

    # The load runs in a child process: a deadlocked thread may hold the GIL, so the watchdog
    # must live in another interpreter.
    kind = "native" if args.native else "udf"
    print(f"polars {pl.__version__}, {os.cpu_count()} CPUs, POLARS_MAX_THREADS={pl.thread_pool_size()}; "
          f"{args.udf_threads} thread(s) {kind}, {args.pandas_threads} thread(s) to_pandas, "
          f"{args.rows:,} rows, {args.seconds:.0f} s at most", flush=True)
    proc = subprocess.Popen([sys.executable, __file__, "--child", *sys.argv[1:]], stdout=subprocess.PIPE)
    fd = proc.stdout.fileno()
    counts = {"u": 0, "n": 0, "p": 0}
    t0 = last_change = time.monotonic()
    verdict = 0
    while time.monotonic() - t0 < args.seconds:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                print(f"the load process ended by itself (status {proc.wait()})")
                return 2
            for c in chunk.decode():
                counts[c] += 1
            last_change = time.monotonic()
        elif time.monotonic() - last_change > args.stall:
            print(f"DEADLOCK: no thread progressed for {args.stall:.0f} s, after "
                  f"{last_change - t0:.1f} s of load (done: {kind} {counts['u'] + counts['n']}, "
                  f"to_pandas {counts['p']}); the threads' stacks:", flush=True)
            proc.send_signal(signal.SIGUSR1)
            time.sleep(2)
            verdict = 1
            break
    elapsed = time.monotonic() - t0
    proc.kill()
    proc.wait()
    if verdict == 0:
        done = counts["u"] + counts["n"]
        print(f"no hang in {elapsed:.0f} s: {kind} {done}, to_pandas {counts['p']} "
              f"({(done + counts['p']) / elapsed:.1f} operations/s)")
    return verdict


if __name__ == "__main__":
    sys.exit(main())
