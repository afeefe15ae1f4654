"""The ETL command line as a user types it."""

from __future__ import annotations

import subprocess
import sys

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


def test_run_one_source_from_the_mirror(tmp_path, mirror):
    out = etl("run", "insee_logement", "--mirror", str(mirror), "--out", str(tmp_path), "--quiet")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "insee_logement" in out.stdout and "34 955" in out.stdout  # rows read, in the summary
    assert "territoires" in out.stdout  # the mart that reads it was rebuilt
    assert (tmp_path / "territoires.parquet").exists()
