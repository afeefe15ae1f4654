"""`etl run SOURCE` downloads that source only: the other inputs of the marts it rebuilds are read
from their current files (the raw copies of the last live run), and a missing one stops the run
before any download. A local HTTP server on 127.0.0.1 serves the mirror's files and counts the
requests it receives.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from etl import registry
from etl.runner import plan, run
from etl.sources.base import SourceError
from tests.fault_server import FaultServer
from tests.test_download import FAST, TERRITORY

HOUSING = "insee-logement/base-cc-logement-2021-extrait.csv"


@pytest.fixture
def server(mirror, monkeypatch):
    """The territory sources pointed at a local server that serves the mirror (their mirror paths)."""
    srv = FaultServer(mirror)
    for name in TERRITORY:
        src = registry.sources()[name]
        moved = tuple(type(r)(r.key, f"{srv.url}/{r.mirror}", r.mirror, r.filename) for r in src.resources_)
        monkeypatch.setattr(type(src), "resources_", moved)
    yield srv
    srv.close()


def _territory_paths() -> set[str]:
    return {r.mirror for n in TERRITORY for r in registry.sources()[n].resources_}


def test_one_source_is_the_only_download(server, tmp_path, mirror):
    out = tmp_path / "data"
    first = run(TERRITORY, out_dir=out, progress=False, download_kwargs=FAST)
    # vtc reads the archived BPE (always the mirror's) and the passage table: built too
    assert [m.name for m in first.marts] == ["territoires", "vtc"] and first.ok, first.errors()
    # the other domain marts also read sources that this folder has no copy of: left out, and said so
    assert any(n.startswith("tiers_lieux : non construit") for n in first.notes), first.notes
    assert set(server.hits) == _territory_paths() and set(server.hits.values()) == {1}

    server.hits.clear()
    report = run(["insee_logement"], out_dir=out, progress=False, download_kwargs=FAST)
    assert report.ok, report.errors()
    assert server.hits == {HOUSING: 1}  # one request: the named source; the 7 others are reused
    status = {s.name: s.status for s in report.sources}
    assert status.pop("insee_logement") == "inchangé"  # same ETag as the first run
    assert set(status) == set(TERRITORY) - {"insee_logement"} | {"bpe_historique"}
    assert set(status.values()) == {"réutilisé"}
    assert [m.name for m in report.marts] == ["territoires", "vtc"]  # the mart that reads it, and what reads that
    # the rebuilt mart is the real one: Paris's population from the reused geo.api copy
    t = pl.read_parquet(out / "territoires.parquet")
    communes = pl.read_json(mirror / "geo-api-gouv" / "communes.json")
    paris = communes.filter(pl.col("code") == "75056")["population"].item()
    assert t.filter((pl.col("niveau") == "commune") & (pl.col("code") == "75056"))["population"].item() == paris

    # the named source fails: its marts cannot be rebuilt, so the other sources' copies are not even read
    server.hits.clear()
    server.truncate.add(HOUSING)
    failed = run(["insee_logement"], out_dir=out, progress=False, download_kwargs=FAST)
    server.truncate.clear()
    assert [(s.name, s.status) for s in failed.sources] == [("insee_logement", "erreur")]
    assert {m.name: m.status for m in failed.marts} == {"territoires": "ignoré", "vtc": "ignoré"}
    skipped = next(n for n in failed.notes if n.startswith("non relu"))
    assert all(name in skipped for name in set(TERRITORY) - {"insee_logement"} | {"bpe_historique"}), skipped

    # a reused source whose current copy is gone: the run stops before any download, data untouched
    before = {p: p.read_bytes() for p in sorted(out.rglob("*.parquet"))}
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    contours = out / "raw" / next(iter(manifest["sources"]["contours"]["fichiers"].values()))["fichier"]
    contours.unlink()
    server.hits.clear()
    with pytest.raises(SourceError) as exc:
        run(["insee_logement"], out_dir=out, progress=False, download_kwargs=FAST)
    message = str(exc.value)
    assert "rien n'a été téléchargé" in message and "territoires" in message
    assert f"contours : copie absente de {out / 'raw'} : {contours.relative_to(out / 'raw')}" in message
    assert server.hits == {}
    assert {p: p.read_bytes() for p in sorted(out.rglob("*.parquet"))} == before


def test_plan_on_the_embedded_data(data_dir, mirror):
    """On a folder that holds every mart: the housing file feeds the territories, which every mart reads."""
    p = plan(["insee_logement"], data_dir, {}, mirror=mirror)
    assert p.fetch == ["insee_logement"]
    assert set(p.order) == set(registry.marts()) and p.order[0] == "territoires" and p.order[-1] == "equilibre"
    assert "insee_logement" not in p.reuse and {"contours", "rpc", "insideairbnb"} <= set(p.reuse)
    # a source that one mart reads: that mart and the composite indices, nothing else fetched or read
    p = plan(["incitations_covoiturage"], data_dir, {}, mirror=mirror)
    assert (p.fetch, p.reuse, p.order) == (["incitations_covoiturage"], [], ["incitations_covoiturage", "equilibre"])
    # live, on the embedded data (built from the mirror): the current files are the mirror's, as
    # the manifest records them (path and checksum), read again, not downloaded
    p = plan(["bpe"], data_dir, {})
    assert (p.fetch, p.reuse, p.order) == (["bpe"], ["bpe_historique", "cog_passage"], ["vtc", "equilibre"])


def test_live_run_without_the_current_files_stops_in_french(data_dir, tmp_path, monkeypatch):
    """The embedded data was built from a mirror that is not there: nothing to reuse, said in French."""
    monkeypatch.setenv("OBSERVATOIRE_MIRROR", str(tmp_path / "ailleurs"))
    with pytest.raises(SourceError) as exc:
        plan(["insee_logement"], data_dir, {})
    message = str(exc.value)
    assert message.startswith("rien n'a été téléchargé : pour reconstruire territoires, aires_covoiturage")
    expected = tmp_path / "ailleurs" / "contours-administratifs" / "communes-simplifie.geojson.gz"
    assert f"contours : ses données actuelles viennent du miroir, et {expected} est absent" in message
    # every other source of the rebuilt marts is named, the one asked for is not
    named = {line.split(" : ")[0].strip() for line in message.splitlines()[1:-1]}
    assert named == {s for m in registry.marts().values() for s in m.sources} - {"insee_logement"}


def test_empty_folder_builds_what_reads_the_source(tmp_path, mirror):
    p = plan(["insee_logement"], Path(tmp_path), {}, mirror=mirror)
    assert p.order == ["territoires"]
    assert p.fetch == ["insee_logement"] and "insee_logement" not in p.reuse
    assert set(p.reuse) == set(registry.marts()["territoires"].sources) - {"insee_logement"}
