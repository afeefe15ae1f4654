"""Concurrent browser sessions against a real Streamlit server (issue #13).

Used by the server test (`tests/test_serve_browser.py`) and by the benchmark
(`benchmarks/bench_serve.py`). One Chromium, one browser context per official; each view is a
deep link opened in that context (`/<page>?niveau=..&code=..`): a new Streamlit session that runs
the entry script and the page. A view has finished when the app's root element reports
`data-test-script-state="notRunning"` after a run, with no run starting in the next 0.4 s (`_FINISHED`).

Measured per view in the browser: the time from the navigation to the end of the last run, the
largest websocket message received (the deck of a map, for map pages) and the total bytes; on the
server: CPU time (utime + stime of all threads, /proc/<pid>/stat) and resident memory.
The load browsers do not draw maps (`--disable-3d-apis`): the server still builds and sends them,
and the two cores stay for the server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.request import urlopen

CHROMIUM = "/usr/bin/chromium"
PAGES = ["mon-territoire", "equilibre", "covoiturage", "tiers-lieux", "locations-courte-duree", "vtc-taxis",
         "donnees", "dictionnaire"]
#: Five territories of different levels: a commune, an arrondissement, an EPCI, a département, France.
TERRITORIES = [("commune", "33063"), ("arrondissement", "69381"), ("epci", "243300316"), ("departement", "33"),
               ("france", "FR")]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Records the script state of the app's root element every 20 ms: [[state, ms since navigation], ...], and
# when the document became French (`window.__fr`: the app's entry script sets <html lang="fr"> during a run)
_WATCH_STATE = """
window.__runs = [];
window.__fr = null;
const watch = () => {
  const app = document.querySelector('[data-testid="stApp"]');
  const s = app ? app.getAttribute('data-test-script-state') : null;
  const last = window.__runs.length ? window.__runs[window.__runs.length - 1][0] : null;
  if (s && s !== last) window.__runs.push([s, performance.now()]);
  if (window.__fr === null && document.documentElement.lang === 'fr') window.__fr = performance.now();
};
setInterval(watch, 20);
"""
# A view has finished when the script is not running for 0.4 s after a run. A run is known by its
# "running" state or, when the browser's main thread was busy through the whole run (ten pages
# parsing map messages on two cores) and the 20 ms watch never saw it, by the French document.
_FINISHED = """
() => {
  const r = window.__runs || [];
  if (!r.length || r[r.length - 1][0] !== 'notRunning') return false;
  const ran = r.some(x => x[0] === 'running') || window.__fr !== null;
  return ran && performance.now() - Math.max(r[r.length - 1][1], window.__fr || 0) > 400;
}
"""
#: milliseconds from the navigation to the end of the last run (the later of the last state change and
#: the moment the document became French)
_END_MS = "Math.max(window.__runs[window.__runs.length - 1][1], window.__fr || 0)"


# -- the server ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    proc: subprocess.Popen
    base: str
    log: Path

    def cpu_seconds(self) -> float:
        """utime + stime of every thread of the server process (fields 14 and 15 of /proc/<pid>/stat)."""
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def healthy(self, timeout: float = 10) -> bool:
        try:
            return urlopen(self.base + "/_stcore/health", timeout=timeout).read() == b"ok"
        except OSError:
            return False

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_server(repo: Path, *, log: Path, env: dict[str, str] | None = None, extra: list[str] | None = None,
                 python: str = sys.executable, timeout: float = 120) -> Server:
    """`streamlit run <repo>/app.py` on a free loopback port; the repo's own packages come first."""
    port = free_port()
    full_env = {**os.environ, "PYTHONPATH": str(repo), **(env or {})}
    out = open(log, "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [python, "-m", "streamlit", "run", str(repo / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         *(extra or [])],
        cwd=repo, stdout=out, stderr=subprocess.STDOUT, env=full_env,
    )
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}); see {log}")
        if server.healthy(timeout=1):
            return server
        time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"the server did not answer /_stcore/health within {timeout:.0f} s; see {log}")


class HealthWatch:
    """Polls /_stcore/health every `every` seconds from a thread; records the polls that got no answer."""

    def __init__(self, server: Server, every: float = 1.0, timeout: float = 10.0) -> None:
        self.server, self.every, self.timeout = server, every, timeout
        self.polls = 0
        self.failures: list[float] = []  # seconds since start of each unanswered poll
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.wait(self.every):
            self.polls += 1
            if not self.server.healthy(self.timeout):
                self.failures.append(time.monotonic() - t0)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.timeout + 5)


# -- the sessions ----------------------------------------------------------------------------------
@dataclass
class View:
    session: int
    page: str
    niveau: str
    code: str
    seconds: float | None = None  # None: did not finish in time
    largest_message: int = 0
    received: int = 0
    error: str | None = None  # an exception box or the app's French error sentence
    cpu: float | None = None  # server CPU seconds during the view (sequential runs with a probe)


@dataclass
class LoadResult:
    views: list[View] = field(default_factory=list)
    wall: float = 0.0

    @property
    def unfinished(self) -> list[View]:
        return [v for v in self.views if v.seconds is None]

    @property
    def failed(self) -> list[View]:
        return [v for v in self.views if v.error]


