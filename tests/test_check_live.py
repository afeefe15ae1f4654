"""`python -m etl check-live` against local servers: the real shapes, changed shapes, a dead port.

Every source is pointed at a local HTTP server on 127.0.0.1 that serves the mirror's real files
(and the samples of `tests/samples/live/` where the mirror has no copy) under its live paths.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile

import pytest

from etl import download, registry
from etl.__main__ import main
from etl.check_live import (
    CHANGED,
    NOT_APPLICABLE,
    OK,
    UNCHANGED,
    UNREACHABLE,
    CheckSession,
    check,
    read_state,
)
from etl.formats import HEAD_BYTES
from etl.sources import rpc, sirene_vtc
from tests.live_server import LiveServer, dead_port
from tests.test_live_sources import SAMPLES, arrondissement_file, serve_inside_airbnb

STATIC = ["communes", "arrondissements", "epci", "departements", "regions", "contours", "insee_logement",
          "cog_passage", "bnlc", "incitations_covoiturage", "mobilites_durables", "tiers_lieux_anct", "bpe"]
BPE_PATH = "vtc/DS_BPE_CSV_FR.zip"
RPC_MONTH = "rpc/rpc-format-sample-2025-02.csv"


def bpe_zip(*members: tuple[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def point_at(base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every live address of every source on `base`, at its mirror path."""
    for name in STATIC:
        src = registry.sources()[name]
        moved = tuple(type(r)(r.key, f"{base}/{r.mirror}", r.mirror, r.filename) for r in src.resources_)
        monkeypatch.setattr(type(src), "resources_", moved)
    monkeypatch.setattr(registry.sources()["insideairbnb"], "page_url", f"{base}/get-the-data/")
    monkeypatch.setattr(rpc, "API_URL", f"{base}/api/1/datasets/rpc/")
    monkeypatch.setattr(sirene_vtc, "BASE", base)


@pytest.fixture
def live(mirror, monkeypatch):
    """A local copy of every publisher's server, in the shapes they serve."""
    server = LiveServer(mirror)
    serve_inside_airbnb(server, mirror)
    server.files[BPE_PATH] = bpe_zip(  # metadata first: the data member is found through the central directory
        ("DS_BPE_2025_metadata.csv", sample("DS_BPE_2025_metadata.csv")),
        ("DS_BPE_2025_data.csv", sample("DS_BPE_2025_data.csv") * 1),
    )
    server.files["api/1/datasets/rpc/"] = json.dumps({"resources": [
        {"title": "2025-02.csv", "url": f"{server.url}/{RPC_MONTH}"},
        {"title": "trajets_2020vf.csv", "url": f"{server.url}/old.csv"},
    ]}).encode()
    point_at(server.url, monkeypatch)
    yield server
    server.close()


def statuses(results) -> dict[str, str]:
    return {r.name: r.status for r in results}


def test_every_source_is_ok_in_the_real_shapes(live, tmp_path, mirror):
    results = check(None, out_dir=tmp_path)
    got = statuses(results)
    assert got.pop("bpe_historique") == NOT_APPLICABLE
    assert got == {name: OK for name in got}, [r.line() for r in results if r.status != OK]
    assert set(got) == set(registry.sources()) - {"bpe_historique", "sirene_vtc"}  # Sirene only when chosen
    # only the heads were asked for: every file request is a Range request of the first 64 KB,
    # even for the 6 MB communes list and the 7 MB contours
    big = ["geo-api-gouv/communes.json", "contours-administratifs/communes-simplifie.geojson.gz"]
    for path in big:
        assert (mirror / path).stat().st_size > 50 * HEAD_BYTES
        assert live.requested(path) == [f"bytes=0-{HEAD_BYTES - 1}"]
    # the zip: its head, its central directory at the end, the data member's head (not 2 MB of metadata)
    assert len(live.requested(BPE_PATH)) <= 3
    by_name = {r.name: r for r in results}
    assert "nouvelle(s) colonne(s)" not in by_name["bpe"].detail  # the 2025 columns are known
    assert "page-data" in by_name["insideairbnb"].detail and by_name["insideairbnb"].detail.startswith("4 fichiers")
    assert [f.url for f in by_name["rpc"].files] == [f"{live.url}/{RPC_MONTH}"]  # 2019-2020 files skipped
    # recorded for `python -m etl list`
    state = read_state(tmp_path)
    assert state["insideairbnb"]["etat"] == OK and len(state["insideairbnb"]["urls"]) == 4
    assert state["insideairbnb"]["decouverte"]["methode"] == "page-data"


