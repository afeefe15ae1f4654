"""Serving many officials at once (issue #13): server CPU per view, view times, map payloads, memory.

Drives a real Streamlit server with Chromium sessions (tests/serve_load.py) and reads the server
process's CPU time (/proc/<pid>/stat, all threads) and resident memory. For each checkout
(this one, and every `--repo PATH`, e.g. a `git worktree` of the previous commit), in its own
fresh server, one after the other:

1. cold: one session opens every page once (France); the first views after a start.
2. sequential: every page x the five territories (a commune, an arrondissement, an EPCI, a
   département, France), one view at a time; the server's CPU time before and after each view is
   that view's CPU. Also the largest websocket message of each view (a map's deck).
3. concurrent: `--sessions` (10) sessions at once over the same views; each view's time in the
   browser, from the navigation to the end of the script's last run (p50 / p95 per page), and each
   script run's time on the server (`OBSERVATOIRE_RUN_TIMES`). The load's browsers run under the
   SCHED_IDLE policy by default (`--browsers idle`): they stand for the officials' own computers and
   use only the CPU the server leaves; `--browsers normal` makes them compete for the two cores.
4. memory: `--memory-sessions` (50) sessions of `--memory-views` (4) views, 10 at a time; resident
   memory after every 10 sessions, then after the closed sessions' time to live
   (`--session-ttl`, passed to the server as server.disconnectedSessionTTL).

    .venv/bin/python benchmarks/bench_serve.py --quick                  # validate the instrument (~3 min)
    .venv/bin/python benchmarks/bench_serve.py --repo /tmp/previous     # before/after, same run
    git worktree add /tmp/previous HEAD~1                               # (a checkout of the previous commit)

The figures are those of the machine at that moment: run it on an idle machine for reference figures
(the load average is printed at the start and the end).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests import serve_load as sl  # noqa: E402


@dataclass
class Figures:
    repo: Path
    cold: dict[str, float] = field(default_factory=dict)  # page -> seconds (France, first view)
    cold_cpu: float = 0.0
    cpu: dict[tuple[str, str], float] = field(default_factory=dict)  # (page, niveau) -> CPU s
    largest: dict[tuple[str, str], int] = field(default_factory=dict)  # (page, niveau) -> bytes
    times: dict[str, list[float]] = field(default_factory=dict)  # page -> view seconds, concurrent
    concurrent_cpu_per_view: float = float("nan")
    concurrent_wall: float = 0.0
    concurrent_server_cpu: float = 0.0  # s of CPU the server used during the concurrent phase
    concurrent_machine_cpu: float = 0.0  # s of CPU all processes used then (browsers, driver, neighbours)
    #: page -> wall seconds of each script run that finished on the server during the concurrent phase
    #: (`dashboard.guard` writes them when OBSERVATOIRE_RUN_TIMES is set; a commit without it: none)
    script_runs: dict[str, list[float]] = field(default_factory=dict)
    rss_start: float = 0.0
    rss_series: list[tuple[int, float]] = field(default_factory=list)  # (views so far, MB)
    rss_released: float = float("nan")
    sessions_left: str = ""
    failures: list[str] = field(default_factory=list)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu.values()) if self.cpu else float("nan")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine_cpu_seconds() -> float:
    """CPU time all processes of the machine have used (busy jiffies of /proc/stat, every core), in seconds."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / sl.CLOCK_TICKS


def script_runs(path: Path, since: float) -> dict[str, list[float]]:
    """page -> wall seconds of the script runs that finished ("fini") on the server since `since` (epoch)."""
    out: dict[str, list[float]] = {}
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        start, page, wall, _cpu, status = line.split("\t")
        if float(start) >= since and status == "fini":
            out.setdefault(page, []).append(float(wall))
    return out


