"""Shared fixtures: the offline mirror, the committed marts, a fresh rebuild, page runs, a browser.

The suite runs in parallel (pytest-xdist, `-n auto --dist worksteal` in pyproject.toml). The full
rebuild from the mirror is done once per session, whatever the number of workers (`rebuilt_data`),
and the tests that need it open the first worker's share; the long tests are spread over the workers
(`pytest_collection_modifyitems`).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import urlopen

import pytest

from etl.config import ROOT, mirror_dir
from etl.config import data_dir as data_dir_config

#: the dashboard's background warm-up (dashboard/warm.py) is off in the tests' processes and servers: hundreds
#: of runs over throwaway data folders would each start one; tests/test_serve_browser.py turns it on
os.environ.setdefault("OBSERVATOIRE_PRECHARGER", "0")

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def mirror() -> Path:
    path = mirror_dir()
    if not path.is_dir():
        pytest.fail(f"offline mirror not found at {path} (set OBSERVATOIRE_MIRROR)")
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The marts the dashboard reads: the committed ones, or the folder in `OBSERVATOIRE_DATA` (a rebuild)."""
    return data_dir_config()


@pytest.fixture(scope="session")
def current(data_dir):
    """The current value of every figure (`valeurs/courantes.parquet`), as the ETL wrote it."""
    import polars as pl

    return pl.read_parquet(data_dir / "valeurs" / "courantes.parquet")


@pytest.fixture(scope="session")
def catalogue(data_dir):
    """The catalogue of indicators (`catalogue.parquet`)."""
    import polars as pl

    return pl.read_parquet(data_dir / "catalogue.parquet")


@pytest.fixture(scope="session")
def territoires(data_dir):
    import polars as pl

    return pl.read_parquet(data_dir / "territoires.parquet")


#: Seconds a test takes in a full run (its `--durations` under `.ci/run`, 2 workers on a shared 2-core
#: machine), by node id or its prefix (all parametrizations). Only the order of the run depends on it:
#: a figure out of date makes the tail longer, never a test fail. Unlisted tests count as short.
KNOWN_DURATIONS = {
    "tests/test_serve_browser.py::test_eight_concurrent_sessions_over_every_page": 60,
    "tests/test_download.py::test_live_run_keeps_good_data_on_failure": 80,
    "tests/test_accessibility.py::test_no_serious_violation_on_any_page": 55,
    "tests/test_no_third_party.py::test_every_page_asks_only_the_app": 65,
    "tests/test_run_one_source.py::test_one_source_is_the_only_download": 55,
    "tests/test_viewports.py::test_metric_values_and_labels_are_whole_on_a_phone": 40,
    "tests/test_viewports.py::test_search_finds_as_you_type_and_tells_homonyms_apart": 15,
    "tests/test_browser_shell.py::test_clicking_a_point_of_the_quadrant_selects_that_territory": 35,
    "tests/test_browser_shell.py::test_deep_link_first_on_a_fresh_server": 32,
    "tests/test_browser_shell.py::test_map_tooltip_shows_names_as_text": 20,
    "tests/test_territory_sources.py::test_contours_without_arrondissement_parent_fail_naming_the_field": 14,
    "tests/test_covoiturage_page.py::test_flow_map_and_places_render": 35,
    "tests/test_refresh_faults.py::test_truncated_without_length_is_refused_then_accepted": 35,
    "tests/test_export_core.py::test_batches_are_bounded_and_sorted": 9,
    "tests/test_str_page.py::test_no_script_runs_from_a_listing_name": 21,
    "tests/test_export_pages.py::test_browser_downloads_an_xlsx": 20,
    "tests/test_str_mart.py": 16,
    "tests/test_covoiturage_rpc.py::test_polars_reader_and_line_reader_agree_on_a_simulated_month": 15,
    "tests/test_deploy.py::test_refresh_builds_checks_and_switches": 14,
    "tests/test_export_pages.py::test_browser_source_note_opens_the_dictionary": 14,
    "tests/test_covoiturage_sources.py": 13,
    "tests/test_covoiturage_simulateur.py": 13,
    "tests/test_viewports.py::test_france_column_of_the_comparison_is_visible": 8,
}
#: the session's full rebuild (`rebuilt_data`), in the setup of the first test that asks for it
REBUILD_SECONDS = 170