def drop_column(data: bytes, column: str, sep: str = ",") -> bytes:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8")), delimiter=sep))
    i = rows[0].index(column)
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator="\n").writerows([r[:i] + r[i + 1:] for r in rows])
    return buf.getvalue().encode()


def test_changed_shapes_are_named(live, tmp_path, mirror):
    # a CSV without a column the parser needs
    live.files["bnlc/bnlc-.csv"] = drop_column((mirror / "bnlc/bnlc-.csv").read_bytes(), "Xlong")
    # a JSON answer without a field (the arrondissements' parent)
    arr = json.loads((mirror / "geo-api-gouv/arrondissements-municipaux.json").read_text(encoding="utf-8"))
    live.files["geo-api-gouv/arrondissements-municipaux.json"] = json.dumps(
        [{k: v for k, v in a.items() if k != "codeParent"} for a in arr]).encode()
    # a gzipped GeoJSON whose communes lost their département
    communes = "contours-administratifs/communes-simplifie.geojson.gz"
    text = gzip.decompress((mirror / communes).read_bytes()).decode("utf-8").replace('"departement":', '"dep":')
    live.files[communes] = gzip.compress(text.encode())
    # a zip whose data member lost TIME_PERIOD
    live.files[BPE_PATH] = bpe_zip(("DS_BPE_2025_metadata.csv", sample("DS_BPE_2025_metadata.csv")),
                                   ("DS_BPE_2025_data.csv", drop_column(sample("DS_BPE_2025_data.csv"),
                                                                        '"TIME_PERIOD"'.strip('"'), ";")))
    # a positional layout with one more column: the registry's parser cannot read it
    header, rest = (mirror / RPC_MONTH).read_text(encoding="utf-8").split("\n", 1)
    live.files[RPC_MONTH] = f'{header};"journey_co2"\n{rest}'.encode()
    # a new column in a file read by name: still ok, and said
    tl = "tiers-lieux/CGET_TiersLieux_2019.csv"
    head, body = (mirror / tl).read_text(encoding="utf-8").split("\n", 1)
    live.files[tl] = (head + ",SIRET\n" + body).encode()

    results = {r.name: r for r in check(None, out_dir=tmp_path)}
    expected = {"bnlc": "colonne(s) manquante(s) : Xlong",
                "arrondissements": "champ(s) manquant(s) : codeParent",
                "contours": "propriété(s) manquante(s) : departement",
                "bpe": "colonne(s) manquante(s) : TIME_PERIOD",
                "rpc": "nouvelle(s) colonne(s) : journey_co2"}
    for name, detail in expected.items():
        assert results[name].status == CHANGED, results[name].line()
        assert detail in results[name].detail, results[name].line()
    assert "nouvelle(s) propriété(s) : dep" in results["contours"].detail
    assert results["tiers_lieux_anct"].status == OK
    assert results["tiers_lieux_anct"].detail == "nouvelle(s) colonne(s) : SIRET (ignorée(s) à la lecture)"
    assert results["communes"].status == OK and results["regions"].status == OK


def test_unchanged_since_the_last_download(live, tmp_path):
    # the last live run downloaded these files (with their ETag and Last-Modified)
    for name in ("regions", "insee_logement"):
        r = registry.sources()[name].resources_[0]
        download.stage(r.url, tmp_path / "raw" / name / r.local_name, label=name, progress=False).commit()
    results = {r.name: r for r in check(["regions", "insee_logement", "departements"], out_dir=tmp_path)}
    assert results["regions"].status == UNCHANGED
    assert results["regions"].line().endswith("inchangé depuis le 10 mars 2026")  # the server's Last-Modified
    assert results["departements"].status == OK  # never downloaded: its format is checked
    # a new version online: its format is checked again
    live.files["insee-logement/base-cc-logement-2021-extrait.csv"] = b"CODGEO;P21_LOG\n01001;372\n"
    again = {r.name: r for r in check(["insee_logement"], out_dir=tmp_path)}
    assert again["insee_logement"].status == CHANGED
    assert "P21_RP, P21_RSECOCC, P21_LOGVAC" in again["insee_logement"].detail


