"""Shared fixtures: the offline mirror, the committed marts, a fresh rebuild, page runs, a browser."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

import pytest

from etl.config import ROOT, mirror_dir
from etl.config import data_dir as data_dir_config

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
def territoires(data_dir):
    import polars as pl

    return pl.read_parquet(data_dir / "territoires.parquet")


@pytest.fixture(scope="session")
def parsed_reference(mirror):
    """The territory sources parsed from the mirror, once per session."""
    from etl import registry
    from etl.sources.base import FetchContext, fetch

    ctx = FetchContext(mirror=mirror, raw_dir=Path("/nonexistent"), progress=False)
    names = ["communes", "arrondissements", "epci", "departements", "regions", "insee_logement", "cog_passage"]
    return {n: fetch(registry.sources()[n], ctx)[0] for n in names}


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


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright. Skipped only outside CI when it is not installed."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-sync", "--use-gl=swiftshader", "--enable-unsafe-swiftshader"],
        )
        yield b
        b.close()


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
    proc.terminate()
    proc.wait(timeout=10)


def wait_for_app(page, timeout: float = 60) -> None:
    """Wait until Streamlit has finished running the script.

    The app says so itself: `data-test-script-state` of `stApp` goes from "initial" to "running" to
    "notRunning" (the status widget alone was not found reliably, so a loaded machine returned
    before the page was drawn).
    """
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout * 1000)
    deadline = time.time() + timeout
    time.sleep(1.0)
    with contextlib.suppress(Exception):  # an older Streamlit without the attribute: the status widget below
        page.wait_for_function(
            "() => { const a = document.querySelector('[data-testid=\"stApp\"]');"
            " return a && a.getAttribute('data-test-script-state') === 'notRunning'; }",
            timeout=timeout * 1000)
    while time.time() < deadline:
        if page.query_selector('[data-testid="stStatusWidget"]') is None:
            break
        time.sleep(0.25)
    time.sleep(0.5)


@pytest.fixture
def fresh_dir(tmp_path):
    """A copy of the marts (committed, or `OBSERVATOIRE_DATA`) that a test may modify."""
    dst = tmp_path / "data"
    shutil.copytree(data_dir_config(), dst, ignore=shutil.ignore_patterns("raw"))
    return dst
