"""The live sources as their publishers serve them today (issue #10, point 2).

Each test reads a sample of the real shape (`tests/samples/live/`, where each shape was
confirmed) or the mirror's real files, served by a local HTTP server on 127.0.0.1 under the
live paths. Expected values are computed here from the samples and the mirror.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from pathlib import Path

import polars as pl
import pytest

from etl import registry
from etl.runner import run
from etl.sources import bpe, contours, insideairbnb, sirene_vtc
from etl.sources.base import FetchContext, Resource, SourceError, fetch
from tests.live_server import LiveServer

SAMPLES = Path(__file__).parent / "samples" / "live"
NO_RETRY = {"max_attempts": 1}


def live_ctx(tmp_path: Path, **options) -> FetchContext:
    return FetchContext(mirror=None, raw_dir=tmp_path / "raw", options=options, progress=False,
                        download_kwargs=NO_RETRY)


@pytest.fixture
def server():
    s = LiveServer()
    yield s
    s.close()


# -- Sirene: Paris is published by arrondissement -------------------------------------------------
def sample_rows() -> list[dict[str, str]]:
    with open(SAMPLES / "geo_siret_75108.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def arrondissement_file(code: str) -> bytes:
    """The sample's establishments, placed in arrondissement `code` (each file holds its own)."""
    rows = sample_rows()
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({**r, "codeCommuneEtablissement": code})
    return gzip.compress(buf.getvalue().encode())


def test_sirene_reads_paris_by_arrondissement_and_the_overseas_departements():
    src = registry.sources()["sirene_vtc"]
    paris = src.resources(FetchContext(mirror=None, raw_dir=Path("/x"), options={"sirene_departements": "75"}))
    assert [r.url.rsplit("/", 1)[1] for r in paris] == [f"geo_siret_751{i:02d}.csv.gz" for i in range(1, 21)]
    every = [r.url.rsplit("/", 1)[1] for r in src.resources(FetchContext(mirror=None, raw_dir=Path("/x")))]
    assert "geo_siret_75.csv.gz" not in every
    assert len(every) == 100 + 20  # 101 départements, Paris as 20 files
    assert {f"geo_siret_{d}.csv.gz" for d in ("971", "972", "973", "974", "976")} <= set(every)


def test_sirene_paris_files_make_one_departement(server, tmp_path, monkeypatch):
    codes = [f"751{i:02d}" for i in range(1, 21)]
    for code in codes:
        server.files[f"geo_siret_{code}.csv.gz"] = arrondissement_file(code)
    monkeypatch.setattr(sirene_vtc, "BASE", server.url)
    parsed, info = fetch(registry.sources()["sirene_vtc"],
                         live_ctx(tmp_path, vtc_source="sirene", sirene_departements="75"))
    rows = sample_rows()
    per_file = sum(1 for r in rows if r["etatAdministratifEtablissement"] == "A"
                   and r["activitePrincipaleEtablissement"] == "49.32Z")
    assert per_file == 2
    assert dict(parsed.frame.iter_rows()) == {code: per_file for code in codes}
    assert parsed.rows_read == 20 * len(rows)
    month = max(r["dateDernierTraitementEtablissement"] for r in rows)[:7]
    assert parsed.tables["couverture"].rows() == [("75", month)]  # the mart knows Paris by its département
    assert sorted(info.files) == [f"dep_{c}" for c in codes]

    # an arrondissement missing: Paris would look complete with part of its establishments
    files = {f"dep_{c}": tmp_path / "raw" / "sirene_vtc" / f"geo_siret_{c}.csv.gz" for c in codes[:-1]}
    with pytest.raises(SourceError, match="75120"):
        registry.sources()["sirene_vtc"].parse(files, live_ctx(tmp_path))


