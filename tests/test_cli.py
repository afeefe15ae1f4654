"""The ETL command line as a user types it."""

from __future__ import annotations

import json
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


def _strip_times(obj):
    if isinstance(obj, dict):
        return {k: _strip_times(v) for k, v in obj.items() if k not in ("recupere_le", "construit_le")}
    if isinstance(obj, list):
        return [_strip_times(v) for v in obj]
    return obj


def test_run_one_source_from_the_mirror_twice_gives_the_same_bytes(tmp_path, mirror):
    """One source into an empty folder builds the mart that reads it (not all of them); two runs, in
    two processes (so two hash seeds, two thread schedules), write the same bytes: a rebuild from
    the same mirror changes only the times in the manifest."""
    outs = [tmp_path / "a", tmp_path / "b"]
    procs = [subprocess.Popen([sys.executable, "-m", "etl", "run", "insee_logement", "--mirror", str(mirror), "--out",
                               str(out), "--quiet"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for out in outs]
    results = [p.communicate(timeout=600) for p in procs]
    for p, (stdout, stderr) in zip(procs, results, strict=True):
        assert p.returncode == 0, stdout + stderr
    stdout = results[0][0]
    assert "34 955" in stdout  # the housing rows read, in the summary
    lines = {line.split()[0]: line.split()[1] for line in stdout.splitlines() if line[:1].isalpha() and " " in line}
    assert lines["insee_logement"] == "ok" and lines["communes"] == "réutilisé"  # read, not fetched
    assert lines["territoires"] == "ok" and "vtc" not in lines  # only the mart that reads it
    manifests = [json.loads((out / "manifest.json").read_text(encoding="utf-8")) for out in outs]
    files = sorted(str(p.relative_to(outs[0])) for p in outs[0].rglob("*.parquet") if "raw" not in p.parts)
    assert files == sorted(["catalogue.parquet", *manifests[0]["marts"]["territoires"]["fichiers"]])
    assert "territoires.parquet" in files and "indicateurs/territoires.parquet" in files
    for f in files:
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f"{f} differs between two builds"
    assert _strip_times(manifests[0]) == _strip_times(manifests[1])
    assert manifests[0]["marts"]["territoires"]["construit_le"]  # the times are there, and only they differ