def _known_seconds(item) -> float:
    return max((s for prefix, s in KNOWN_DURATIONS.items() if item.nodeid.startswith(prefix)), default=0)


def pytest_collection_modifyitems(config, items):
    """Order the run so that the workers end together (pytest-xdist, `--dist worksteal`).

    worksteal hands each worker an equal contiguous share of this list, then an idle worker takes
    the second half of the longest remaining queue. So: the tests of the full rebuild (they share
    one build) start the first share, the other long tests go, longest first, to the share with the
    least work so far (so the browser tests start on the other worker while the rebuild runs), and
    the short tests fill the shares up to equal length, at their end, where a steal takes them.
    """
    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    rebuild = [i for i in items if "rebuilt_data" in getattr(i, "fixturenames", ())]
    rest = [i for i in items if i not in set(rebuild)]
    long = sorted((i for i in rest if _known_seconds(i)), key=_known_seconds, reverse=True)
    short = [i for i in rest if not _known_seconds(i)]
    shares: list[list] = [[] for _ in range(workers)]
    load = [0.0] * workers
    shares[0].extend(rebuild)
    load[0] += REBUILD_SECONDS if rebuild else 0
    for item in long:
        k = load.index(min(load))
        shares[k].append(item)
        load[k] += _known_seconds(item)
    size = -(-len(items) // workers)
    for share in shares:
        while len(share) < size and short:
            share.append(short.pop(0))
    items[:] = [i for share in shares for i in share] + short


@pytest.fixture(scope="session")
def rebuilt_data(tmp_path_factory, mirror) -> Path:
    """Every mart built from the mirror into a fresh folder, once per session.

    Under xdist each worker has its own session: a file lock in the folder that the workers
    share (the parent of each one's base temp dir) makes the first one build and the others
    wait for it and read the same folder.
    """
    from etl.runner import run

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    root = tmp_path_factory.getbasetemp()
    shared = root.parent if worker else root
    out = shared / "rebuild" / "data"
    done = shared / "rebuild" / "done.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(shared / "rebuild" / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                report = run(None, out_dir=out, mirror=mirror, progress=False)
                done.write_text(json.dumps({"ok": report.ok, "errors": report.errors(),
                                            "seconds": round(report.seconds, 1)}), encoding="utf-8")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    status = json.loads(done.read_text(encoding="utf-8"))
    assert status["ok"], status["errors"]
    return out


@pytest.fixture(scope="session")
def parsed_reference(mirror):
    """The territory sources parsed from the mirror, once per session."""
    from etl import registry
    from etl.sources.base import FetchContext, fetch

    ctx = FetchContext(mirror=mirror, raw_dir=Path("/nonexistent"), progress=False)
    names = ["communes", "arrondissements", "epci", "departements", "regions", "insee_logement", "cog_passage"]
    return {n: fetch(registry.sources()[n], ctx)[0] for n in names}


@pytest.fixture(scope="session")
def parsed_contours(mirror):
    """The contours parsed from the mirror, once per session (35,000 polygons: seconds of CPU each time)."""
    from etl import registry
    from etl.sources.base import FetchContext, fetch

    return fetch(registry.sources()["contours"], FetchContext(mirror=mirror, raw_dir=Path("/nonexistent"),
                                                              progress=False))[0]


# -- pages ---------------------------------------------------------------------------------------
APP = str(ROOT / "app.py")


def run_app(page: str | None = None, timeout: float = 120, **params: str):
    """Run the app (entry script, then `page`) with URL parameters, as AppTest does."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=timeout)
    if page is not None:
        # AppTest starts on the default page: run it bare, then open `page` with the link's
        # parameters, as a deep link does (the parameters are read on the page's own run)
        at.run()
        at.switch_page(page)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    return at


@pytest.fixture
def app():
    return run_app


# -- browser -------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_local(url: str) -> bool:
    """A request the app may make: to itself (127.0.0.1), or one that leaves no machine (data:, blob:)."""
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob", "about") or parts.hostname in ("127.0.0.1", "localhost")


ACTION_TIMEOUT_MS = 120_000


class GuardedBrowser:
    """The browser of the tests: every page's requests are recorded, and a request to a host other
    than the app's fails the test that made it (`no_third_party`): no font host, no tile server."""

    def __init__(self, browser):
        self._browser = browser
        self.foreign: list[str] = []

    def _watch(self, context) -> None:
        context.on("request", lambda r: None if is_local(r.url) else self.foreign.append(r.url))
        # Playwright's 30 s per action is too short when both cores are busy and the page draws its
        # maps in software WebGL (a click once waited 30 s to scroll a visible button into view);
        # a page that truly hangs still fails, after ACTION_TIMEOUT_MS
        context.set_default_timeout(ACTION_TIMEOUT_MS)

    def new_context(self, **kwargs):
        context = self._browser.new_context(**kwargs)
        self._watch(context)
        return context

    def new_page(self, **kwargs):
        page = self._browser.new_page(**kwargs)
        self._watch(page.context)
        return page

    def __getattr__(self, name: str):
        return getattr(self._browser, name)


BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-sync", "--use-gl=swiftshader", "--enable-unsafe-swiftshader"]


@pytest.fixture(scope="session")
def _playwright():
    """One Playwright per process: a second `sync_playwright()` running at the same time fails
    ("using Playwright Sync API inside the asyncio loop"), so both browsers are launched from it.
    Skipped only outside CI when Chromium is not installed."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


def _launch(playwright, extra: list[str]):
    """Debian's Chromium driven by Playwright."""
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=[*BROWSER_ARGS, *extra])
    yield GuardedBrowser(b)
    b.close()


