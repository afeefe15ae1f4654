"""The ETL command line as a user types it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from etl import registry
from etl.config import ROOT


def etl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "etl", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_list_names_every_source_with_url_licence_vintage_and_retrieval(data_dir):
    out = etl("list", "--out", str(data_dir))
    assert out.returncode == 0, out.stderr
    for name, src in registry.sources().items():
        assert f"\n{name}\n" in f"\n{out.stdout}", name
        assert src.licence in out.stdout and src.vintage in out.stdout
    assert "https://geo.api.gouv.fr/communes?" in out.stdout
    assert "Licence Ouverte 2.0" in out.stdout
    assert "COG 2026" in out.stdout
    assert "(miroir)" in out.stdout  # the embedded data was built from the mirror, and when


def test_run_needs_sources_or_all():
    out = etl("run")
    assert out.returncode == 2
    assert "--all" in out.stderr


def test_unknown_source_is_named():
    out = etl("run", "cadastre_lunaire", "--mirror")
    assert out.returncode == 2
    assert "cadastre_lunaire" in out.stderr


def _strip_times(obj):
    if isinstance(obj, dict):
        return {k: _strip_times(v) for k, v in obj.items() if k not in ("recupere_le", "construit_le")}
    if isinstance(obj, list):
        return [_strip_times(v) for v in obj]
    return obj


@pytest.mark.slow  # it reads the session's full rebuild: sorted with the rebuild's tests (conftest.py)
def test_run_one_source_from_the_mirror_gives_the_bytes_of_a_full_rebuild(tmp_path, mirror, rebuilt_data):
    """One source into an empty folder builds the mart that reads it (not all of them), and writes the
    same bytes as the session's full rebuild (`rebuilt_data`: another process, so another hash seed and
    thread schedule, and another plan): a rebuild from the same mirror changes only the times in the
    manifest."""
    out = tmp_path / "one"
    done = subprocess.run([sys.executable, "-m", "etl", "run", "insee_logement", "--mirror", str(mirror), "--out",
                           str(out), "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    stdout = done.stdout
    assert "34 955" in stdout  # the housing rows read, in the summary
    lines = {line.split()[0]: line.split()[1] for line in stdout.splitlines() if line[:1].isalpha() and " " in line}
    assert lines["insee_logement"] == "ok" and lines["communes"] == "réutilisé"  # read, not fetched
    assert lines["territoires"] == "ok" and "vtc" not in lines  # only the mart that reads it
    one = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    full = json.loads((rebuilt_data / "manifest.json").read_text(encoding="utf-8"))
    assert list(one["marts"]) == ["territoires"]
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*.parquet") if "raw" not in p.parts)
    assert files == sorted(["catalogue.parquet", *one["marts"]["territoires"]["fichiers"]])
    assert "territoires.parquet" in files and "indicateurs/territoires.parquet" in files
    for f in files:
        assert (out / f).read_bytes() == (rebuilt_data / f).read_bytes(), f"{f} differs from the full rebuild"
    assert _strip_times(one["marts"]["territoires"]) == _strip_times(full["marts"]["territoires"])
    for name in one["marts"]["territoires"]["sources"]:
        assert _strip_times(one["sources"][name]) == _strip_times(full["sources"][name]), name
    assert one["marts"]["territoires"]["construit_le"]  # the times are there, and only they differ