# -- Inside Airbnb: the archived list, then the HTML links ----------------------------------------
def sample_json(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


def french_snapshots(datasets: list[dict]) -> set[str]:
    """Region/city/date of the French entries whose visualisations are published (read by hand)."""
    out = set()
    for d in datasets:
        parts = d["dataRoot"].split("/")  # https: '' data.insideairbnb.com france region city ''
        if parts[3] == "france" and d.get("visualisationPublishStatus", True):
            out.add(f"{parts[4]}/{parts[5]}/{d['publishDate']}")
    return out


def test_archived_list_in_the_real_shape():
    page = sample_json("insideairbnb-page-data.json")
    hashes = insideairbnb.static_query_hashes(page)
    assert hashes == page["staticQueryHashes"]
    assert insideairbnb.archived_datasets(sample_json(f"insideairbnb-sq-{hashes[0]}.json")) is None
    datasets = insideairbnb.archived_datasets(sample_json(f"insideairbnb-sq-{hashes[1]}.json"))
    found, skipped = insideairbnb.discover_archive(datasets)
    assert {s.key for s in found} == french_snapshots(datasets)
    assert len(found) == 4 and skipped == 1  # Amsterdam is not French; one city without visualisations
    bordeaux = insideairbnb.Snapshot("nouvelle-aquitaine", "bordeaux", "2021-12-11")
    assert found[bordeaux] == "https://data.insideairbnb.com/france/nouvelle-aquitaine/bordeaux/2021-12-11/"


def test_a_changed_archived_list_fails_naming_the_field():
    datasets = insideairbnb.archived_datasets(sample_json("insideairbnb-sq-3176684073.json"))
    renamed = [{("publish_date" if k == "publishDate" else k): v for k, v in d.items()} for d in datasets]
    with pytest.raises(SourceError, match="publishDate"):
        insideairbnb.discover_archive(renamed)
    with pytest.raises(SourceError, match="staticQueryHashes"):
        insideairbnb.static_query_hashes({"componentChunkName": "x", "path": "/get-the-data/"})


#: The live HTML lists the latest snapshot of each city only (the archived ones need the toggle).
LATEST_ONLY_PAGE = """<!DOCTYPE html><html><body>
<h3>Bordeaux, Nouvelle-Aquitaine, France</h3><table><tbody>
<tr><td>23 March, 2024</td><td>Bordeaux</td>
<td><a href="{host}/france/nouvelle-aquitaine/bordeaux/2024-03-23/visualisations/listings.csv">listings.csv</a></td></tr>
</tbody></table>
<h3>Lyon, Auvergne-Rhone-Alpes, France</h3><table><tbody>
<tr><td>23 March, 2024</td><td>Lyon</td>
<td><a href="{host}/france/auvergne-rhone-alpes/lyon/2024-03-23/visualisations/listings.csv">listings.csv</a></td></tr>
</tbody></table></body></html>
"""
#: Live folder -> the mirror's folder holding that snapshot's real file.
MIRROR_OF = {"nouvelle-aquitaine/bordeaux/2024-03-23": "nouvelle-aquitaine/bordeaux/2024-03",
             "nouvelle-aquitaine/bordeaux/2021-12-11": "nouvelle-aquitaine/bordeaux/2021-12",
             "auvergne-rhone-alpes/lyon/2024-03-23": "auvergne-rhone-alpes/lyon/2024-03",
             "auvergne-rhone-alpes/lyon/2021-12-11": "auvergne-rhone-alpes/lyon/2021-12"}


def serve_inside_airbnb(server: LiveServer, mirror: Path) -> None:
    """insideairbnb.com and data.insideairbnb.com on one local server, in the live shapes."""
    for name in ("insideairbnb-page-data.json", "insideairbnb-sq-2910112849.json", "insideairbnb-sq-3176684073.json"):
        text = (SAMPLES / name).read_text(encoding="utf-8").replace("https://data.insideairbnb.com", server.url)
        path = ("page-data/get-the-data/page-data.json" if name.endswith("page-data.json")
                else f"page-data/sq/d/{name.removeprefix('insideairbnb-sq-')}")
        server.files[path] = text.encode()
    server.files["get-the-data/"] = LATEST_ONLY_PAGE.format(host=server.url).encode()
    for live, folder in MIRROR_OF.items():
        server.files[f"france/{live}/visualisations/listings.csv"] = (
            mirror / "insideairbnb" / "france" / folder / "visualisations" / "listings.csv").read_bytes()


def listings_in(mirror: Path, folder: str) -> int:
    with open(mirror / "insideairbnb" / "france" / folder / "visualisations" / "listings.csv", encoding="utf-8",
              newline="") as fh:
        return sum(1 for _ in csv.DictReader(fh))


@pytest.fixture
def airbnb_site(server, mirror, monkeypatch):
    serve_inside_airbnb(server, mirror)
    monkeypatch.setattr(registry.sources()["insideairbnb"], "page_url", f"{server.url}/get-the-data/")
    return server


def test_live_run_reads_every_archived_snapshot(airbnb_site, tmp_path, mirror, monkeypatch):
    src = registry.sources()["insideairbnb"]
    # a run with this source alone (no mart): the report and the manifest say how the snapshots were found
    monkeypatch.setattr("etl.runner.registry.marts", lambda: {})
    monkeypatch.setattr("etl.runner.registry.all_indicators", lambda: [])
    report = run(["insideairbnb"], out_dir=tmp_path / "data", progress=False, download_kwargs=NO_RETRY)
    assert [s.status for s in report.sources] == ["ok"], report.errors()
    assert "liste archivée du site (page-data) : 4" in report.sources[0].note
    manifest = json.loads((tmp_path / "data" / "manifest.json").read_text(encoding="utf-8"))["sources"]["insideairbnb"]
    assert manifest["decouverte"]["methode"] == "page-data"
    assert manifest["decouverte"]["instantanes"] == 4
    assert any("page-data" in n for n in manifest["notes"])
    assert sorted(manifest["fichiers"]) == sorted(MIRROR_OF)
    assert manifest["lignes_lues"] == sum(listings_in(mirror, f) for f in MIRROR_OF.values())
    parsed, _ = fetch(src, live_ctx(tmp_path))
    assert sorted(parsed.frame["instantane"].unique()) == ["2021-12", "2024-03"]  # the evolution survives


def test_unreadable_archived_list_falls_back_to_the_html_links(airbnb_site, tmp_path, mirror):
    airbnb_site.status["page-data/get-the-data/page-data.json"] = 404
    ctx = live_ctx(tmp_path)
    parsed, info = fetch(registry.sources()["insideairbnb"], ctx)
    assert info.discovery["methode"] == "page HTML"
    assert "HTTP 404" in info.discovery["repli_car"] and info.discovery["repli_cause"] == "injoignable"
    assert "derniers instantanés seulement" in parsed.notes[0]
    assert sorted(parsed.tables["instantanes"]["dossier"]) == ["auvergne-rhone-alpes/lyon/2024-03-23",
                                                               "nouvelle-aquitaine/bordeaux/2024-03-23"]
    assert parsed.frame.height == (listings_in(mirror, "nouvelle-aquitaine/bordeaux/2024-03")
                                   + listings_in(mirror, "auvergne-rhone-alpes/lyon/2024-03"))

    # a list whose shape changed: the fallback says which field is gone
    airbnb_site.status.clear()
    sq = sample_json("insideairbnb-sq-3176684073.json")
    for d in sq["data"]["allData"]["datasets"]:
        d.pop("dataRoot")
    airbnb_site.files["page-data/sq/d/3176684073.json"] = json.dumps(sq).encode()
    _, info = fetch(registry.sources()["insideairbnb"], live_ctx(tmp_path))
    assert info.discovery["methode"] == "page HTML" and "dataRoot" in info.discovery["repli_car"]
    assert info.discovery["repli_cause"] == "format changé"


# -- BNLC: the consolidated national base --------------------------------------------------------
def consolidated_from_mirror(mirror: Path) -> bytes:
    """The mirror's manually kept part in the consolidated file's shape (as the sample shows it)."""
    with open(mirror / "bnlc" / "bnlc-.csv", encoding="utf-8", newline="") as fh:
        src = list(csv.reader(fh))
    with open(SAMPLES / "bnlc.csv", encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    for row in src[1:]:
        d = dict(zip(src[0], row, strict=True))
        w.writerow([d.get(h, "") for h in header[:-2]] + ["bnlc_github", "bnlc_github"])
    return buf.getvalue().encode()


def test_consolidated_sample_parses_with_its_added_columns(tmp_path):
    with open(SAMPLES / "bnlc.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[-2:] == ["dataset_id", "resource_id"] and list(rows[0])[0] == "id_lieu"
    parsed = registry.sources()["bnlc"].parse({"main": SAMPLES / "bnlc.csv"}, live_ctx(tmp_path))
    df = parsed.frame
    assert parsed.rows_read == len(rows) and df.height == len(rows)
    assert sorted(df["id_lieu"]) == sorted(r["id_lieu"] for r in rows)
    first = rows[1]
    got = df.filter(pl.col("id_lieu") == first["id_lieu"]).row(0, named=True)
    assert got["places"] == int(first["nbre_pl"]) and got["longitude"] == float(first["Xlong"])
    assert not any(c in df.columns for c in ("dataset_id", "resource_id"))
    assert not df["source_donnee"].str.contains("\r").any()  # CRLF line endings


def test_bnlc_reads_the_consolidated_base_with_a_fallback(server, tmp_path, mirror, monkeypatch):
    src = registry.sources()["bnlc"]
    assert src.resources_[0].url == "https://transport.data.gouv.fr/resources/81372/download"
    assert src.resources_[0].fallbacks == ("https://www.data.gouv.fr/fr/datasets/r/4fd78dee-e122-4c0d-8bf6-ff55d79f3af1",)
    server.files["datasets/r/bnlc"] = consolidated_from_mirror(mirror)
    monkeypatch.setattr(type(src), "resources_", (Resource("main", f"{server.url}/resources/81372/download",
                                                           "bnlc/bnlc-.csv", filename="bnlc.csv",
                                                           fallbacks=(f"{server.url}/datasets/r/bnlc",)),))
    parsed, info = fetch(src, live_ctx(tmp_path))
    assert info.files["main"]["url"] == f"{server.url}/datasets/r/bnlc"  # the address that answered
    from_mirror = src.parse({"main": mirror / "bnlc" / "bnlc-.csv"}, FetchContext(mirror=mirror, raw_dir=tmp_path))
    assert parsed.frame.drop("source_donnee").equals(from_mirror.frame.drop("source_donnee"))
    assert parsed.rows_read == from_mirror.rows_read == 2_473
    # both addresses down: the error names both
    server.status["datasets/r/bnlc"] = 503
    with pytest.raises(SourceError, match=r"81372/download.*HTTP 404.*datasets/r/bnlc.*HTTP 503"):
        fetch(src, live_ctx(tmp_path / "second"))


# -- addresses ------------------------------------------------------------------------------------
def test_public_copies_on_github_use_head_and_say_why():
    for name, src in registry.sources().items():
        for r in src.resources_:
            for url in (r.url, *r.fallbacks):
                if "raw.githubusercontent.com" in url:
                    assert "/HEAD/" in url, (name, url)
                    assert src.provenance, name  # the dictionary says which address and why
    assert all(src.provenance for src in registry.sources().values() if not src.archive)


def test_contours_per_year_on_the_publishers_storage_with_its_historical_host_as_fallback():
    for r in registry.sources()["contours"].resources_:
        assert r.url == f"https://contours-administratifs.s3.rbx.io.cloud.ovh.net/{contours.YEAR}/geojson/{r.key}-100m.geojson.gz"
        assert r.fallbacks == (
            f"https://etalab-datasets.geo.data.gouv.fr/contours-administratifs/{contours.YEAR}/geojson/{r.key}-100m.geojson.gz",)
    assert "latest" not in contours.BASE


# -- BPE: the vintage comes from the file ---------------------------------------------------------
def bpe_zip(path: Path, *members: str) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for m in members:
            zf.write(SAMPLES / m, m)
    return path


def test_bpe_vintage_is_read_from_time_period(tmp_path):
    path = bpe_zip(tmp_path / "DS_BPE_CSV_FR.zip", "DS_BPE_2025_metadata.csv", "DS_BPE_2025_data.csv")
    parsed = registry.sources()["bpe"].parse({"main": path}, live_ctx(tmp_path))
    with open(SAMPLES / "DS_BPE_2025_data.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    kept = [r for r in rows if r["FACILITY_TYPE"] == "E101" and r["GEO_OBJECT"] in ("COM", "ARM")]
    assert parsed.frame.height == len(kept)
    assert set(parsed.frame["periode"]) == {r["TIME_PERIOD"] for r in kept} == {"2025"}
    assert parsed.vintage == "BPE 2025 (équipements au 1er janvier 2025)"
    paris = next(int(r["OBS_VALUE"]) for r in kept if r["GEO"] == "75056")
    assert parsed.frame.filter(pl.col("code") == "75056")["equipements"].item() == paris
    assert bpe.vintage_of(["2024", "2025"]) == "BPE 2025 (équipements au 1er janvier 2025), et 2024"