@pytest.fixture(scope="session")
def _chromium(_playwright):
    """Chromium that draws the maps (software WebGL): for the tests that look at a map or its requests."""
    yield from _launch(_playwright, [])


@pytest.fixture(scope="session")
def _chromium_flat(_playwright):
    """Chromium without WebGL (`--disable-3d-apis`), as the load test's browsers (tests/serve_load.py).

    For the tests that read the page's text and structure (accessibility, cut-off labels, search):
    on 2 busy cores, drawing France's commune map in software WebGL holds the page for 20 s and more
    at each view, and nothing these tests check is in a canvas. The server still builds and sends
    every map; the maps' drawing and requests are checked by the tests that use `browser`.
    """
    yield from _launch(_playwright, ["--disable-3d-apis"])


def _guard(guarded: GuardedBrowser):
    guarded.foreign.clear()
    yield guarded
    foreign = sorted(set(guarded.foreign))
    guarded.foreign.clear()
    if foreign:
        pytest.fail(f"requests to hosts other than the app's: {foreign[:10]}")


@pytest.fixture
def browser(_chromium):
    """The browser; the test fails if any of its pages asked a host other than the app's."""
    yield from _guard(_chromium)


@pytest.fixture
def flat_browser(_chromium_flat):
    """The browser without WebGL (see `_chromium_flat`); third-party requests fail the test too."""
    yield from _guard(_chromium_flat)


def start_server(port: int | None = None) -> tuple[subprocess.Popen, str]:
    """A fresh Streamlit server on 127.0.0.1 (nothing cached, no session yet)."""
    port = port or _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", APP, "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            if b"ok" in urlopen(base + "/_stcore/health", timeout=1).read():
                return proc, base
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("the Streamlit server did not start")


@pytest.fixture(scope="session")
def server():
    """One server for the browser tests that do not need a fresh one."""
    proc, base = start_server()
    yield base
    stop_server(proc)


def stop_server(proc: subprocess.Popen) -> None:
    """Stop a server started by `start_server`; a loaded machine may need more than a few seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


def wait_for_app(page, timeout: float = 120, text: str | None = None) -> None:
    """Wait for what the user sees: the app connected, `text` shown (when given), the script finished.

    Streamlit marks its root with the script's state; after a click the state may still read
    "notRunning" before the rerun starts, so a caller that triggers a rerun names the text that
    the rerun shows. No fixed sleep.
    """
    ms = timeout * 1000
    page.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]', timeout=ms)
    if text is not None:
        page.get_by_text(text).first.wait_for(timeout=ms)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=ms)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=ms)


def wait_until(check, timeout: float = 30, every: float = 0.2):
    """Poll `check()` until it returns something true (a canvas drawn, a tooltip shown); fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {getattr(check, '__doc__', None) or check}")
        time.sleep(every)


@pytest.fixture
def fresh_dir(tmp_path):
    """A copy of the marts (committed, or `OBSERVATOIRE_DATA`) that a test may modify."""
    dst = tmp_path / "data"
    shutil.copytree(data_dir_config(), dst, ignore=shutil.ignore_patterns("raw"))
    return dst