def plan(sessions: int, views_per_session: int, *, territories: list[tuple[str, str]] = TERRITORIES,
         pages: list[str] = PAGES) -> list[list[tuple[str, str, str]]]:
    """Each session's views (page, niveau, code): pages and territories rotate, so that the sessions
    together cover every page with every territory as evenly as the counts allow."""
    out = []
    for s in range(sessions):
        views = []
        for k in range(views_per_session):
            i = s * views_per_session + k
            page = pages[i % len(pages)]
            niveau, code = territories[(i // len(pages) + s) % len(territories)]
            views.append((page, niveau, code))
        out.append(views)
    return out


async def _session(browser, base: str, index: int, views: list[tuple[str, str, str]], view_timeout: float,
                   result: LoadResult, deadline: float, probe=None, record_frames: bool = False) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    await context.add_init_script(_WATCH_STATE)
    page = await context.new_page()
    sizes: list[int] = []
    if record_frames:  # every frame's payload then crosses Chromium -> Playwright's driver -> this process
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: sizes.append(len(payload))))
    try:
        for name, niveau, code in views:
            if time.monotonic() > deadline:
                break
            view = View(index, name, niveau, code)
            result.views.append(view)
            sizes.clear()
            c0 = probe() if probe else None
            t0 = time.monotonic()
            try:
                await page.goto(f"{base}/{name}?niveau={niveau}&code={code}", wait_until="domcontentloaded",
                                timeout=view_timeout * 1000)
                await page.wait_for_function(_FINISHED, timeout=max(1.0, view_timeout - (time.monotonic() - t0))
                                             * 1000, polling=100)
                view.seconds = await page.evaluate(_END_MS) / 1000  # navigation start to the end of the last run
            except Exception as exc:  # a timeout: the view did not finish
                view.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
                with contextlib.suppress(Exception):  # what the page showed: its recorded states, its text
                    seen = await page.evaluate("[window.__runs, document.documentElement.lang, "
                                               "(document.body.innerText || '').slice(0, 160)]")
                    view.error += f" (states {seen[0]}, lang {seen[1]!r}, text {seen[2]!r})"
                continue
            finally:
                view.largest_message = max(sizes, default=0)
                view.received = sum(sizes)
                if probe:
                    view.cpu = probe() - c0
            boxes = await page.locator('[data-testid="stException"]').count()
            french = await page.get_by_text("Une erreur inattendue empêche d'afficher cette page").count()
            if boxes or french:
                view.error = "exception shown" if boxes else "French error page shown"
    finally:
        await context.close()


def idle_chromium(folder: Path) -> str:
    """An executable, written in `folder`, that starts Debian's Chromium under the SCHED_IDLE policy.

    The load's browsers stand for the officials' own computers: in production they do not share the
    server's cores. Under SCHED_IDLE (`chrt --idle 0`, inherited by every process and thread Chromium
    starts) they run only when the server leaves a core free, so the server's script times measure
    the server, not ten browsers laying out pages on the same two cores. (`nice -n 19` is not enough:
    Chromium started as root sets its own priorities back, to -8 for its main and GPU processes.)
    """
    path = folder / "chromium-idle"
    path.write_text(f'#!/bin/sh\nexec chrt --idle 0 {CHROMIUM} "$@"\n', encoding="utf-8")
    path.chmod(0o755)
    return str(path)


async def _drive(base: str, sessions_views: list[list[tuple[str, str, str]]], *, view_timeout: float,
                 max_seconds: float, concurrency: int, probe=None, idle_browsers: bool = False,
                 record_frames: bool = False) -> LoadResult:
    import tempfile

    from playwright.async_api import async_playwright

    result = LoadResult()
    t0 = time.monotonic()
    deadline = t0 + max_seconds
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        executable = idle_chromium(Path(tmp)) if idle_browsers else CHROMIUM
        async with async_playwright() as p:
            await _run_sessions(p, executable, base, sessions_views, view_timeout, result, deadline, probe,
                                concurrency, record_frames)
    result.wall = time.monotonic() - t0
    return result


async def _run_sessions(p, executable: str, base: str, sessions_views: list[list[tuple[str, str, str]]],
                        view_timeout: float, result: LoadResult, deadline: float, probe, concurrency: int,
                        record_frames: bool) -> None:
    browser = await p.chromium.launch(
        executable_path=executable,
        args=["--no-sandbox", "--disable-gpu", "--disable-3d-apis", "--disable-background-networking",
              "--disable-component-update", "--no-first-run", "--disable-sync",
              "--disable-renderer-backgrounding", "--disable-background-timer-throttling"],
    )
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int, views: list[tuple[str, str, str]]) -> None:
        async with gate:
            await _session(browser, base, i, views, view_timeout, result, deadline, probe, record_frames)

    await asyncio.gather(*(one(i, v) for i, v in enumerate(sessions_views)))
    await browser.close()


def drive(base: str, sessions_views: list[list[tuple[str, str, str]]], *, view_timeout: float = 60,
          max_seconds: float = 600, concurrency: int | None = None,
          probe: Callable[[], float] | None = None, idle_browsers: bool = False,
          record_frames: bool = False) -> LoadResult:
    """Run the sessions, `concurrency` at a time (default: all at once); bounded by `max_seconds`.

    `probe` (e.g. `Server.cpu_seconds`), read before and after each view, gives `View.cpu`: exact
    for one session at a time only (with several, views overlap). `idle_browsers` runs the
    browsers under the SCHED_IDLE policy (`idle_chromium`). `record_frames` gives each view's largest
    websocket message and bytes received (`View.largest_message`, `View.received`): every frame then
    travels to this process, a cost for the browsers' side, so it is off unless asked.
    """
    job = _drive(base, sessions_views, view_timeout=view_timeout, max_seconds=max_seconds,
                 concurrency=concurrency or len(sessions_views), probe=probe, idle_browsers=idle_browsers,
                 record_frames=record_frames)
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop in this thread: the usual case (benchmarks, a test on its own)
        return asyncio.run(job)
    # a sync Playwright of an earlier test in this pytest worker keeps a loop running in this thread:
    # the async sessions get their own thread and loop
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, job).result()


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks; nan when empty."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[max(0, min(98, round(q) - 1))]
