"""The server survives concurrent officials (issue #13): 8 browser sessions at once over every page.

A fresh server from this checkout; 8 Chromium contexts open one deep link each at the same time:
the 8 sessions together cover every page of the menu and the five territories (pages and
territories rotate); a thread polls `/_stcore/health` every second. Each view is a new Streamlit
session, so the peak is 8 scripts at once on a cold server, the moment that matters; more views per
session would repeat the same pages under a lower load (benchmarks/bench_serve.py runs longer loads
and measures them). The test fails if a view does not finish (the app's script state back to
"notRunning"), if a view shows an exception or the French error page, or if the server leaves a
health poll unanswered for 10 s. Bounded (BOUND).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from etl.config import ROOT
from tests import serve_load

SESSIONS = 8
VIEWS_PER_SESSION = 1  # 8 views at once cover the 8 pages (serve_load.plan)
VIEW_TIMEOUT = 240  # seconds: generous for a machine shared with other jobs (a view took 110 s+ once in CI); a hang never finishes
BOUND = 600  # seconds for the whole load, whatever happens


@pytest.mark.browser
def test_eight_concurrent_sessions_over_every_page(tmp_path):
    if not Path(serve_load.CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium)")
    sessions = serve_load.plan(SESSIONS, VIEWS_PER_SESSION)
    assert {page for views in sessions for page, _, _ in views} == set(serve_load.PAGES)
    assert {(n, c) for views in sessions for _, n, c in views} == set(serve_load.TERRITORIES)
    server = serve_load.start_server(ROOT, log=tmp_path / "server.log",
                                    env={"OBSERVATOIRE_PRECHARGER": "1"})  # as deployed: caches warmed at start
    try:
        with serve_load.HealthWatch(server, every=1.0, timeout=10.0) as health:
            result = serve_load.drive(server.base, sessions, view_timeout=VIEW_TIMEOUT, max_seconds=BOUND)
        alive = server.proc.poll() is None and server.healthy()
    finally:
        server.stop()
    log = (tmp_path / "server.log").read_text(errors="replace")[-3000:]
    assert len(result.views) == SESSIONS * VIEWS_PER_SESSION, f"views not started within {BOUND} s"
    assert not result.unfinished, [(v.page, v.niveau, v.code, v.error) for v in result.unfinished] + [log]
    assert not result.failed, [(v.page, v.niveau, v.code, v.error) for v in result.failed] + [log]
    assert health.polls > 0 and not health.failures, f"health unanswered at {health.failures} s\n{log}"
    assert alive, "the server stopped answering after the load"
    warm = [line for line in (tmp_path / "server.log").read_text(errors="replace").splitlines() if "préchargement" in line]
    assert warm == [], warm  # the warm-up read every shared table
