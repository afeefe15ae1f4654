"""Downloads against a local HTTP server on 127.0.0.1 that serves the mirror's files.

The server can fail a few times, cut a file short or serve a file missing a column; in every
failing case the previous good data must stay in place byte for byte and the error must name
the source and the problem.
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest

from etl import download, registry
from etl.runner import run
from tests.fault_server import FaultServer

FAST = {"backoff": 0.01, "max_wait": 0.05}


@pytest.fixture
def http_mirror(mirror):
    server = FaultServer(mirror)
    yield server
    server.close()


TERRITORY = ["communes", "arrondissements", "epci", "departements", "regions", "contours", "insee_logement",
             "cog_passage"]


@pytest.fixture
def live_sources(http_mirror, monkeypatch):
    """Point every source of the territory reference at the local server (its mirror paths)."""
    for name in TERRITORY:
        src = registry.sources()[name]
        moved = tuple(type(r)(r.key, f"{http_mirror.url}/{r.mirror}", r.mirror, r.filename) for r in src.resources_)
        monkeypatch.setattr(type(src), "resources_", moved)
    return http_mirror


def test_retries_then_succeeds(http_mirror, tmp_path):
    path = "regions.json"
    http_mirror.root = http_mirror.root / "geo-api-gouv"
    http_mirror.plans[path] = ["503", "drop"]
    staged = download.stage(f"{http_mirror.url}/{path}", tmp_path / "regions.json", label="regions",
                            progress=False, **FAST)
    assert http_mirror.hits[path] == 3
    assert staged.changed and staged.tmp is not None
    staged.commit()
    assert (tmp_path / "regions.json").read_bytes() == (http_mirror.root / path).read_bytes()
    # the server's ETag is remembered: the next download is skipped as unchanged
    again = download.stage(f"{http_mirror.url}/{path}", tmp_path / "regions.json", label="regions",
                           progress=False, **FAST)
    assert not again.changed and again.path == tmp_path / "regions.json"


def test_gives_up_and_names_the_problem(http_mirror, tmp_path):
    http_mirror.plans["x.json"] = ["503"] * 10
    with pytest.raises(download.DownloadError, match=r"regions.*3 tentatives.*HTTP 503"):
        download.stage(f"{http_mirror.url}/x.json", tmp_path / "x.json", label="regions", max_attempts=3,
                       progress=False, **FAST)
    assert not any(tmp_path.iterdir())  # no partial file left behind


def test_retry_after_header():
    assert download.retry_after_seconds("7") == 7.0
    assert download.retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a past date: retry now
    assert download.retry_after_seconds("soon") is None


def status(report, mart: str) -> str:
    return next(m.status for m in report.marts if m.name == mart)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_live_run_keeps_good_data_on_failure(live_sources, tmp_path, mirror):
    out = tmp_path / "data"
    # the territory reference only: the domain marts that also read the contours have other
    # sources, unreachable here, and are reported as not rebuilt
    first = run(TERRITORY, out_dir=out, progress=False, download_kwargs=FAST)
    assert status(first, "territoires") == "ok", first.errors()
    assert (out / "raw" / "insee_logement" / "base-cc-logement-2021-extrait.csv").exists()
    t = pl.read_parquet(out / "territoires.parquet")
    assert t.filter(pl.col("code") == "75056")["population"].item() == 2_103_778
    before = _snapshot(out)
    housing = "insee-logement/base-cc-logement-2021-extrait.csv"

    # 1. a file cut short (the server announces more bytes than it sends)
    live_sources.truncate.add(housing)
    report = run(["insee_logement"], out_dir=out, progress=False, download_kwargs=FAST)
    live_sources.truncate.clear()
    assert status(report, "territoires") == "ignoré"
    assert any("insee_logement" in e and "tronqué" in e for e in report.errors()), report.errors()
    assert _snapshot(out) == before

    # 2. a file that lacks a column
    original = (mirror / housing).read_bytes()
    live_sources.overrides[housing] = (
        pl.read_csv(io.BytesIO(original), separator=";", infer_schema=False).drop("P21_RSECOCC")
        .write_csv(separator=";").encode()
    )
    report = run(["insee_logement"], out_dir=out, progress=False, download_kwargs=FAST)
    assert any("insee_logement" in e and "P21_RSECOCC" in e for e in report.errors()), report.errors()
    assert _snapshot(out) == before

    # 3. an implausibly short file (parseable, right columns, 10 rows)
    live_sources.overrides[housing] = b"\n".join(original.splitlines()[:11]) + b"\n"
    report = run(["insee_logement"], out_dir=out, progress=False, download_kwargs=FAST)
    assert any("insee_logement" in e and "minimum plausible" in e for e in report.errors()), report.errors()
    assert _snapshot(out) == before

    # 4. the server fails twice then answers: the run succeeds
    live_sources.overrides.clear()
    live_sources.plans[housing] = ["503", "drop"]
    report = run(["insee_logement"], out_dir=out, progress=False, download_kwargs=FAST)
    assert status(report, "territoires") == "ok", report.errors()
    assert not any("insee_logement" in e for e in report.errors())