def session_metrics(server: sl.Server) -> str:
    """Session counts from /_stcore/metrics, when the server reports them."""
    try:
        text = urlopen(server.base + "/_stcore/metrics", timeout=10).read().decode()
    except OSError:
        return "?"
    lines = [line for line in text.splitlines() if "session" in line.lower() and not line.startswith("#")]
    return "; ".join(lines) or "(not reported)"


def measure(repo: Path, args: argparse.Namespace, workdir: Path) -> Figures:
    fig = Figures(repo)
    env = {"OBSERVATOIRE_DATA": str(args.data)} if args.data else {}
    runs_file = workdir / f"runs-{repo.name}.tsv"
    runs_file.unlink(missing_ok=True)
    env["OBSERVATOIRE_RUN_TIMES"] = str(runs_file)
    server = sl.start_server(repo, log=workdir / f"server-{repo.name}.log", env=env,
                             extra=["--server.disconnectedSessionTTL", str(args.session_ttl)])
    try:
        fig.rss_start = server.rss_mb()
        print(f"\n== {repo} (server pid {server.proc.pid}, {fig.rss_start:.0f} MB at start)", flush=True)
        pages = args.pages or sl.PAGES
        territories = [t for t in sl.TERRITORIES if not args.levels or t[0] in args.levels]

        # 1. cold: the first view of each page after the start
        c0 = server.cpu_seconds()
        cold = sl.drive(server.base, [[(p, "france", "FR") for p in pages]], view_timeout=args.view_timeout,
                        idle_browsers=args.browsers == "idle")
        fig.cold_cpu = server.cpu_seconds() - c0
        fig.cold = {v.page: v.seconds for v in cold.views if v.seconds is not None}
        fig.failures += [f"cold {v.page}: {v.error}" for v in cold.views if v.error or v.seconds is None]
        print(f"cold: {len(cold.views)} views, {fig.cold_cpu:.1f} s CPU", flush=True)

        # 2. sequential: CPU per view
        seq = sl.drive(server.base, [[(p, n, c) for n, c in territories for p in pages]],
                       view_timeout=args.view_timeout, probe=server.cpu_seconds, record_frames=True,
                       idle_browsers=args.browsers == "idle")
        for v in seq.views:
            if v.seconds is None or v.error:
                fig.failures.append(f"sequential {v.page} {v.niveau} {v.code}: {v.error}")
                continue
            fig.cpu[(v.page, v.niveau)] = v.cpu
            fig.largest[(v.page, v.niveau)] = v.largest_message
        print(f"sequential: {len(fig.cpu)} views, median {fig.median_cpu:.3f} s CPU per view", flush=True)

        if args.sequential_only:
            return fig

        # 3. concurrent sessions: view times
        views = [(p, n, c) for n, c in territories for p in pages]
        per = -(-len(views) // args.sessions)
        sessions = [views[i * per:(i + 1) * per] for i in range(args.sessions)]
        sessions = [s for s in sessions if s]
        c0, m0, since = server.cpu_seconds(), machine_cpu_seconds(), time.time()
        with sl.HealthWatch(server) as health:
            r = sl.drive(server.base, sessions, view_timeout=args.view_timeout, max_seconds=args.max_seconds,
                         idle_browsers=args.browsers == "idle")
        fig.script_runs = script_runs(runs_file, since)
        done = [v for v in r.views if v.seconds is not None and not v.error]
        fig.concurrent_server_cpu = server.cpu_seconds() - c0
        fig.concurrent_machine_cpu = machine_cpu_seconds() - m0
        fig.concurrent_cpu_per_view = fig.concurrent_server_cpu / max(1, len(done))
        fig.concurrent_wall = r.wall
        for v in done:
            fig.times.setdefault(v.page, []).append(v.seconds)
        fig.failures += [f"concurrent {v.page} {v.niveau} {v.code}: {v.error}" for v in r.views
                         if v.error or v.seconds is None]
        if health.failures:
            fig.failures.append(f"health unanswered at {[round(t) for t in health.failures]} s")
        print(f"concurrent: {len(sessions)} sessions, {len(done)}/{len(views)} views in {r.wall:.0f} s", flush=True)

        # 4. memory: many sessions, closed, then their time to live
        if args.memory_sessions:
            plan = sl.plan(args.memory_sessions, args.memory_views, territories=territories, pages=pages)
            count = 0
            for start in range(0, len(plan), 10):
                batch = plan[start:start + 10]
                r = sl.drive(server.base, batch, view_timeout=args.view_timeout, max_seconds=args.max_seconds,
                             idle_browsers=args.browsers == "idle")
                count += len(r.views)
                fig.failures += [f"memory {v.page} {v.niveau}: {v.error}" for v in r.views
                                 if v.error or v.seconds is None]
                fig.rss_series.append((count, server.rss_mb()))
                print(f"memory: {count} views, {fig.rss_series[-1][1]:.0f} MB", flush=True)
            time.sleep(args.session_ttl + 15)  # closed sessions are dropped after their time to live
            fig.rss_released = server.rss_mb()
            fig.sessions_left = session_metrics(server)
    finally:
        server.stop()
    return fig


def report(figs: list[Figures], args: argparse.Namespace) -> None:
    def ms(x: float) -> str:
        return "-" if x != x else f"{x * 1000:,.0f}".replace(",", " ")

    pages = args.pages or sl.PAGES
    names = [f.repo.name for f in figs]
    print(f"\n# Serving benchmark ({time.strftime('%Y-%m-%d %H:%M')}, load average now {load_average()})")
    print("\nServer CPU per view, sequential, ms (median over the territories; all pages and territories last):")
    print(f"{'page':<24}" + "".join(f"{n[:18]:>20}" for n in names))
    for page in pages:
        print(f"{page:<24}" + "".join(
            f"{ms(statistics.median([c for (p, _), c in f.cpu.items() if p == page] or [float('nan')])):>20}"
            for f in figs))
    print(f"{'MEDIAN (goal <= 150)':<24}" + "".join(f"{ms(f.median_cpu):>20}" for f in figs))
    print(f"{'concurrent: CPU / view':<24}" + "".join(f"{ms(f.concurrent_cpu_per_view):>20}" for f in figs))
    if any(f.concurrent_wall for f in figs):
        # where the two cores went while the sessions ran: the server, and everything else (the load's own
        # browsers and their driver, and any neighbour's job); "capacity" is cores x the phase's duration
        print("\nConcurrent phase, CPU seconds: server / all processes / capacity (cores x wall):")
        for f in figs:
            cap = (os.cpu_count() or 1) * f.concurrent_wall
            print(f"  {f.repo.name}: {f.concurrent_server_cpu:.1f} / {f.concurrent_machine_cpu:.1f} / {cap:.1f} s "
                  f"(server {f.concurrent_server_cpu / max(f.concurrent_machine_cpu, 1e-9):.0%} of the CPU used)")

    print(f"\nView time with {args.sessions} concurrent sessions, p50 / p95 ms (goal p95 < 2000), and cold (France):")
    for page in pages:
        cells = []
        for f in figs:
            t = f.times.get(page, [])
            cells.append(f"{ms(sl.percentile(t, 50))} / {ms(sl.percentile(t, 95))} ({ms(f.cold.get(page, float('nan')))})")
        print(f"{page:<24}" + "".join(f"{c:>28}" for c in cells))

    if any(f.script_runs for f in figs):
        print(f"\nScript runs on the server with {args.sessions} concurrent sessions (from the entry script's header "
              "to the page's end, as dashboard.guard times them; '-': a commit that does not record them), "
              "p50 / p95 ms (runs):")
        for page in pages:
            cells = []
            for f in figs:
                t = f.script_runs.get(page, [])
                cells.append(f"{ms(sl.percentile(t, 50))} / {ms(sl.percentile(t, 95))} ({len(t)})" if t else "-")
            print(f"{page:<24}" + "".join(f"{c:>28}" for c in cells))
        for f in figs:
            every = [x for t in f.script_runs.values() for x in t]
            if every:
                print(f"  {f.repo.name}: all runs p95 {ms(sl.percentile(every, 95))} ms over {len(every)} runs")

    print("\nLargest websocket message for France, MB (goal < 1.5):")
    for page in pages:
        print(f"{page:<24}" + "".join(f"{f.largest.get((page, 'france'), 0) / 1e6:>20.2f}" for f in figs))

    if args.memory_sessions:
        print(f"\nResident memory, MB (goal < 1500 after {args.memory_sessions * args.memory_views} views, and flat):")
        for f in figs:
            series = ", ".join(f"{n}: {mb:.0f}" for n, mb in f.rss_series)
            print(f"{f.repo.name}: start {f.rss_start:.0f}; {series}; {args.session_ttl + 15} s after the last "
                  f"session closed: {f.rss_released:.0f}; sessions: {f.sessions_left}")

    if len(figs) > 1:
        base, cur = figs[-1], figs[0]
        print(f"\nRatios {cur.repo.name} / {base.repo.name}: median CPU per view "
              f"{cur.median_cpu / base.median_cpu:.2f}; concurrent CPU per view "
              f"{cur.concurrent_cpu_per_view / base.concurrent_cpu_per_view:.2f}")
    for f in figs:
        for failure in f.failures:
            print(f"FAILED ({f.repo.name}): {failure}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", action="append", type=Path, default=[],
                    help="another checkout to measure in the same run (e.g. the previous commit); repeatable")
    ap.add_argument("--sessions", type=int, default=10, help="concurrent sessions (default 10)")
    ap.add_argument("--memory-sessions", type=int, default=50)
    ap.add_argument("--memory-views", type=int, default=4)
    ap.add_argument("--session-ttl", type=int, default=30, help="server.disconnectedSessionTTL, seconds")
    ap.add_argument("--view-timeout", type=float, default=120)
    ap.add_argument("--max-seconds", type=float, default=900, help="bound of each concurrent phase")
    ap.add_argument("--pages", nargs="*", help="a subset of pages (url paths)")
    ap.add_argument("--levels", nargs="*", help="a subset of the five territories' levels")
    ap.add_argument("--logs", type=Path, help="keep the servers' logs in this folder (default: a temporary one)")
    ap.add_argument("--data", type=Path, help="OBSERVATOIRE_DATA for every server (default: each repo's data/)")
    ap.add_argument("--sequential-only", action="store_true",
                    help="cold and sequential phases only (server CPU per view; skips concurrency and memory)")
    ap.add_argument("--browsers", choices=["idle", "normal"], default="idle",
                    help="scheduling of the load's browsers: 'idle' (default; SCHED_IDLE: they stand for the "
                    "officials' own computers and use only the CPU the server leaves) or 'normal' (they "
                    "compete with the server for the cores)")
    ap.add_argument("--quick", action="store_true", help="validate the instrument: 3 pages, 2 territories, "
                    "3 sessions, memory 10 sessions x 2 views")
    args = ap.parse_args()
    if args.sequential_only:
        args.memory_sessions = 0
    if args.quick:
        args.pages = args.pages or ["mon-territoire", "equilibre", "tiers-lieux"]
        args.levels = args.levels or ["commune", "france"]
        args.sessions, args.memory_sessions, args.memory_views, args.session_ttl = 3, 10, 2, 10
    print(f"load average at start: {load_average()}; {os.cpu_count()} CPUs; load browsers' scheduling: "
          f"{args.browsers}", flush=True)
    figs = []
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        logs = args.logs or Path(tmp)  # the servers' logs: a failed view's traceback is there
        logs.mkdir(parents=True, exist_ok=True)
        for repo in [ROOT, *args.repo]:
            figs.append(measure(repo.resolve(), args, logs))
    report(figs, args)
    return 1 if any(f.failures for f in figs) else 0


if __name__ == "__main__":
    sys.exit(main())