def test_sirene_when_chosen_checks_every_paris_file(live, tmp_path):
    for i in range(1, 21):
        live.files[f"geo_siret_751{i:02d}.csv.gz"] = arrondissement_file(f"751{i:02d}")
    results = check(["sirene_vtc"], out_dir=tmp_path, options={"vtc_source": "sirene", "sirene_departements": "75"})
    assert statuses(results) == {"sirene_vtc": OK}
    assert results[0].detail.startswith("20 fichiers")
    del live.files["geo_siret_75113.csv.gz"]
    missing = check(["sirene_vtc"], out_dir=tmp_path, options={"vtc_source": "sirene", "sirene_departements": "75"})
    assert missing[0].status == UNREACHABLE and "1 fichier(s) sur 20 : HTTP 404" in missing[0].detail
    assert "geo_siret_75113" in missing[0].detail


def test_a_dead_port_makes_every_source_unreachable_without_a_traceback(tmp_path, monkeypatch, capsys):
    point_at(f"http://127.0.0.1:{dead_port()}", monkeypatch)
    code = main(["check-live", "--out", str(tmp_path)])
    out = capsys.readouterr()
    assert code == 1 and "Traceback" not in out.out + out.err
    lines = out.out.strip().splitlines()
    names = [n for n in registry.sources() if n != "sirene_vtc"]
    assert [line.split()[0] for line in lines[:-1]] == names
    for line in lines[:-1]:
        if not line.startswith("bpe_historique"):
            assert " injoignable : " in line and ("connexion refusée" in line or "erreur de connexion" in line), line
    assert "injoignable(s)" in lines[-1]
    # `list` then shows when each was checked, and how it went
    main(["list", "--out", str(tmp_path)])
    listed = capsys.readouterr().out
    assert "(check-live : injoignable" in listed


def test_the_check_is_bounded(live, tmp_path):
    # past the total deadline, nothing more is asked: every source answers at once
    late = check(None, out_dir=tmp_path, session=CheckSession(deadline=0.0))
    assert {r.status for r in late if r.status != NOT_APPLICABLE} == {UNREACHABLE}
    assert all("délai" in r.detail for r in late if r.status == UNREACHABLE)
    assert live.hits == []
    # a host that dropped a connection is not asked again: one request for all the sources
    for name in STATIC:
        for r in registry.sources()[name].resources_:
            live.drop.add(r.mirror)
    live.drop.update({"page-data/get-the-data/page-data.json", "get-the-data/", "api/1/datasets/rpc/"})
    results = check(None, out_dir=tmp_path)
    assert {r.status for r in results if r.status != NOT_APPLICABLE} == {UNREACHABLE}
    assert len(live.hits) == 1


def test_a_zip_on_a_server_without_ranges(mirror, tmp_path, monkeypatch):
    server = LiveServer(ranges=False)
    try:
        point_at(server.url, monkeypatch)
        metadata_first = bpe_zip(("DS_BPE_2025_metadata.csv", sample("DS_BPE_2025_metadata.csv")),
                                 ("DS_BPE_2025_data.csv", sample("DS_BPE_2025_data.csv")))
        server.files[BPE_PATH] = metadata_first
        [result] = check(["bpe"], out_dir=tmp_path)
        assert result.status == UNREACHABLE and "Range" in result.detail
        server.files[BPE_PATH] = bpe_zip(("DS_BPE_2025_data.csv", sample("DS_BPE_2025_data.csv")),
                                         ("DS_BPE_2025_metadata.csv", sample("DS_BPE_2025_metadata.csv")))
        [result] = check(["bpe"], out_dir=tmp_path)
        assert result.status == OK, result.line()
    finally:
        server.close()


def test_unknown_source_or_option_is_named(tmp_path, capsys):
    assert main(["check-live", "cadastre_lunaire", "--out", str(tmp_path)]) == 2
    assert "cadastre_lunaire" in capsys.readouterr().err
    assert main(["check-live", "sirene_vtc", "--sirene-departements", "20", "--out", str(tmp_path)]) == 2
    assert "département(s) inconnu(s) : 20" in capsys.readouterr().err


def test_list_shows_the_files_found_and_when_the_format_was_checked(live, tmp_path, capsys):
    check(["insideairbnb", "bnlc"], out_dir=tmp_path)
    assert main(["list", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    block = out.split("\ninsideairbnb\n", 1)[1].split("\nmobilites_durables\n", 1)[0]
    assert "fichiers  : 4 trouvé(s) le" in block and "(check-live, page-data)" in block
    assert f"{live.url}/france/nouvelle-aquitaine/bordeaux/2021-12-11/visualisations/listings.csv" in block
    assert "(check-live : ok" in block
    bnlc_block = f"\n{out}".split("\nbnlc\n", 1)[1].split("\nbpe\n", 1)[0]
    assert "(check-live : ok)" in bnlc_block
    assert "jamais vérifié en ligne" in out.split("\nregions\n", 1)[1]
